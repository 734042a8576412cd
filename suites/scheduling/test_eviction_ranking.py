"""Which pod the kubelet evicts first under memory pressure: today's ranking, not the document's QoS order.

Source: seed 002 「Pod的资源分配 QoS」 (quoted: 「首当其冲的，自然是BestEffort类别的Pod。…其次，是属于Burstable类别、
并且发生"饥饿"的资源使用量已经超出了requests的Pod。…最后，才是Guaranteed类别」). Upstream:
kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/#pod-selection-for-kubelet-eviction (the
kubelet ranks by usage above requests, then priority, then usage minus requests; QoS class is not a key).
Environment: pressure is made without filling anything (as in test_eviction_thresholds.py): a soft memory.available
threshold the node is always under, here with a 10 s grace, so the kubelet keeps evicting, one pod per round, in
its ranking order. It runs on an extra two-node kind cluster (manifests/cluster/two-node-pressure.yaml) whose
worker holds only this test's pods and critical DaemonSets, which the kubelet never evicts.
"""
import pytest

from fixtures.kubelet_stats import pod_memory_working_sets
from fixtures.namespaces import ClusterObjects
from fixtures.nodes import condition, kubelet_config_extended, workers
from fixtures.per_test import own_namespace
from fixtures.pods import views, wait_ready
from fixtures.priority_classes import create as create_priority_class
from fixtures.polling import eventually
from fixtures.reporting import attach_text, step

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.requires(images=["busybox"], node_access=True),
              pytest.mark.slow]

MI = 1024 * 1024
GRACE_S = 10  # the soft threshold's grace: the kubelet's stats of every pod are in before the first eviction
POD_GRACE_S = 4  # each pod ignores SIGTERM for this long, so evictions come seconds apart (one-second timestamps)
# name -> (priority, resources, MiB held): expected eviction order, first to last
USERS = {
    "burstable-big": ("low", "{requests: {memory: 10Mi}}", 200),  # over its request by ~190Mi, low priority
    "besteffort-small": ("low", "{}", 20),  # over its (zero) request by ~20Mi, low priority
    "besteffort-high": ("high", "{}", 50),  # over its request, high priority
    "guaranteed": ("low", "{requests: {cpu: 50m, memory: 100Mi}, limits: {cpu: 50m, memory: 100Mi}}", 10),  # under
}
REQUESTS_MIB = {"burstable-big": 10, "besteffort-small": 0, "besteffort-high": 0, "guaranteed": 100}


@pytest.fixture
def pressure_ns(request, pressure_cluster, images, kubeproof_settings):
    """A namespace on the extra cluster whose worker is put under memory pressure."""
    yield from own_namespace(request, pressure_cluster, images, kubeproof_settings)


@pytest.fixture
def priority_classes(pressure_ns, timeouts):
    """role -> PriorityClass name on the pressure cluster: low (0), high (1000); deleted afterwards."""
    tracked, names = ClusterObjects(), {}
    for role, value in (("low", 0), ("high", 1000)):
        names[role] = f"{pressure_ns.name}-{role}"
        create_priority_class(pressure_ns, tracked, names[role], value, timeouts)
    yield names
    tracked.delete_all(pressure_ns.cluster.dynamic)


def _evicted(p) -> bool:
    """Evicted by its kubelet: the DisruptionTarget condition (its reason and phase depend on how the pod exits)."""
    return p.condition("DisruptionTarget") == "True"


@pytest.mark.claim("S002-106")
def test_under_memory_pressure_the_kubelet_evicts_by_usage_over_requests_then_priority_not_by_qos_class(
        pressure_ns, priority_classes, timeouts):
    """Claim: BestEffort pods go first, then Burstable pods over their requests, Guaranteed last. Today the kubelet
    ranks by (1) usage above requests, (2) priority, (3) usage minus requests: a Burstable pod far over its request
    goes before a BestEffort pod of the same priority, a high-priority BestEffort pod outlives both, and a pod under
    its requests (the Guaranteed one, though low priority) goes last."""
    ns, cluster = pressure_ns, pressure_ns.cluster
    node = workers(cluster)[0]
    with step(f"Given four pods on {node} holding memory: " + ", ".join(f"{n} ({p}, {r}, {m} MiB)" for n, (p, r, m) in USERS.items())):
        for name, (priority, resources, mib) in USERS.items():
            ns.apply("scheduling/eviction/memory-user.yaml", name=name, node=node, priority_class=priority_classes[priority],
                     resources=resources, fill_mib=mib, grace_s=POD_GRACE_S)
        wait_ready(cluster, ns.name, "role=memory-user", len(USERS), timeouts)
    with step("And the kubelet's stats show each one's usage on the side of its request the ranking needs"):
        usage = eventually(lambda: pod_memory_working_sets(cluster, node, ns.name),
                           until=lambda ws: all(ws.get(n, 0) >= m * MI for n, (_, _, m) in USERS.items()),
                           timeout=timeouts.controller_sync, desc=f"working sets of the memory users on {node}")
        over = {n: usage[n] > REQUESTS_MIB[n] * MI for n in USERS}
        assert over == {"burstable-big": True, "besteffort-small": True, "besteffort-high": True, "guaranteed": False}, usage
    soft = {"evictionSoft": {"memory.available": "1000Gi"}, "evictionSoftGracePeriod": {"memory.available": f"{GRACE_S}s"},
            "evictionMaxPodGracePeriod": POD_GRACE_S}
    with step(f"When {node}'s kubelet gets a memory.available threshold it is always under (soft, {GRACE_S} s grace,"
              f" pods given {POD_GRACE_S} s to stop)"):
        with kubelet_config_extended(cluster, node, soft):
            evicted = eventually(lambda: [p for p in views(cluster, ns.name, "role=memory-user") if _evicted(p)],
                                 until=lambda ps: len(ps) == len(USERS),
                                 timeout=GRACE_S + len(USERS) * timeouts.memory_eviction_round + timeouts.node_recovery,
                                 desc=f"the kubelet of {node} evicting all {len(USERS)} memory users")
    with step("Then each was evicted by the kubelet for memory (DisruptionTarget TerminationByKubelet)"):
        for p in evicted:
            status, reason, message = p.conditions["DisruptionTarget"]
            assert reason == "TerminationByKubelet" and "low on resource: memory" in (message or ""), p
    with step("And one at a time, in the kubelet's ranking: the Burstable pod far over its request, the low-priority"
              " BestEffort one, the high-priority BestEffort one, the pod under its requests last"):
        at = {p.name: p.since["DisruptionTarget"] for p in evicted}
        order = sorted(at, key=at.get)
        attach_text("evictions (DisruptionTarget lastTransitionTime)", "\n".join(f"{at[n].isoformat()} {n}" for n in order))
        assert order == list(USERS), f"[behaviour-changed] eviction order {order} at {at}"
        assert len(set(at.values())) == len(USERS), f"two evictions in one second: {at}"
    with step(f"Finally {node} reports no memory pressure once its kubelet runs its own configuration again"):
        eventually(lambda: condition(cluster, node, "MemoryPressure"), until=lambda c: c.status == "False",
                   timeout=timeouts.node_recovery, desc=f"MemoryPressure False on {node}")
