"""Node conditions reach the scheduler as taints: MemoryPressure=True becomes
node.kubernetes.io/memory-pressure:NoSchedule (tolerated by DaemonSet pods), Ready=False becomes
node.kubernetes.io/not-ready:NoSchedule.

Seed 002 「调度策略」 (NodeMemoryPressurePredicate: 「检查当前节点的内存是否充足」) and seed 003
「调度失败」 (没有可用节点: NotReady nodes). The document's memory predicate is gone: since
TaintNodesByCondition (GA 1.17) the node lifecycle controller turns conditions into taints and the
scheduler only reads taints. A real node's conditions belong to its kubelet (it rewrites them within
10 s), so the conditions are set on a Node object with no kubelet behind it (as KWOK does); it carries
a NoSchedule taint of its own so nothing else lands there, and no kubernetes.io/os label so system
DaemonSets skip it. Adding a node is disruptive. Source: kubernetes.io/docs/concepts/scheduling-eviction/
taint-and-toleration/#taint-nodes-by-condition; pkg/controller/nodelifecycle (doNoScheduleTaintingPass).
"""
import pytest

from fixtures.nodes import fake_node, pristine_workers, tainted, taints
from fixtures.pods import is_bound, unschedulable_because, view, views, wait_pod
from fixtures.polling import consistently, eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.disruptive, pytest.mark.requires(images=["agnhost"])]

FAKE_KEY = "kubeproof.io/fake-node"
HOLD_KEY = "kubeproof.io/hold"  # tolerated by nobody: keeps pods off until the condition taint is in place
MEMORY_PRESSURE = "node.kubernetes.io/memory-pressure"
NOT_READY = "node.kubernetes.io/not-ready"
CAPACITY = {"cpu": "2", "memory": "4Gi", "pods": "10"}


def _condition(kind: str, status: str) -> dict:
    return {"type": kind, "status": status, "reason": "KubeproofFake", "message": "set by the test"}


def _set_condition(cluster, node: str, kind: str, status: str) -> None:
    cluster.core.patch_node_status(node, {"status": {"conditions": [_condition(kind, status)]}})


def _has_taint(key: str, effect: str):
    def check(ts) -> bool:
        return any(k == key and e == effect for k, _, e in ts)

    check.__name__ = f"taint {key}:{effect}"
    return check


def _wait_for_condition_taint(cluster, node: str, key: str, timeouts) -> None:
    with step(f"Then the node lifecycle controller taints it {key}:NoSchedule"):
        eventually(lambda: taints(cluster, node), until=_has_taint(key, "NoSchedule"),
                   timeout=timeouts.controller_sync, desc=f"{key} taint added")


@pytest.mark.claim("S002-038")
def test_memory_pressure_condition_becomes_a_no_schedule_taint_that_daemonset_pods_tolerate(ns, cluster, timeouts):
    """A node reporting MemoryPressure=True gets the taint memory-pressure:NoSchedule from the node
    lifecycle controller: a plain pod is refused for it, a DaemonSet pod (which the DaemonSet
    controller gives the matching toleration) is placed there; when the condition clears, the
    controller removes the taint and the plain pod is scheduled."""
    pristine_workers(cluster, settle=timeouts.controller_sync)
    node = f"kp-fake-{ns.name}"
    with fake_node(cluster, node, labels={}, taints=[{"key": FAKE_KEY, "effect": "NoSchedule"}],
                   conditions=[_condition("Ready", "True"), _condition("MemoryPressure", "True")], allocatable=CAPACITY):
        # the scheduler sees a node's updates in order: once it sees the hold lifted, it has seen the condition taint
        with tainted(cluster, [node], HOLD_KEY, None, "NoSchedule"):
            with step(f"Given node {node} (no kubelet) reporting Ready=True and MemoryPressure=True, held by a taint of the test's own"):
                pass
            _wait_for_condition_taint(cluster, node, MEMORY_PRESSURE, timeouts)
            with step("When a plain pod and a DaemonSet are aimed at the node, and the test's hold taint is lifted"):
                ns.apply("scheduling/taints/pod-for-fake-node.yaml", name="plain", node=node, fake_key=FAKE_KEY)
                ns.apply("scheduling/taints/daemonset-for-fake-node.yaml", name="agent", node=node, fake_key=FAKE_KEY)
                wait_pod(cluster, ns.name, "plain", unschedulable_because("untolerated taint"), timeouts)
        with step("Then the DaemonSet pod, tolerating memory-pressure, is bound to the node"):
            ds_pods = eventually(lambda: views(cluster, ns.name, "app=agent"),
                                 until=lambda ps: len(ps) == 1 and ps[0].node == node,
                                 timeout=timeouts.pod_start, desc="DaemonSet pod bound to the fake node")
            tolerations = cluster.core.read_namespaced_pod(ds_pods[0].name, ns.name).spec.tolerations
            assert any(t.key == MEMORY_PRESSURE and t.effect == "NoSchedule" for t in tolerations), tolerations
        with step("And the plain pod stays refused for the memory-pressure taint"):
            consistently(lambda: view(cluster, ns.name, "plain"), holds=unschedulable_because("untolerated taint"),
                         duration=timeouts.short_hold, desc="plain pod refused")
        with step("When the node reports MemoryPressure=False, the controller removes the taint"):
            _set_condition(cluster, node, "MemoryPressure", "False")
            eventually(lambda: taints(cluster, node), until=lambda ts: not _has_taint(MEMORY_PRESSURE, "NoSchedule")(ts),
                       timeout=timeouts.controller_sync, desc="memory-pressure taint removed")
        with step("And the plain pod (the negative control) is scheduled onto the node"):
            assert wait_pod(cluster, ns.name, "plain", is_bound, timeouts).node == node
    with step("And every node is back at rest, the fake node gone"):
        pristine_workers(cluster, settle=timeouts.controller_sync)


@pytest.mark.claim("S003-036")
def test_not_ready_node_carries_a_no_schedule_taint_that_keeps_new_pods_pending(ns, cluster, timeouts):
    """A node whose Ready condition is False is tainted node.kubernetes.io/not-ready:NoSchedule; a
    pod that can only go there stays Pending for that taint, and is scheduled once the node is Ready."""
    pristine_workers(cluster, settle=timeouts.controller_sync)
    node = f"kp-fake-{ns.name}"
    with fake_node(cluster, node, labels={}, taints=[{"key": FAKE_KEY, "effect": "NoSchedule"}],
                   conditions=[_condition("Ready", "False")], allocatable=CAPACITY):
        with tainted(cluster, [node], HOLD_KEY, None, "NoSchedule"):
            with step(f"Given node {node} (no kubelet) reporting Ready=False, held by a taint of the test's own"):
                pass
            _wait_for_condition_taint(cluster, node, NOT_READY, timeouts)
            with step("When a pod that can only go there is created and the test's hold taint is lifted"):
                ns.apply("scheduling/taints/pod-for-fake-node.yaml", name="stranded", node=node, fake_key=FAKE_KEY)
                wait_pod(cluster, ns.name, "stranded", unschedulable_because("untolerated taint"), timeouts)
        with step("Then the pod stays Pending, refused for the not-ready taint"):
            consistently(lambda: view(cluster, ns.name, "stranded"), holds=unschedulable_because("untolerated taint"),
                         duration=timeouts.short_hold, desc="stranded pod refused")
        with step("When the node reports Ready=True, the taint goes and the pod (the negative control) is scheduled"):
            _set_condition(cluster, node, "Ready", "True")
            assert wait_pod(cluster, ns.name, "stranded", is_bound, timeouts).node == node
    with step("And every node is back at rest, the fake node gone"):
        pristine_workers(cluster, settle=timeouts.controller_sync)
