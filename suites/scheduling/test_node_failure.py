"""A lost node: when a worker's kubelet stops, the node turns Ready=Unknown after the grace period,
gets the unreachable taints, and its pods are handled per their tolerations; the pods themselves keep
running. One scenario (the kubelet of the last worker stopped, then started again) serves every claim.

Source: seed 002 「节点NotReady原因」 (and its 时间段), 「exec命令执行原理」 is elsewhere; seed 003 「Pod失联」,
「无法被删除」 (节点故障). Upstream: kubernetes.io/docs/concepts/architecture/nodes/#node-controller ,
…/scheduling-eviction/taint-and-toleration/#taint-based-evictions , …/architecture/leases/ .
Minute-scale by physics (node-monitor-grace-period, 50 s since 1.32): `slow`; `disruptive`, and the
scenario holds the cluster exclusively while the kubelet is down, then asserts every node is back
Ready and untainted.
"""
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pytest

from fixtures import nodes
from fixtures.pods import PodView, on_node, view, view_of, views, wait_gone, wait_pod, wait_ready
from fixtures.polling import eventually
from fixtures.reporting import step
from fixtures.per_test import exclusive_scenario
from fixtures.services import endpoint_slices

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.disruptive, pytest.mark.slow,
              pytest.mark.requires(multinode=True, node_access=True, images=["agnhost"])]

TOLERATION_SECONDS = 10  # the Deployment's own tolerationSeconds for unreachable/not-ready
DEFAULT_TOLERATION_SECONDS = 300  # DefaultTolerationSeconds admission plugin
DELETE_GRACE_SECONDS = 2  # the pod deleted while its node is unreachable
MONITOR_PERIOD_S = 5  # kube-controller-manager --node-monitor-period
UNREACHABLE = "node.kubernetes.io/unreachable"


@dataclass
class LostNode:
    node: str = ""
    other: str = ""
    config: dict = field(default_factory=dict)
    grace_seconds: int = 0
    renewals: tuple = ()  # two consecutive lease renewals before the stop
    lease_at_unknown: object = None
    ready: object = None  # the Ready condition once Unknown
    taints: list = field(default_factory=list)
    tolerations: list = field(default_factory=list)  # injected into the bare served pod
    served_lost: PodView | None = None
    answer: str = ""
    slice_ready: dict = field(default_factory=dict)
    evicted_at: float = 0.0  # epoch seconds: deletionTimestamp minus the grace period
    evicted: PodView | None = None
    replacement: PodView | None = None
    served_after: PodView | None = None
    doomed: PodView | None = None
    doomed_deadline_passed_by: float = 0.0
    restored: list = field(default_factory=list)


def grace_period(cluster, server_version) -> int:
    """node-monitor-grace-period: the controller manager's flag if set, else the version's default."""
    cm = cluster.core.list_namespaced_pod("kube-system", label_selector="component=kube-controller-manager").items
    for arg in (cm[0].spec.containers[0].command or []) if cm else []:
        if arg.startswith("--node-monitor-grace-period="):
            return int(arg.split("=", 1)[1].rstrip("s"))
    return 50 if server_version >= (1, 32, 0) else 40


@pytest.fixture(scope="module")
def lost_node(module_ns, cluster, timeouts, server_version, request):
    """Given, on the last worker, a 10 s-tolerating Deployment replica, a served bare pod and a bare pod;
    when that worker's kubelet stops, record what the control plane does; then restore the worker."""
    ns, seen = module_ns, LostNode()
    with exclusive_scenario(request, cluster):
        first, node = nodes.pristine_workers(cluster)[:2]
        seen.node, seen.other = node, first
        seen.config, seen.grace_seconds = nodes.kubelet_config(cluster, node), grace_period(cluster, server_version)
        with step(f"Given on {node}: a Deployment replica tolerating unreachable for {TOLERATION_SECONDS}s, a served bare pod, a bare pod"):
            with nodes.cordoned(cluster, first):
                ns.apply("scheduling/node-failure/tolerating-deployment.yaml", name="short", toleration_seconds=TOLERATION_SECONDS)
                ns.apply("scheduling/node-failure/served-pod.yaml", name="served", node=node)
                ns.apply("scheduling/node-failure/bare-pod.yaml", name="doomed", node=node)
                for app in ("short", "served", "doomed"):
                    wait_ready(cluster, ns.name, f"app={app}", 1, timeouts)
            seen.tolerations = [t.to_dict() for t in cluster.core.read_namespaced_pod("served", ns.name).spec.tolerations]
            first_renewal = nodes.lease(cluster, node).renew_time
            second = eventually(lambda: nodes.lease(cluster, node), until=lambda l: l.renew_time != first_renewal,
                                timeout=timeouts.controller_sync, desc=f"a renewal of {node}'s lease")
            seen.renewals = (first_renewal, second.renew_time)
        ready_before = {p.uid for p in on_node(cluster, node) if p.ready}
        try:
            with step(f"When the kubelet on {node} stops"):
                nodes.stop_kubelet(cluster, node)
                seen.ready = eventually(lambda: nodes.condition(cluster, node), until=lambda c: c.status != "True",
                                        timeout=timeouts.node_heartbeat_loss, desc=f"{node} no longer Ready")
                seen.lease_at_unknown = nodes.lease(cluster, node)
                seen.taints = eventually(lambda: nodes.taint_views(cluster, node),
                                         until=lambda ts: {(t.key, t.effect) for t in ts} >= {(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")},
                                         timeout=timeouts.controller_sync, desc=f"unreachable taints on {node}")
            with step("Then its pods lose Ready but keep serving on their IP"):
                seen.served_lost = wait_pod(cluster, ns.name, "served", lambda p: p.condition("Ready") == "False", timeouts,
                                            budget="controller_sync", desc="served pod marked not Ready")
                seen.answer = cluster.node_exec(first, "curl", "-s", "-m", "5", f"http://{seen.served_lost.ip}:8080/hostname").stdout
                seen.slice_ready = eventually(lambda: endpoint_slices(cluster, ns.name, "served"),
                                              until=lambda s: seen.served_lost.ip in s.addresses and not s.ready,
                                              timeout=timeouts.controller_sync, desc="served endpoint not ready").slices[0].addresses
            with step(f"And a pod deleted now (grace {DELETE_GRACE_SECONDS}s) cannot finish terminating"):
                cluster.core.delete_namespaced_pod("doomed", ns.name, grace_period_seconds=DELETE_GRACE_SECONDS)
            with step(f"And the {TOLERATION_SECONDS}s-tolerating replica is evicted and replaced on {first}"):
                evicted = eventually(lambda: [p for p in cluster.core.list_namespaced_pod(ns.name, label_selector="app=short").items
                                              if p.spec.node_name == node and p.metadata.deletion_timestamp],
                                     until=bool, timeout=timeouts.controller_sync, desc="the short replica evicted")[0]
                seen.evicted = view_of(evicted)
                seen.evicted_at = evicted.metadata.deletion_timestamp.timestamp() - (evicted.metadata.deletion_grace_period_seconds or 0)
                seen.replacement = eventually(lambda: [p for p in views(cluster, ns.name, "app=short") if p.ready and not p.deleting],
                                              until=bool, timeout=timeouts.pod_start, desc="a replacement replica ready")[0]
            with step("And meanwhile the bare pods stay: one not deleted (300 s), one stuck Terminating"):
                seen.served_after = view(cluster, ns.name, "served")
                doomed = cluster.core.read_namespaced_pod("doomed", ns.name)
                seen.doomed = view_of(doomed)
                seen.doomed_deadline_passed_by = datetime.now(timezone.utc).timestamp() - doomed.metadata.deletion_timestamp.timestamp()
        finally:
            with step(f"Finally the kubelet on {node} starts again: the node is Ready and untainted, its pods Ready again"):
                nodes.start_kubelet(cluster, node)
                eventually(lambda: nodes.disturbed(cluster), until=lambda problems: not problems,
                           timeout=timeouts.node_recovery, desc="every node back Ready and untainted")
                eventually(lambda: [p.name for p in on_node(cluster, node) if p.uid in ready_before and not p.ready and not p.deleting],
                           until=lambda late: not late, timeout=timeouts.node_recovery,
                           desc=f"the pods that were Ready on {node} Ready again")
            if seen.doomed is not None:
                with step("And the pod deleted meanwhile is gone once the kubelet confirms its end"):
                    wait_gone(cluster, ns.name, "doomed", timeouts, budget="cleanup")
    nodes.pristine_workers(cluster)
    return seen


@pytest.mark.claim("S002-055")
@pytest.mark.severity("critical")
def test_node_whose_kubelet_stops_turns_ready_unknown_and_gets_unreachable_taints(lost_node):
    """NotReady in the document; precisely: with no heartbeat the node controller sets Ready=Unknown
    (reason NodeStatusUnknown, "Kubelet stopped posting node status") — False is for a kubelet that
    reports itself unhealthy — and taints the node unreachable:NoSchedule and unreachable:NoExecute."""
    ready = lost_node.ready
    with step("Then Ready is Unknown with reason NodeStatusUnknown"):
        assert (ready.status, ready.reason) == ("Unknown", "NodeStatusUnknown"), ready
        assert "Kubelet stopped posting node status" in (ready.message or ""), ready
    with step("And the node carries both unreachable taints"):
        keys = {(t.key, t.effect) for t in lost_node.taints}
        assert {(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")} <= keys, lost_node.taints


@pytest.mark.claim("S002-057")
def test_heartbeat_is_a_lease_renewed_every_10s_and_the_node_is_lost_after_the_grace_period(lost_node, server_version):
    """The document's 10 s report / 40 s grace / 5 m eviction timeout, today: a Lease renewed every
    ~10 s (leaseDurationSeconds 40), full status every 5 m or on change, node-monitor-grace-period
    50 s since 1.32 (was 40 s), and no pod-eviction-timeout (removed in 1.27): every pod gets 300 s
    tolerations for not-ready and unreachable instead."""
    seen = lost_node
    with step("Then the kubelet renews its Lease every ~10 s, with a 40 s lease duration"):
        interval = (seen.renewals[1] - seen.renewals[0]).total_seconds()
        assert 8 <= interval <= 13 and seen.lease_at_unknown.duration_seconds == 40, (interval, seen.lease_at_unknown)
    with step("And it reports full status every 5 m (or on change), with heartbeats every 10 s"):
        assert (seen.config.get("nodeStatusUpdateFrequency"), seen.config.get("nodeStatusReportFrequency")) == ("10s", "5m0s"), seen.config
    with step(f"And Ready turned Unknown one grace period ({seen.grace_seconds}s) after the last renewal, within a monitor period"):
        late = (seen.ready.last_transition - seen.lease_at_unknown.renew_time).total_seconds()
        assert seen.grace_seconds - 1 <= late <= seen.grace_seconds + MONITOR_PERIOD_S + 3, (
            f"Ready changed {late:.1f}s after the last lease renewal ({seen.lease_at_unknown.renew_time}); grace {seen.grace_seconds}s")
    with step(f"And the bare pod was given {DEFAULT_TOLERATION_SECONDS}s tolerations for not-ready and unreachable"):
        injected = {(t["key"], t["effect"], t["toleration_seconds"]) for t in seen.tolerations}
        assert {("node.kubernetes.io/not-ready", "NoExecute", DEFAULT_TOLERATION_SECONDS),
                (UNREACHABLE, "NoExecute", DEFAULT_TOLERATION_SECONDS)} <= injected, seen.tolerations


@pytest.mark.claim("S002-056", "S003-006")
@pytest.mark.severity("critical")
def test_pods_of_a_lost_node_keep_serving_but_leave_service_endpoints_and_controllers_replace_them(lost_node):
    """On a NotReady node containers keep running and answer on their Pod IP, but each pod's Ready turns
    False, so its EndpointSlice endpoint is not ready and Service traffic avoids it; controllers
    recreate evicted pods on healthy nodes, bare pods are not recreated."""
    seen = lost_node
    with step("Then the bare pod on the lost node still answered on its IP"):
        assert seen.answer.strip() == "served", f"curl from {seen.other}: {seen.answer!r}"
    with step("And its EndpointSlice endpoint was marked not ready"):
        assert seen.slice_ready == {seen.served_lost.ip: False}, seen.slice_ready
    with step(f"And the evicted replica was replaced by a ready one on {seen.other}"):
        assert seen.replacement.node == seen.other and seen.replacement.name != seen.evicted.name, seen.replacement
    with step("And the bare pod was not replaced: it is still the same pod on the lost node"):
        assert (seen.served_after.uid, seen.served_after.node) == (seen.served_lost.uid, seen.node), seen.served_after


@pytest.mark.claim("S002-058")
def test_pods_leave_an_unreachable_node_after_their_own_toleration_seconds(lost_node):
    """Node states are taints, and each pod's tolerationSeconds decides when it is evicted: the
    10 s-tolerating replica went ~10 s after the NoExecute taint, the 300 s pod stayed."""
    seen = lost_node
    added = next(t.time_added for t in seen.taints if (t.key, t.effect) == (UNREACHABLE, "NoExecute"))
    with step(f"Then the replica was evicted about {TOLERATION_SECONDS}s after the NoExecute taint was added"):
        after = seen.evicted_at - added.timestamp()
        assert TOLERATION_SECONDS - 1 <= after <= TOLERATION_SECONDS + MONITOR_PERIOD_S, f"evicted {after:.1f}s after {added}"
    with step(f"And the pod with the default {DEFAULT_TOLERATION_SECONDS}s toleration was not evicted meanwhile"):
        assert not seen.served_after.deleting, seen.served_after


@pytest.mark.claim("S003-061")
def test_pods_of_a_lost_node_stay_phase_running_with_ready_false_then_terminating(lost_node):
    """The document: such pods show Unknown. Today their phase stays Running (nothing reports a new
    one) with Ready=False; once evicted they carry a deletionTimestamp (kubectl: Terminating) and stay."""
    seen = lost_node
    with step("Then the pod on the lost node is phase Running with Ready False"):
        assert (seen.served_lost.phase, seen.served_lost.condition("Ready")) == ("Running", "False"), seen.served_lost
    with step("And the evicted replica remains as an object being deleted, phase Running"):
        assert seen.evicted.deleting and seen.evicted.phase == "Running", seen.evicted


@pytest.mark.claim("S003-064")
def test_pod_deleted_on_an_unreachable_node_stays_terminating_past_its_grace_period(lost_node):
    """A pod on a failed node stays Terminating after deletion, past its grace period, since no kubelet
    confirms its end (the document: check the node, restart the kubelet, else remove the node). The
    scenario then restarts the kubelet, after which the pod is gone."""
    seen = lost_node
    with step("Then the deleted pod was still there, Terminating, after its grace period had run out"):
        assert seen.doomed.deleting and seen.doomed_deadline_passed_by > 0, (seen.doomed, seen.doomed_deadline_passed_by)
