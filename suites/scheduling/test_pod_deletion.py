"""Pods that cannot be deleted (seed 003 「无法被删除」): a finalizer keeps the object (Terminating,
containers stopped) until it is patched away; a process that ignores SIGTERM is killed when the grace
period runs out; a forced deletion removes the object at once.

Source: kubernetes.io/docs/concepts/overview/working-with-objects/finalizers/,
/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination (and #pod-termination-forced).
"""
import time

import pytest

from fixtures.pods import (HOLD_FINALIZER, delete_and_watch_final, held, is_ready, phase_is, release, view,
                           wait_gone, wait_pod)
from fixtures.polling import consistently
from fixtures.reporting import step

pytestmark = [pytest.mark.area("scheduling")]

GRACE = 3  # behaviour parameter: long enough to tell "killed at the deadline" from "ended at once"


@pytest.mark.claim("S003-062")
@pytest.mark.requires(images=["agnhost"])
def test_pod_with_a_finalizer_stays_terminating_until_the_finalizer_is_patched_away(ns, cluster, timeouts):
    """Deleting a pod that carries a finalizer stops its containers and ends its phase, but the object
    stays, with a deletionTimestamp; a PATCH removing the finalizer lets the deletion complete. (kubectl
    1.34 prints the terminal reason, e.g. Error, rather than Terminating once the containers ended.)"""
    with held(cluster, ns.name, "app=held"):
        with step(f"Given a running pod carrying finalizer {HOLD_FINALIZER}"):
            ns.apply("scheduling/pod-failures/pod-held.yaml", name="held", finalizer=HOLD_FINALIZER)
            wait_pod(cluster, ns.name, "held", is_ready, timeouts)
        with step("When it is deleted"):
            cluster.core.delete_namespaced_pod("held", ns.name)
        with step("Then its container is stopped and its phase terminal, but the object stays, marked for deletion"):
            wait_pod(cluster, ns.name, "held", lambda p: p.deleting and p.phase in ("Succeeded", "Failed")
                         and p.container("app").state == "terminated", timeouts)
            consistently(lambda: view(cluster, ns.name, "held"), holds=lambda p: p.deleting,
                         duration=timeouts.short_hold, desc="held pod still there")
        with step("When the finalizer is patched away, the pod is gone"):
            release(cluster, ns.name, "held")
            wait_gone(cluster, ns.name, "held", timeouts, budget="controller_sync")


@pytest.mark.claim("S003-063")
@pytest.mark.requires(images=["busybox"])
def test_process_ignoring_sigterm_is_killed_when_the_grace_period_ends(ns, cluster, timeouts):
    """A main process that ignores SIGTERM keeps running through terminationGracePeriodSeconds and is
    then killed (SIGKILL: exit code 137); the pod's deletion takes the whole grace period."""
    with step(f"Given a running pod whose main process ignores SIGTERM, grace {GRACE} s"):
        ns.apply("scheduling/pod-failures/pod-ignores-sigterm.yaml", name="stubborn", grace=GRACE)
        wait_pod(cluster, ns.name, "stubborn", phase_is("Running"), timeouts)
    with step("When it is deleted"):
        t0 = time.monotonic()
        final = delete_and_watch_final(cluster, ns.name, "stubborn", timeouts)
        took = time.monotonic() - t0
    with step(f"Then the container was killed with SIGKILL (137) only after the {GRACE} s grace period"):
        c = final.container("app")
        assert c.exit_code == 137, c
        assert took >= GRACE - 0.5, f"ended after {took:.1f}s, before the {GRACE} s grace period ran out"
    with step("And the pod object is then removed"):
        wait_gone(cluster, ns.name, "stubborn", timeouts, budget="controller_sync")


@pytest.mark.claim("S003-063")
@pytest.mark.requires(images=["busybox"])
def test_forced_deletion_removes_the_pod_object_at_once(ns, cluster, timeouts):
    """kubectl delete --force --grace-period=0 removes the API object immediately, without waiting for
    the kubelet (whose containers may still be running) or the grace period."""
    with step("Given a running pod whose main process ignores SIGTERM, grace 30 s"):
        ns.apply("scheduling/pod-failures/pod-ignores-sigterm.yaml", name="forced", grace=30)
        wait_pod(cluster, ns.name, "forced", phase_is("Running"), timeouts)
    with step("When it is deleted with --force --grace-period=0"):
        t0 = time.monotonic()
        cluster.kubectl("delete", "pod", "forced", "-n", ns.name, "--force", "--grace-period=0", "--wait=false")
    with step("Then the object is gone at once, far within the grace period"):
        wait_gone(cluster, ns.name, "forced", timeouts, budget="apply")
        assert time.monotonic() - t0 < 30 / 3, "the forced deletion waited"
