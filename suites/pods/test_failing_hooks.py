"""Failing lifecycle hooks: what the kubelet does, and where the hook's output shows.

Seed 003 › Hook: "if a postStart or preStop hook fails, the container is killed" and › 调试hook: "hook
logs are not exposed in the Pod's events, only via describe; on error you see FailedPostStartHook or
FailedPreStopHook events". A failing postStart kills the container (restartPolicy then applies); a
failing preStop is only reported, termination goes on. Both are Warning events any client can list.
The hook's output reaches neither the container log nor the events: it is in the container's status message,
which `kubectl describe` shows.
Source: https://kubernetes.io/docs/concepts/containers/container-lifecycle-hooks/#hook-handler-execution
"""
import pytest

from fixtures import timeline
from fixtures.polling import eventually
from fixtures.pods import container_is, delete_and_watch_final, events_of, is_ready, restarted_at_least, view_of, wait_pod
from fixtures.reporting import log, step
from fixtures.watching import watch_until

pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(images=["busybox"])]

GRACE = 30


def _hook_failure_reported(cluster, ns: str, timeouts):
    """The first status of post-start-fails that reports its failed hook (a watch catches it: it lasts only
    until the kubelet's restart back-off takes over the waiting reason)."""
    hook_failed = container_is("app", "waiting", "PostStartHookError")
    found = watch_until(cluster.core.list_namespaced_pod, lambda p: hook_failed(view_of(p)), timeout=timeouts.pod_start,
                        desc="post-start-fails waiting on PostStartHookError", namespace=ns,
                        field_selector="metadata.name=post-start-fails")
    return view_of(found).container("app")


def _warnings(cluster, ns: str, pod: str, reason: str) -> list:
    return [e for e in events_of(cluster, ns, pod) if e.reason == reason and e.type == "Warning"]


@pytest.mark.claim("S003-022", "S003-023")
def test_failing_post_start_hook_kills_the_container_which_is_then_restarted(ns, cluster, timeouts):
    """A postStart hook exiting 1 gets a FailedPostStartHook Warning event and the container killed; under
    restartPolicy Always it is started again (restartCount grows)."""
    with step("Given a pod whose postStart hook exits 1"):
        ns.apply("pods/hooks/post-start-fails.yaml")
    with step("Then the container is restarted after its hook failed"):
        wait_pod(cluster, ns.name, "post-start-fails", restarted_at_least("app", 1), timeouts)
    with step("And a FailedPostStartHook Warning event says so (listed like any event, no describe needed)"):
        assert _warnings(cluster, ns.name, "post-start-fails", "FailedPostStartHook"), events_of(cluster, ns.name, "post-start-fails")


@pytest.mark.claim("S003-023")
def test_hook_output_is_in_neither_the_container_log_nor_the_event_but_in_the_pod_status(ns, cluster, timeouts):
    """The hook's output reaches neither `kubectl logs` (the app's own output does: the control) nor the
    FailedPostStartHook event ("PostStartHook failed"); it is in the container's status message (waiting,
    reason PostStartHookError), which is what `kubectl describe` shows."""
    with step("Given a pod whose postStart hook prints to stdout and stderr, then exits 1"):
        ns.apply("pods/hooks/post-start-fails.yaml")
        hook_error = _hook_failure_reported(cluster, ns.name, timeouts)
        events = eventually(lambda: _warnings(cluster, ns.name, "post-start-fails", "FailedPostStartHook"), until=bool,
                            timeout=timeouts.pod_start, desc="FailedPostStartHook event")
    with step("Then the container log has the app's output but not the hook's"):
        logs = eventually(lambda: cluster.core.read_namespaced_pod_log("post-start-fails", ns.name, container="app"),
                          until=lambda text: "app-output" in text, timeout=timeouts.pod_start, desc="app output in the log")
        assert "HOOKMARK" not in logs, logs
    with step("And the FailedPostStartHook event says the hook failed without quoting its output"):
        log.info("FailedPostStartHook message: %s", events[0].message)
        assert not any("HOOKMARK" in e.message for e in events), [e.message for e in events]
    with step("And the container's status, waiting with reason PostStartHookError, quoted the hook's stdout and stderr"):
        message = hook_error.message or ""
        assert "HOOKMARK-out" in message and "HOOKMARK-err" in message, hook_error


@pytest.mark.claim("S003-022")
def test_failing_pre_stop_hook_is_reported_and_termination_goes_on(ns, cluster, timeouts):
    """A preStop hook exiting 1 gets a FailedPreStopHook Warning event, and the container gets SIGTERM right
    after the hook failed (its own termination message says when), not at the end of its 30 s grace period."""
    with step("Given a running pod whose preStop hook exits 1"):
        ns.apply("pods/hooks/pre-stop-fails.yaml", grace=GRACE)
        wait_pod(cluster, ns.name, "pre-stop-fails", is_ready, timeouts)
    with step("When it is deleted"):
        events = timeline.parse(delete_and_watch_final(cluster, ns.name, "pre-stop-fails", timeouts).container("app").message or "")
    with step("Then SIGTERM followed the failed hook at once, far inside the grace period"):
        waited = events.at("sigterm", "app") - events.at("prestop-start", "app")
        assert 0 <= waited < GRACE / 3, f"SIGTERM {waited:.2f}s after the failed hook (grace {GRACE}s):\n{events}"
    with step("And a FailedPreStopHook Warning event was recorded"):
        eventually(lambda: _warnings(cluster, ns.name, "pre-stop-fails", "FailedPreStopHook"), until=bool,
                   timeout=timeouts.controller_sync, desc="FailedPreStopHook event")


@pytest.mark.claim("S003-019")
def test_tcp_socket_post_start_hook_is_accepted_but_fails_when_run(ns, cluster, timeouts):
    """`tcpSocket` is accepted in a lifecycle handler only for backward compatibility: the kubelet cannot
    run it, so the hook fails (FailedPostStartHook) and the container is killed and restarted."""
    with step("Given a pod with a tcpSocket postStart hook (admitted)"):
        ns.apply("pods/hooks/tcp-hook.yaml")
    with step("Then its container restarts: the hook cannot run"):
        wait_pod(cluster, ns.name, "tcp-hook", restarted_at_least("app", 1), timeouts)
        assert _warnings(cluster, ns.name, "tcp-hook", "FailedPostStartHook"), events_of(cluster, ns.name, "tcp-hook")
