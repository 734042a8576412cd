"""DaemonSets follow the node list: one pod per eligible node, a pod for a node that joins, none
left for a node that is deleted; a NotReady node gets a daemon pod only if the DaemonSet itself
tolerates node.kubernetes.io/not-ready:NoSchedule (as CNI DaemonSets do).

Source: seed 002 「DaemonSet」 (每个节点一个Pod, 节点没有准备好) (002_620e0a9d2c440bc2.txt);
kubernetes.io/docs/concepts/workloads/controllers/daemonset/#taints-and-tolerations.
Nodes that join or leave are Node objects without a kubelet (fixtures.nodes.fake_node): the
DaemonSet controller and the scheduler see them as any node. They change the node list: serial.
"""
import pytest

from fixtures.nodes import fake_node, workers
from fixtures.polling import consistently, eventually
from fixtures.pods import views
from fixtures.reporting import step
from fixtures.workloads import wait_rollout

pytestmark = [pytest.mark.area("controllers"), pytest.mark.serial, pytest.mark.requires(images=["agnhost"])]

DS = "controllers/daemonset/ds.yaml"
FAKE_TAINT = "kubeproof.io/fake-node"
TOLERATE_FAKE = f"[{{key: {FAKE_TAINT}, operator: Exists}}]"
TOLERATE_ALL = "[{operator: Exists}]"
BASE = dict(update_strategy="{type: RollingUpdate}", version="a", node_selector="{}")
READY = [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "fake"}]
NOT_READY = [{"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": "fake"}]
# pods: "0" keeps the daemon pod unbound (the scheduler finds no room), so it is the controller's to remove
NO_ROOM = {"cpu": "1", "memory": "1Gi", "pods": "0"}


NOT_READY_TAINT = ("node.kubernetes.io/not-ready", "NoSchedule")


def _taints(cluster, node: str) -> set[tuple[str, str]]:
    return {(t.key, t.effect) for t in cluster.core.read_node(node).spec.taints or []}


def pods_by_target(cluster, ns, app: str) -> dict[str, list[str]]:
    """Target node (from the pod's required node affinity) -> live pod names."""
    out: dict[str, list[str]] = {}
    for p in cluster.core.list_namespaced_pod(ns.name, label_selector=f"app={app}").items:
        if p.metadata.deletion_timestamp:
            continue
        terms = p.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms
        target = next(v for t in terms for f in t.match_fields or [] for v in f.values)
        out.setdefault(target, []).append(p.metadata.name)
    return out


@pytest.mark.claim("S002-154")
def test_a_daemon_pod_appears_for_a_node_that_joins_and_goes_with_a_node_that_is_deleted(ns, cluster, timeouts):
    """Exactly one pod per eligible node; a new Node gets its pod within seconds; once the Node object
    is deleted, its pod is removed."""
    name = f"kp-join-{ns.name[-4:]}"
    with step("Given a DaemonSet tolerating the fake nodes' taint, one ready pod per worker"):
        ns.apply(DS, name="ds", **{**BASE, "tolerations": TOLERATE_FAKE})
        wait_rollout(cluster, ns.name, "ds", timeouts, kind="DaemonSet")
        assert {n: len(ps) for n, ps in pods_by_target(cluster, ns, "ds").items()} == {w: 1 for w in workers(cluster)}
    with step(f"When node {name} joins"), fake_node(cluster, name, labels={}, conditions=READY, allocatable=NO_ROOM,
                                                     taints=[{"key": FAKE_TAINT, "effect": "NoSchedule"}]):
        with step(f"Then one daemon pod is created for {name}"):
            eventually(lambda: pods_by_target(cluster, ns, "ds").get(name, []), until=lambda ps: len(ps) == 1,
                       timeout=timeouts.controller_sync, desc=f"a pod for {name}")
    with step(f"When {name} is deleted, then its pod is removed and every worker keeps exactly one"):
        eventually(lambda: {n: len(ps) for n, ps in pods_by_target(cluster, ns, "ds").items()},
                   until=lambda m: m == {w: 1 for w in workers(cluster)}, timeout=timeouts.controller_sync,
                   desc=f"no pod for {name}")


@pytest.mark.claim("S002-153")
def test_a_not_ready_node_gets_a_daemon_pod_only_from_a_daemonset_tolerating_not_ready_no_schedule(ns, cluster, timeouts):
    """The automatic tolerations do not include not-ready:NoSchedule: a DaemonSet that only tolerates
    the node's own taint gets no pod on a NotReady node, while one tolerating everything (like a CNI
    DaemonSet) does."""
    name = f"kp-nr-{ns.name[-4:]}"
    with step(f"Given node {name}, NotReady, tainted node.kubernetes.io/not-ready:NoSchedule"), fake_node(
            cluster, name, labels={}, conditions=NOT_READY, allocatable=NO_ROOM,
            taints=[{"key": FAKE_TAINT, "effect": "NoSchedule"}, {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]):
        # the node lifecycle controller reconciles condition taints on its own schedule: wait until it has settled
        consistently(lambda: eventually(lambda: _taints(cluster, name), until=lambda t: NOT_READY_TAINT in t,
                                        timeout=timeouts.controller_sync, desc="not-ready:NoSchedule on the node"),
                     holds=lambda t: NOT_READY_TAINT in t, duration=timeouts.short_hold, desc="not-ready:NoSchedule stays")
        with step("When DaemonSet 'plain' (tolerates only the fake taint) and 'cni-like' (tolerates everything) are created"):
            ns.apply(DS, name="plain", **{**BASE, "tolerations": TOLERATE_FAKE})
            ns.apply(DS, name="cni-like", **{**BASE, "tolerations": TOLERATE_ALL})
        with step(f"Then 'cni-like' gets a pod for {name}"):
            eventually(lambda: pods_by_target(cluster, ns, "cni-like").get(name, []), until=lambda ps: len(ps) == 1,
                       timeout=timeouts.controller_sync, desc=f"a cni-like pod for {name}")
        with step(f"And 'plain' has its pods on the workers, none for {name}"):
            wait_rollout(cluster, ns.name, "plain", timeouts, kind="DaemonSet")
            assert sorted(pods_by_target(cluster, ns, "plain")) == workers(cluster)
    eventually(lambda: views(cluster, ns.name, "app=cni-like"), until=lambda ps: all(p.node != name for p in ps),
               timeout=timeouts.controller_sync, desc="no pod left for the deleted node")
