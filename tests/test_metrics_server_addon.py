"""Self-tests of the metrics-server add-on and the HPA probes without a cluster: bad input (image not built, not a
kind cluster, a metrics API that never becomes ready, a crashing server, no metrics API on an existing cluster), the
manifest's shape, removal in reverse order, and the HPA's replica rule and quantities."""
from __future__ import annotations

import time
from types import SimpleNamespace as NS

import pytest
from kubernetes.client.rest import ApiException

from fixtures import manifests
from fixtures.addons import metrics_server as addon
from fixtures.addons import node_images
from fixtures.addons.metrics_server import MetricsServerError
from fixtures.autoscaling import Status, millicores, replicas_for


def _node(name: str, runtime: str, internal_ip: str | None) -> NS:
    addresses = [NS(type="InternalIP", address=internal_ip)] if internal_ip else []
    return NS(metadata=NS(name=name), status=NS(node_info=NS(container_runtime_version=runtime), addresses=addresses))


def _kind_cluster(images_on_nodes: str = "") -> NS:
    # a simulated node (fixtures.nodes.fake_node) reports neither a runtime nor an InternalIP
    nodes = [_node("kp-worker", "containerd://1.7", "172.18.0.3"), _node("kp-control-plane", "containerd://1.7", "172.18.0.2"),
             _node("sim-1", "", None)]
    return NS(kind_name="kp", core=NS(list_node=lambda: NS(items=nodes)),
              node_exec=lambda node, *args: NS(stdout=images_on_nodes))


def test_only_nodes_with_a_container_runtime_are_real():
    assert node_images.real_nodes(_kind_cluster()) == ["kp-control-plane", "kp-worker"]


def test_an_image_not_built_on_this_host_names_the_build(monkeypatch):
    monkeypatch.setattr(node_images, "on_host", lambda ref: False)
    with pytest.raises(MetricsServerError, match=r"kubeproof/metrics-server:v0\.9\.0 is not on this host: .*\(make cluster-image\)"):
        node_images.load(_kind_cluster(), "kubeproof/metrics-server:v0.9.0", MetricsServerError)


def test_an_image_already_on_every_node_needs_no_host_copy(monkeypatch):
    monkeypatch.setattr(node_images, "on_host", lambda ref: pytest.fail("the host is not asked"))
    assert node_images.load(_kind_cluster("docker.io/kubeproof/metrics-server:v0.9.0\n"), "kubeproof/metrics-server:v0.9.0") == []


def test_an_offline_image_needs_a_kind_cluster():
    with pytest.raises(MetricsServerError, match="can only be loaded into a kind cluster"):
        node_images.load(NS(kind_name=None), "kubeproof/metrics-server:v0.9.0", MetricsServerError)


def test_a_metrics_api_that_never_serves_fails_in_bounded_time_naming_the_apiservice_condition(monkeypatch):
    state = {"apiservice": "Available=False (FailedDiscoveryCheck: failing or missing response from https://10.96.0.9:443)",
             "available": False, "nodes_answer": "503 service unavailable", "listed": [], "expected": ["kp-worker"]}
    monkeypatch.setattr(addon, "api_state", lambda cluster: state)
    monkeypatch.setattr(addon, "_pods", lambda cluster: ["metrics-server-1 Running ready=False restarts=0"])
    t0 = time.monotonic()
    with pytest.raises(MetricsServerError) as err:
        addon.wait_ready(NS(), timeout=0.5)
    assert time.monotonic() - t0 < 5
    message = str(err.value)
    assert "did not become ready within" in message and "Available=False (FailedDiscoveryCheck: failing" in message, message
    assert "answered 503 service unavailable listing [] of ['kp-worker']" in message and "metrics-server-1 Running" in message


def test_ready_means_available_and_every_real_node_listed():
    base = {"available": True, "listed": ["a", "b"], "expected": ["a", "b"]}
    assert addon.is_ready(base)
    assert not addon.is_ready({**base, "listed": ["a"]})
    assert not addon.is_ready({**base, "available": False})
    assert not addon.is_ready({**base, "listed": [], "expected": []})


def test_a_crashing_metrics_server_stops_the_wait_with_its_last_words():
    waiting = NS(state=NS(waiting=NS(reason="CrashLoopBackOff")), restart_count=2, ready=False)
    pod = NS(metadata=NS(name="metrics-server-1"), status=NS(container_statuses=[waiting], phase="Running"))
    last = ("      --vmodule pattern=N,...   comma-separated list\n\n"
            "panic: metric-resolution should be larger than kubelet-request-timeout\n\ngoroutine 1 [running]:\nmain.main()\n"
            "\tsigs.k8s.io/metrics-server@v0.9.0/cmd/metrics-server/metrics-server.go:37 +0x88\n")
    cluster = NS(core=NS(list_namespaced_pod=lambda ns, label_selector: NS(items=[pod]),
                         read_namespaced_pod_log=lambda name, ns, previous, tail_lines: last))
    with pytest.raises(addon.Abort, match=r"metrics-server crashes .*2 restarts\): panic: metric-resolution should be larger[^|]*$"):
        addon._ready_or_crashing(cluster)
    assert addon.last_words("a\nb\nc\nd\n") == "b | c | d"
    assert addon.last_words('E1205 02:31:00.1 1 run.go:72] "command failed" err="x"\nI1205 ok\n').startswith("E1205")


def test_an_existing_cluster_without_a_metrics_api_is_refused_with_the_fix(monkeypatch):
    monkeypatch.setattr(addon, "detect", lambda cluster: None)
    with pytest.raises(MetricsServerError, match="no APIService v1beta1.metrics.k8s.io: kubeproof installs metrics-server only on kind"):
        addon.setup(NS(), NS(provider="existing"), NS(addon_ready=1))


def test_the_manifest_runs_the_image_insecure_to_kubelets_only_and_registers_the_api_last():
    docs = manifests.render(addon.MANIFEST, image="kubeproof/metrics-server:v0.9.0", resolution=addon.RESOLUTION)
    assert docs[-1]["kind"] == "APIService" and docs[-1]["metadata"]["name"] == addon.APISERVICE
    container = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "kubeproof/metrics-server:v0.9.0" and container["imagePullPolicy"] == "Never"
    assert {"--kubelet-insecure-tls", "--kubelet-preferred-address-types=InternalIP", "--metric-resolution=15s"} <= set(container["args"])


def test_delete_undoes_apply_in_reverse_and_skips_what_is_gone():
    deleted = []

    def resource(kind):
        def delete(name, namespace):
            deleted.append((kind, name, namespace))
            if kind == "Service":
                raise ApiException(status=404)
        return NS(namespaced=kind != "ClusterRole", delete=delete)

    cluster = NS(dynamic=NS(resources=NS(get=lambda api_version, kind: resource(kind))))
    docs = [{"apiVersion": "v1", "kind": k, "metadata": {"name": n, **({"namespace": "kube-system"} if k != "ClusterRole" else {})}}
            for k, n in (("ClusterRole", "r"), ("Service", "s"), ("Deployment", "d"))]
    manifests.delete(cluster, docs)
    assert deleted == [("Deployment", "d", "kube-system"), ("Service", "s", "kube-system"), ("ClusterRole", "r", None)]


@pytest.mark.parametrize("current,utilisation,target,maximum,want", [
    (1, 125, 50, 3, 3),    # ceil(2.5)
    (1, 120, 50, 10, 3),   # ceil(2.4)
    (3, 125, 50, 3, 3),    # ceil(7.5) = 8, clamped to the maximum
    (1, 100, 94, 1 << 30, 1),  # 1.064: within the 10 % tolerance, unchanged
    (1, 104, 94, 1 << 30, 2),  # 1.106: beyond it, ceil
    (3, 0, 50, 3, 0),      # the raw recommendation: minReplicas applies after it
    (4, 36, 40, 10, 4),    # 0.9 exactly: within
])
def test_the_hpa_replica_rule(current, utilisation, target, maximum, want):
    assert replicas_for(current, utilisation, target, maximum) == want


@pytest.mark.parametrize("quantity,want", [("125m", 125), ("250000000n", 250), ("1", 1000), ("0", 0), ("1500u", 1), (None, None)])
def test_cpu_quantities_in_millicores(quantity, want):
    assert millicores(quantity) == want


def test_a_status_carries_the_cpu_utilisation_it_computed():
    cpu = NS(resource=NS(name="cpu", current=NS(average_utilization=125, average_value="125m")))
    cond = NS(type="ScalingActive", status="True", reason="ValidMetricFound", message="the HPA was able to compute")
    s = Status.of(NS(status=NS(current_replicas=1, desired_replicas=3, current_metrics=[cpu], conditions=[cond])), seen=1.5)
    assert (s.current, s.desired, s.utilisation, s.usage_m, s.reason("ScalingActive")) == (1, 3, 125, 125, "ValidMetricFound")
    empty = Status.of(NS(status=NS(current_replicas=None, desired_replicas=None, current_metrics=None, conditions=None)), seen=None)
    assert (empty.current, empty.utilisation, empty.reason("AbleToScale")) == (0, None, None)


def test_the_metrics_server_version_follows_upstreams_compatibility_matrix():
    """0.9.x serves Kubernetes 1.34+, 0.8.x 1.31+: a 1.33 cluster gets the pin below 1.34, built by the same rule."""
    import subprocess

    from fixtures.versions import ROOT, pins

    assert addon.pin_for("v1.33.13") == "METRICS_SERVER_VERSION_BELOW_1_34" and addon.pin_for("v1.34.4") == "METRICS_SERVER_VERSION"
    assert addon.pin_for("v1.37.2") == "METRICS_SERVER_VERSION"
    built = {v: subprocess.run(["bash", "-c", "source hack/lib/common.sh && echo $METRICS_SERVER_VERSION"], cwd=ROOT, text=True,
                               capture_output=True, env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "KUBERNETES_VERSION": v}).stdout.strip()
             for v in ("v1.33.13", "v1.34.4")}
    assert built == {"v1.33.13": pins()["METRICS_SERVER_VERSION_BELOW_1_34"], "v1.34.4": pins()["METRICS_SERVER_VERSION"]}, built
