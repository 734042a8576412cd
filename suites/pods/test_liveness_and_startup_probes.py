"""Liveness and startup probes: what a failure does, and what a startup probe holds back.

Seed 002 › Pod中的健康检查: "livenessProbe: when the check fails, the Pod is restarted directly" and
"startupProbe: for slow-starting apps, so they are not killed by the other two probes". Seed 003 ›
生命周期: "if the liveness probe fails, the kubelet kills the container, and the container is subject to
its restart policy; without a liveness probe the default state is Success".
What restarts is the container, not the pod: the pod keeps its UID and IP. Timings come from the
containers' own timelines (fixtures/timeline.py).
Source: https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/,
https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#container-probes
"""
import pytest

from fixtures import timeline
from fixtures.podexec import exec_in
from fixtures.polling import eventually
from fixtures.pods import container_is, events_of, is_ready, phase_is, restarted_at_least, view, wait_pod
from fixtures.reporting import step

pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(images=["busybox"])]

# Behaviour parameters (not timeouts)
PERIOD, THRESHOLD, GRACE = 1, 1, 1
STARTED_AFTER = 3
STARTUP_THRESHOLD_OK = 10  # x 1 s period: enough for STARTED_AFTER
STARTUP_THRESHOLD_FAIL = 2


def _timeline_until(cluster, ns: str, pod: str, reader: str, until, timeouts) -> timeline.Timeline:
    return eventually(lambda: timeline.read(cluster, ns, pod, reader), until=until, timeout=timeouts.pod_start,
                      desc=f"timeline of {pod}")


def _messages(cluster, ns: str, pod: str, reason: str) -> list[str]:
    return [e.message for e in events_of(cluster, ns, pod) if e.reason == reason]


@pytest.mark.claim("S002-107", "S003-017")
def test_liveness_failure_restarts_the_container_in_the_same_pod(ns, cluster, timeouts):
    """A failing liveness probe makes the kubelet kill and restart the CONTAINER: same pod UID and IP,
    restartCount 1, event "failed liveness probe, will be restarted". The document says the Pod is
    restarted: it is not. A container without a liveness probe in the same pod is never killed."""
    with step(f"Given a running pod whose 'app' has an exec liveness probe (period {PERIOD} s, threshold {THRESHOLD})"):
        ns.apply("pods/probes/liveness.yaml", name="live", period=PERIOD, threshold=THRESHOLD)
        before = wait_pod(cluster, ns.name, "live", is_ready, timeouts)
    with step("When the app turns unhealthy (its health file is removed)"):
        cmd = 'rm /tmp/ok; echo "unhealthy app" | ts %.s >> /evidence/events'
        assert exec_in(cluster, ns.name, "live", "app", ["sh", "-c", cmd]).returncode == 0
    with step("Then the app container is restarted once, in the same pod"):
        # the last termination is read once the kubelet has published it beside the new running state
        after = wait_pod(cluster, ns.name, "live", lambda p: restarted_at_least("app", 1)(p) and container_is("app", "running")(p)
                         and p.container("app").last_reason is not None, timeouts, desc="app restarted and running again")
        assert (after.uid, after.ip, after.node) == (before.uid, before.ip, before.node), (
            f"[behaviour-changed] the pod itself was replaced: {before} -> {after}")
        assert after.container("app").container_id != before.container("app").container_id
        assert after.container("app").last_reason == "Error" and after.container("app").last_exit_code == 137, after.container("app")
    with step("And the kubelet says why: failed liveness probe, will be restarted"):
        assert any("failed liveness probe, will be restarted" in m for m in _messages(cluster, ns.name, "live", "Killing")), (
            events_of(cluster, ns.name, "live"))
    with step("And the new container started after the failure (the container's own timeline)"):
        events = _timeline_until(cluster, ns.name, "live", "steady", lambda t: len(t.times("start", "app")) == 2, timeouts)
        failed_at = events.at("unhealthy", "app")
        restarts = [t for t in events.times("start", "app") if t > failed_at]
        assert len(restarts) == 1, f"expected one start of app after the failure:\n{events}"
    with step("And 'steady', which has no liveness probe, was never restarted"):
        assert view(cluster, ns.name, "live").container("steady").restarts == 0


@pytest.mark.claim("S003-017")
def test_liveness_failure_with_restart_policy_never_leaves_the_pod_failed(ns, cluster, timeouts):
    """With restartPolicy: Never, the container killed for liveness is not restarted and the pod goes Failed."""
    with step("Given a running single-container pod with restartPolicy: Never and an exec liveness probe"):
        ns.apply("pods/probes/liveness-never.yaml", name="never")
        wait_pod(cluster, ns.name, "never", is_ready, timeouts)
    with step("When the app turns unhealthy"):
        assert exec_in(cluster, ns.name, "never", "app", ["rm", "/tmp/ok"]).returncode == 0
    with step("Then the container is killed (SIGKILL after the ignored SIGTERM: 137), not restarted, and the pod Failed"):
        pod = wait_pod(cluster, ns.name, "never", phase_is("Failed", "Succeeded"), timeouts)
        app = pod.container("app")
        assert (pod.phase, app.state, app.exit_code, app.restarts) == ("Failed", "terminated", 137, 0), (pod.phase, app)
    with step("And the kubelet reported the failed liveness probe, then stopped the container (no 'will be restarted')"):
        unhealthy, killing = _messages(cluster, ns.name, "never", "Unhealthy"), _messages(cluster, ns.name, "never", "Killing")
        assert any(m.startswith("Liveness probe failed") for m in unhealthy), unhealthy
        assert killing and not any("will be restarted" in m for m in killing), killing


@pytest.mark.claim("S002-109")
def test_liveness_and_readiness_probes_do_not_run_until_the_startup_probe_succeeds(ns, cluster, timeouts):
    """While the startupProbe has not succeeded, the kubelet runs neither the liveness nor the readiness probe,
    so a slow starter is not killed by a liveness probe that would fail (threshold 1) before it is up."""
    with step(f"Given an app that is up {STARTED_AFTER} s after it starts, with a startup probe allowing {STARTUP_THRESHOLD_OK} s"):
        ns.apply("pods/probes/startup.yaml", name="slow-start", started_after=STARTED_AFTER,
                 startup_threshold=STARTUP_THRESHOLD_OK)
    with step("When the app has started up and its liveness probe has run"):
        events = timeline.wait_for(cluster, ns.name, "slow-start", "reader", "liveness", "app", timeout=timeouts.pod_start)
    with step("Then no liveness or readiness probe ran before the startup probe's first success"):
        startup_ok = events.at("startup-ok", "app")
        early = [(e, t) for e in ("liveness", "readiness") for t in events.times(e, "app") if t < startup_ok]
        assert not early, f"probes ran during startup: {early}\n{events}"
        assert startup_ok >= events.at("started", "app"), f"startup probe passed before the app was up:\n{events}"
    with step("And the app was never restarted and becomes Ready"):
        pod = wait_pod(cluster, ns.name, "slow-start", is_ready, timeouts)
        assert pod.container("app").restarts == 0, pod.container("app")


@pytest.mark.claim("S002-109")
def test_container_is_restarted_when_the_startup_probe_never_succeeds(ns, cluster, timeouts):
    """A startup probe failing failureThreshold x periodSeconds in a row gets the container killed and
    restarted; liveness and readiness never ran meanwhile."""
    with step(f"Given an app that never comes up, with a startup probe allowing {STARTUP_THRESHOLD_FAIL} x 1 s"):
        ns.apply("pods/probes/startup.yaml", name="never-up", started_after=3600, startup_threshold=STARTUP_THRESHOLD_FAIL)
    with step("Then the app container is restarted for its failed startup probe"):
        wait_pod(cluster, ns.name, "never-up", restarted_at_least("app", 1), timeouts)
        assert any("failed startup probe, will be restarted" in m for m in _messages(cluster, ns.name, "never-up", "Killing"))
    with step("And its second start came no sooner than the startup probe's budget after the first"):
        events = _timeline_until(cluster, ns.name, "never-up", "reader", lambda t: len(t.times("start", "app")) >= 2, timeouts)
        first, second = events.times("start", "app")[:2]
        assert second - first >= (STARTUP_THRESHOLD_FAIL - 1) * 1, f"restarted before the probe budget ran out:\n{events}"
        assert not events.times("liveness", "app") and not events.times("readiness", "app"), f"probes ran:\n{events}"
