"""The existing provider's read-only dump: what it covers and that it stops at its size bound."""
from types import SimpleNamespace as NS

from fixtures import cluster_dump


def _pod(name, ns, ready):
    cond = [NS(type="Ready", status="True" if ready else "False", reason=None)]
    return NS(metadata=NS(name=name, namespace=ns), spec=NS(node_name="n1", containers=[NS(name="c")], init_containers=None),
              status=NS(phase="Running", reason=None, conditions=cond, container_statuses=[], init_container_statuses=None))


class FakeCore:
    def __init__(self, pods, log="x" * 1000):
        self.pods, self.log = pods, log

    def list_node(self):
        node = NS(metadata=NS(name="n1"), spec=NS(taints=None),
                  status=NS(node_info=NS(kubelet_version="v1.37.2"), conditions=[NS(type="Ready", status="True", reason="KubeletReady", message="ok")]))
        return NS(items=[node])

    def list_pod_for_all_namespaces(self):
        return NS(items=self.pods)

    def list_namespaced_pod(self, ns):
        return NS(items=[p for p in self.pods if p.metadata.namespace == ns])

    def list_namespaced_event(self, ns):
        return NS(items=[])

    def read_namespaced_pod_log(self, name, ns, **kw):
        return self.log


def test_the_dump_covers_kube_system_and_namespaces_with_unready_pods_only(tmp_path):
    core = FakeCore([_pod("dns", "kube-system", True), _pod("web", "shop", False), _pod("ok", "calm", True)])
    assert cluster_dump.namespaces_to_dump(core) == ["kube-system", "shop"]
    out = cluster_dump.dump(core, tmp_path / "d")
    names = sorted(p.name for p in out.iterdir())
    assert "nodes.yaml" in names and "v1.37.2" in (out / "nodes.yaml").read_text()
    assert any(n.startswith("shop--log_web") for n in names) and not any(n.startswith("calm") for n in names)


def test_the_dump_stops_at_its_size_bound_and_says_so(tmp_path):
    core = FakeCore([_pod(f"p{i}", "kube-system", True) for i in range(50)])
    out = cluster_dump.dump(core, tmp_path / "d", max_bytes=5000)
    assert sum(p.stat().st_size for p in out.iterdir() if p.name != "TRUNCATED") <= 5000
    assert "stopped at 5000 bytes" in (out / "TRUNCATED").read_text()
