"""A scheduler outage deletes no pod: running pods keep running (their containers still restart), new pods wait.

Seed 003 「Pod」(使用Pod): "Pods do not heal themselves. If the node a pod runs on fails, or the scheduler
itself fails, the pod is deleted." Wrong for the scheduler: it only binds new pods. With kube-scheduler
stopped, a running bare pod keeps its UID and phase, and the kubelet still restarts its containers per
restartPolicy; a new pod stays Pending untouched (no PodScheduled condition, no scheduling event) until
the scheduler is back. (The node-failure half is the scheduling area's: suites/scheduling/test_node_failure.py.)
Disruptive: the scheduler is stopped by moving its static pod manifest off the control-plane node,
and always put back.
Source: https://kubernetes.io/docs/concepts/workloads/pods/#working-with-pods ;
https://kubernetes.io/docs/concepts/scheduling-eviction/kube-scheduler/
"""
import pytest

from fixtures.control_plane_pods import process_running, static_pod_removed
from fixtures.nodes import control_plane, disturbed
from fixtures.pods import is_ready, scheduler_events, view, wait_pod
from fixtures.podexec import exec_in
from fixtures.polling import consistently, eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("pods"), pytest.mark.disruptive, pytest.mark.serial,
              pytest.mark.requires(node_access=True, images=["busybox"])]


@pytest.mark.claim("S003-005")
def test_a_scheduler_outage_deletes_no_pod_and_only_holds_new_pods_pending(ns, cluster, timeouts):
    """Documented: a scheduler failure deletes pods. Observed: running pods are untouched; new pods wait for it."""
    node = control_plane(cluster)
    with step("Given a running bare pod 'survivor' (restartPolicy Always)"):
        ns.apply("pods/sandbox/pod.yaml", name="survivor", restart_policy="Always")
        before = wait_pod(cluster, ns.name, "survivor", is_ready, timeouts)
    with static_pod_removed(cluster, node, "kube-scheduler.yaml"):
        with step(f"When kube-scheduler's static pod manifest is taken off {node} and the scheduler process is gone"):
            eventually(lambda: process_running(cluster, node, "kube-scheduler"), until=lambda up: not up,
                       timeout=timeouts.static_pod_restart, desc="kube-scheduler stopped")
        with step("Then a new pod stays Pending, untouched: no node, no PodScheduled condition, no scheduling event"):
            ns.apply("pods/phases/stubborn.yaml", name="newcomer", grace=1)
            consistently(lambda: view(cluster, ns.name, "newcomer"),
                         holds=lambda p: p.phase == "Pending" and p.node is None and "PodScheduled" not in p.conditions,
                         duration=timeouts.short_hold, desc="newcomer waits for a scheduler")
            assert scheduler_events(cluster, ns.name, "newcomer") == []
        with step("And the running pod is untouched, and the kubelet still restarts its killed container"):
            assert exec_in(cluster, ns.name, "survivor", "app", ["kill", "1"]).returncode in (0, 137)  # 137: its PID 1 went first
            during = wait_pod(cluster, ns.name, "survivor", lambda p: p.container("app").restarts == 1 and is_ready(p), timeouts)
            assert (during.uid, during.node, during.phase) == (before.uid, before.node, "Running"), during
    with step("When the manifest is back, the scheduler binds the waiting pod, which then runs"):
        pod = wait_pod(cluster, ns.name, "newcomer", is_ready, timeouts, budget="static_pod_restart")
        assert any(r == "Scheduled" for r, _, _ in scheduler_events(cluster, ns.name, "newcomer")), pod
    with step("And the survivor is still the same pod, and every node is Ready and untainted"):
        assert view(cluster, ns.name, "survivor").uid == before.uid
        assert not disturbed(cluster), disturbed(cluster)
