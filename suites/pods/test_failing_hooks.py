"""Failing lifecycle hooks: what the kubelet does, and where the hook's output shows.

Seed 003 › Hook: "if a postStart or preStop hook fails, the container is killed" and › 调试hook: "hook
logs are not exposed in the Pod's events, only via describe; on error you see FailedPostStartHook or
FailedPreStopHook events". A failing postStart kills the container (restartPolicy then applies); a
failing preStop is only reported, termination goes on. Both are Warning events any client can list.
The hook's output reaches neither the container log nor the events: it is in the container's status message,
which `kubectl describe` shows.
Source: https://kubernetes.io/docs/concepts/containers/container-lifecycle-hooks/#hook-handler-execution
"""
import time

import pytest

from fixtures.polling import eventually
from fixtures.pods import container_is, events_of, is_ready, restarted_at_least, wait_gone, wait_pod
from fixtures.reporting import log, step

pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(images=["busybox"]),
              pytest.mark.xdist_group("pods-failing-hooks")]

GRACE = 30


@pytest.fixture(scope="module")
def failing(module_ns):
    with step("Given pods with a failing postStart hook, a failing preStop hook, and a tcpSocket postStart hook"):
        module_ns.apply("pods/hooks/failing-hooks.yaml", grace=GRACE)
    return module_ns


def _warnings(cluster, ns: str, pod: str, reason: str) -> list:
    return [e for e in events_of(cluster, ns, pod) if e.reason == reason and e.type == "Warning"]


@pytest.mark.claim("S003-022", "S003-023")
def test_failing_post_start_hook_kills_the_container_which_is_then_restarted(failing, cluster, timeouts):
    """A postStart hook exiting 1 gets a FailedPostStartHook Warning event and the container killed; under
    restartPolicy Always it is started again (restartCount grows)."""
    ns = failing.name
    with step("Then the container is restarted after its hook failed"):
        wait_pod(cluster, ns, "post-start-fails", restarted_at_least("app", 1), timeouts)
    with step("And a FailedPostStartHook Warning event says so (listed like any event, no describe needed)"):
        assert _warnings(cluster, ns, "post-start-fails", "FailedPostStartHook"), events_of(cluster, ns, "post-start-fails")


@pytest.mark.claim("S003-023")
def test_hook_output_is_in_neither_the_container_log_nor_the_event_but_in_the_pod_status(failing, cluster, timeouts):
    """The hook's output reaches neither `kubectl logs` (the app's own output does: the control) nor the
    FailedPostStartHook event ("PostStartHook failed"); it is in the container's status message (waiting,
    reason PostStartHookError), which is what `kubectl describe` shows."""
    ns = failing.name
    with step("Given the failing postStart hook has run"):
        events = eventually(lambda: _warnings(cluster, ns, "post-start-fails", "FailedPostStartHook"), until=bool,
                            timeout=timeouts.pod_start, desc="FailedPostStartHook event")
    with step("Then the container log has the app's output but not the hook's"):
        logs = eventually(lambda: cluster.core.read_namespaced_pod_log("post-start-fails", ns, container="app"),
                          until=lambda text: "app-output" in text, timeout=timeouts.pod_start, desc="app output in the log")
        assert "HOOKMARK" not in logs, logs
    with step("And the FailedPostStartHook event says the hook failed without quoting its output"):
        log.info("FailedPostStartHook message: %s", events[0].message)
        assert not any("HOOKMARK" in e.message for e in events), [e.message for e in events]
    with step("And the container's status, waiting with reason PostStartHookError, quotes the hook's stdout and stderr"):
        app = wait_pod(cluster, ns, "post-start-fails", container_is("app", "waiting", "PostStartHookError"), timeouts,
                       budget="controller_sync").container("app")
        assert "HOOKMARK-out" in app.message and "HOOKMARK-err" in app.message, app.message


@pytest.mark.claim("S003-022")
def test_failing_pre_stop_hook_is_reported_and_termination_goes_on(failing, cluster, timeouts):
    """A preStop hook exiting 1 gets a FailedPreStopHook Warning event, and the container is stopped
    straight away: the pod is gone long before its 30 s grace period."""
    ns = failing.name
    with step("Given the pod with the failing preStop hook is running"):
        wait_pod(cluster, ns, "pre-stop-fails", is_ready, timeouts)
    with step("When it is deleted"):
        t0 = time.monotonic()
        cluster.core.delete_namespaced_pod("pre-stop-fails", ns)
        wait_gone(cluster, ns, "pre-stop-fails", timeouts)
        took = time.monotonic() - t0
    with step("Then a FailedPreStopHook event was recorded and the pod went well within its grace period"):
        assert _warnings(cluster, ns, "pre-stop-fails", "FailedPreStopHook"), events_of(cluster, ns, "pre-stop-fails")
        assert took < GRACE / 2, f"deletion took {took:.1f}s: the failed hook held termination"


@pytest.mark.claim("S003-019")
def test_tcp_socket_post_start_hook_is_accepted_but_fails_when_run(failing, cluster, timeouts):
    """`tcpSocket` is accepted in a lifecycle handler only for backward compatibility: the kubelet cannot
    run it, so the hook fails (FailedPostStartHook) and the container is killed and restarted."""
    ns = failing.name
    with step("Then the pod with a tcpSocket postStart hook was admitted, and its container restarts"):
        wait_pod(cluster, ns, "tcp-hook", restarted_at_least("app", 1), timeouts)
        assert _warnings(cluster, ns, "tcp-hook", "FailedPostStartHook"), events_of(cluster, ns, "tcp-hook")
