"""Node-pressure eviction thresholds: the kubelet's signals, the thresholds in force (kind's, not the
documented defaults), and what crossing one does (a pressure condition, its NoSchedule taint, and
BestEffort pods refused at admission).

Source: seed 002 「Pod的资源分配 QoS」 (「Eviction Policy特性，设置了默认的资源回收阈值」, 「kubelet默认的资源回收阈值：
memory.available < 100Mi；nodefs.available < 10%；nodefs.inodesFree < 5%；imagefs.available < 15%」, 「达到阈值后，
会对node设置状态，避免新的Pod被调度到这个node上」); seed 003 「POD 驱逐」 (「默认磁盘可用空间在 10% 以下」).
Upstream: kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/ .
Environment: kind sets evictionHard to 0 % for nodefs/imagefs, which replaces the defaults, so no
memory threshold is in force there. Pressure is produced without filling anything: a soft
memory.available threshold the node is always under, with a one-hour grace period, sets the
condition (conditions ignore grace periods) while evicting nothing.
"""
import pytest

from fixtures import nodes
from fixtures.pods import phase_is, unschedulable_because, wait_pod
from fixtures.polling import eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("scheduling")]

SIGNALS = {"memory.available", "nodefs.available", "nodefs.inodesFree", "imagefs.available", "imagefs.inodesFree",
           "pid.available", "containerfs.available", "containerfs.inodesFree"}
UPSTREAM_DEFAULTS = {"memory.available": "100Mi", "nodefs.available": "10%", "nodefs.inodesFree": "5%",
                     "imagefs.available": "15%", "imagefs.inodesFree": "5%"}
KIND_EVICTION_HARD = {"nodefs.available": "0%", "nodefs.inodesFree": "0%", "imagefs.available": "0%"}
PRESSURE_CONDITIONS = {"MemoryPressure", "DiskPressure", "PIDPressure"}
MEMORY_PRESSURE_TAINT = ("node.kubernetes.io/memory-pressure", "NoSchedule")


def on_kind(cluster, node: str) -> bool:
    return (cluster.core.read_node(node).spec.provider_id or "").startswith("kind://")


@pytest.mark.claim("S002-104", "S003-060")
def test_kind_replaces_the_default_eviction_thresholds_with_zero_disk_thresholds(cluster):
    """Upstream defaults are memory.available<100Mi, nodefs.available<10%, nodefs.inodesFree<5%,
    imagefs.available<15%, imagefs.inodesFree<5%. kind sets nodefs/imagefs to 0 %; a partial
    evictionHard replaces the defaults, so no memory threshold is in force at all."""
    for node in nodes.schedulable(cluster) + [nodes.control_plane(cluster)]:
        with step(f"When the running kubelet configuration of {node} is read (/configz)"):
            hard = nodes.kubelet_config(cluster, node).get("evictionHard") or {}
        if on_kind(cluster, node):
            with step("Then it holds kind's 0 % disk thresholds and no memory.available threshold"):
                assert hard == KIND_EVICTION_HARD, f"[env] {node} evictionHard: {hard}"
        else:
            with step("Then it holds the upstream defaults"):
                assert hard == UPSTREAM_DEFAULTS, f"{node} evictionHard: {hard}"


@pytest.mark.claim("S002-102")
def test_every_threshold_names_a_kubelet_signal_and_nodes_report_each_pressure(cluster):
    """The kubelet's eviction signals are memory.available, nodefs.*, imagefs.*, pid.available (and
    containerfs.* with a split image filesystem); each maps to a node condition the kubelet reports."""
    node = nodes.workers(cluster)[0]
    with step(f"When {node}'s thresholds and conditions are read"):
        config = nodes.kubelet_config(cluster, node)
        configured = set(config.get("evictionHard") or {}) | set(config.get("evictionSoft") or {})
        conditions = {c.type: c.status for c in cluster.core.read_node(node).status.conditions}
    with step("Then every configured threshold is on a known signal"):
        assert configured and configured <= SIGNALS, configured
    with step("And the node reports MemoryPressure, DiskPressure and PIDPressure, all False at rest"):
        assert {k: conditions.get(k) for k in PRESSURE_CONDITIONS} == dict.fromkeys(PRESSURE_CONDITIONS, "False"), conditions


@pytest.mark.claim("S002-105", "S002-102")
@pytest.mark.disruptive
@pytest.mark.slow
@pytest.mark.requires(node_access=True, multinode=True, images=["agnhost"])
def test_crossing_a_memory_threshold_sets_memory_pressure_taints_the_node_and_refuses_best_effort_pods(ns, cluster, timeouts):
    """Crossing a threshold sets the node condition (MemoryPressure=True), the node lifecycle
    controller adds node.kubernetes.io/memory-pressure:NoSchedule, and the kubelet refuses new
    BestEffort pods at admission while it admits others."""
    node = nodes.pristine_workers(cluster)[-1]
    soft = {"evictionSoft": {"memory.available": "1000Gi"}, "evictionSoftGracePeriod": {"memory.available": "1h"}}
    with step(f"Given {node}'s kubelet with a soft memory.available threshold of 1000Gi (always crossed) and a 1 h grace"):
        with nodes.kubelet_config_extended(cluster, node, soft):
            with step("When its eviction manager observes the threshold"):
                pressure = eventually(lambda: nodes.condition(cluster, node, "MemoryPressure"), until=lambda c: c.status == "True",
                                      timeout=timeouts.node_recovery, desc=f"MemoryPressure on {node}")
            with step("Then MemoryPressure is True and the node is tainted memory-pressure:NoSchedule"):
                assert pressure.reason == "KubeletHasInsufficientMemory", pressure
                eventually(lambda: {(t.key, t.effect) for t in nodes.taint_views(cluster, node)},
                           until=lambda ts: MEMORY_PRESSURE_TAINT in ts, timeout=timeouts.controller_sync,
                           desc=f"memory-pressure taint on {node}")
            with step("And a BestEffort pod bound to the node is refused by its kubelet, a Burstable one admitted"):
                ns.apply("scheduling/eviction/bound-pod.yaml", name="best-effort", node=node, resources="{}")
                ns.apply("scheduling/eviction/bound-pod.yaml", name="burstable", node=node, resources="{requests: {memory: 8Mi}}")
                refused = wait_pod(cluster, ns.name, "best-effort", phase_is("Failed"), timeouts)
                admitted = wait_pod(cluster, ns.name, "burstable", phase_is("Running"), timeouts)
                assert refused.reason == "Evicted" and "MemoryPressure" in _message(cluster, ns.name, "best-effort"), refused
                assert admitted.node == node, admitted
            with step("And the scheduler keeps a new pod for that node Pending on an untolerated taint (the memory-pressure one)"):
                ns.apply("scheduling/eviction/selected-pod.yaml", name="scheduled", node=node)
                wait_pod(cluster, ns.name, "scheduled", unschedulable_because("untolerated taint"), timeouts, budget="controller_sync")
    with step(f"Finally {node} is back without pressure or taint"):
        eventually(lambda: nodes.disturbed(cluster), until=lambda problems: not problems,
                   timeout=timeouts.node_recovery, desc="every node back Ready and untainted")
        assert nodes.condition(cluster, node, "MemoryPressure").status == "False"


def _message(cluster, namespace: str, name: str) -> str:
    return cluster.core.read_namespaced_pod(name, namespace).status.message or ""
