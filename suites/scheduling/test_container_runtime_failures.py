"""Containers that fail after creation (seed 003 「初始化失败」, 「回调失败」, 「存活探针失败」, 「容器退出」):
a failing init container blocks the app (Init:Error / Init:CrashLoopBackOff); a failing postStart hook,
which runs beside the entrypoint, gets the container killed and restarted; a failing liveness probe
and a main process that ends (even with 0, even by daemonizing) restart the container with a growing
back-off while the pod stays Running; shells report 126 (not executable) and 127 (not found).

Source: kubernetes.io/docs/concepts/workloads/pods/init-containers/, /sidecar-containers/,
/containers/container-lifecycle-hooks/, /pods/pod-lifecycle/#container-restarts (back-off 10 s,
doubling, capped at 300 s).
"""

import pytest

from fixtures.podexec import exec_in
from fixtures.pods import backing_off, events_of, phase_is, restart_gaps, restarted_at_least, view, wait_pod
from fixtures.polling import consistently, eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.requires(images=["busybox"])]

AT_ONCE_S = 5  # a restart without back-off (the first back-off is 10 s)

def _kubectl_status(cluster, namespace: str, pod: str) -> str:
    """The STATUS column `kubectl get pod` prints."""
    return cluster.kubectl("get", "pod", pod, "-n", namespace, "--no-headers").stdout.split()[2]

@pytest.mark.claim("S003-048", "S003-028")
def test_failing_init_container_blocks_the_app_and_shows_as_init_error_or_crash_loop(ns, cluster, timeouts):
    """An init container that fails keeps the app container from ever starting: with restartPolicy
    Always it is retried (kubectl shows Init:Error / Init:CrashLoopBackOff, phase Pending); with
    restartPolicy Never the pod fails (Init:Error, phase Failed)."""
    with step("When a pod's init container exits 1, once with restartPolicy Always and once with Never"):
        ns.apply("scheduling/pod-failures/pod-init-fails.yaml", name="retried", restart="Always")
        ns.apply("scheduling/pod-failures/pod-init-fails.yaml", name="given-up", restart="Never")
    with step("Then the retried pod's init container restarts while the app waits, phase Pending"):
        p = wait_pod(cluster, ns.name, "retried", restarted_at_least("init", 1), timeouts)
        assert p.phase == "Pending" and not p.container("app").started and p.container("app").state == "waiting", p
        shown = eventually(lambda: _kubectl_status(cluster, ns.name, "retried"),
                           until=lambda s: s in ("Init:Error", "Init:CrashLoopBackOff"), timeout=timeouts.crash_backoff,
                           desc="kubectl STATUS Init:Error or Init:CrashLoopBackOff")
        assert shown.startswith("Init:"), shown
    with step("And the given-up pod failed, kubectl showing Init:Error, its app never started"):
        p = wait_pod(cluster, ns.name, "given-up", phase_is("Failed"), timeouts)
        assert not p.container("app").started and p.container("init").exit_code == 1, p
        assert _kubectl_status(cluster, ns.name, "given-up") == "Init:Error"

@pytest.mark.claim("S003-048")
def test_native_sidecar_is_the_init_container_that_is_restarted_beside_the_app(ns, cluster, timeouts):
    """Init containers run once, except native sidecars (restartPolicy: Always): one that exits is
    restarted while the app keeps running, unrestarted."""
    with step("When a pod's native sidecar exits after a second"):
        ns.apply("scheduling/pod-failures/pod-sidecar-exits.yaml", name="sidecar")
    with step("Then the sidecar is restarted while the app runs on, never restarted"):
        p = wait_pod(cluster, ns.name, "sidecar", restarted_at_least("sidecar", 1), timeouts, budget="crash_backoff")
        app = p.container("app")
        assert app.running and app.restarts == 0 and p.phase == "Running", p

@pytest.mark.claim("S003-049")
def test_failing_post_start_hook_runs_beside_the_entrypoint_and_gets_the_container_restarted(ns, cluster, timeouts):
    """The postStart hook runs while the entrypoint already runs (the first hook saw the token the
    first entrypoint wrote), and when it fails the kubelet kills the container (FailedPostStartHook)
    and, under restartPolicy Always, starts it again."""
    with step("When a container's postStart hook waits for the entrypoint's token, records it, then exits 1"):
        ns.apply("scheduling/pod-failures/pod-poststart-fails.yaml", name="hooked")
    with step("Then the kubelet reports FailedPostStartHook and restarts the container"):
        eventually(lambda: [e.reason for e in events_of(cluster, ns.name, "hooked")],
                   until=lambda rs: "FailedPostStartHook" in rs, timeout=timeouts.pod_start, desc="FailedPostStartHook event")
        wait_pod(cluster, ns.name, "hooked", restarted_at_least("app", 1), timeouts, budget="crash_backoff")
    with step("And the first hook saw the first entrypoint's token: the hook ran while the entrypoint ran"):
        logs = exec_in(cluster, ns.name, "hooked", "observer", ["sh", "-c", "head -n1 /shared/entrypoints; head -n1 /shared/hooks"])
        first_entry, first_hook = (logs.stdout.split("\n") + ["", ""])[:2]
        assert first_entry and first_hook == f"saw {first_entry}", logs.stdout

@pytest.mark.claim("S003-053")
@pytest.mark.slow
def test_failing_liveness_probe_restarts_the_container_with_growing_back_off_while_the_pod_runs(ns, cluster, timeouts):
    """A container whose liveness probe always fails is killed and restarted again and again: the first
    restarts at once (the kubelet kills and restarts it in one sync), then after a back-off that grows,
    10 s, then 20 s (measured from one run's end to the next run's start); between runs the kubelet backs
    off (CrashLoopBackOff), while the pod's phase stays Running."""
    gaps = restart_gaps("app")
    backing = backing_off(cluster, ns.name, "unhealthy", "app")
    states: set[str] = set()
    phases: set[str] = set()

    def observe():
        p = view(cluster, ns.name, "unhealthy")
        c = p.containers.get("app")
        if c is not None and (c.running or c.restarts):  # from the first start on
            phases.add(p.phase)
            states.add("Running" if c.running else "CrashLoopBackOff" if backing(p) else str(c.reason))
        return gaps(p)

    def backed_off(waited: dict[int, float]) -> list[float]:  # at once: the kill and restart take a second or two
        return [w for _, w in sorted(waited.items()) if w >= AT_ONCE_S]

    with step("When a container's liveness probe fails every second"):
        ns.apply("scheduling/pod-failures/pod-liveness-failing.yaml", name="unhealthy")
    with step("Then after restarts at once it waits 10 s before one restart and 20 s before the next"):
        waited = eventually(observe, until=lambda g: len(backed_off(g)) >= 2 and "CrashLoopBackOff" in states,
                            timeout=timeouts.crash_backoff, desc="two backed-off restarts, a back-off seen")
        first, second = backed_off(waited)[:2]
        at_once = [r for r, w in waited.items() if w < AT_ONCE_S]
        assert at_once and max(at_once) < min(r for r, w in waited.items() if w >= AT_ONCE_S), f"seconds waited before each restart: {waited}"
        assert first >= 9 and second >= 19 and second > first, f"seconds waited before each restart: {waited}"
    with step("And its state swung between Running and CrashLoopBackOff while the phase stayed Running"):
        assert {"Running", "CrashLoopBackOff"} <= states, states
        assert phases == {"Running"}, phases
        assert any(e.reason == "Unhealthy" for e in events_of(cluster, ns.name, "unhealthy"))

@pytest.mark.claim("S003-054", "S003-028")
def test_main_process_that_ends_or_daemonizes_is_restarted_into_crash_loop_back_off(ns, cluster, timeouts):
    """With restartPolicy Always a main process that exits 0, or that puts its work in the background
    with nohup and returns, ends the container: it is restarted and then waits in CrashLoopBackOff."""
    with step("When one container exits 0 and another runs 'nohup sleep 3600 &' and returns"):
        ns.apply("scheduling/pod-failures/pod-command.yaml", name="exits-zero", restart="Always",
                 command='["sh", "-c", "exit 0"]')
        ns.apply("scheduling/pod-failures/pod-command.yaml", name="daemonizes", restart="Always",
                 command='["sh", "-c", "nohup sleep 3600 > /dev/null 2>&1 &"]')
    for name in ("exits-zero", "daemonizes"):
        with step(f"Then {name} ended Completed (exit 0), was restarted and waits in CrashLoopBackOff"):
            p = wait_pod(cluster, ns.name, name, backing_off(cluster, ns.name, name, "app"), timeouts,
                         budget="crash_backoff")
            c = p.container("app")
            assert (c.last_reason, c.last_exit_code) == ("Completed", 0) and c.restarts >= 1 and p.phase == "Running", c

@pytest.mark.claim("S003-054", "S003-028")
def test_shell_reports_126_for_a_command_without_execute_permission_and_127_for_a_missing_one(ns, cluster, timeouts):
    """A start command run by a shell that is not executable ends with 126, one not on PATH with 127
    (a command the runtime itself cannot find fails with 128, see the start-failure test)."""
    with step("When one shell runs a file without execute permission and another a command that does not exist"):
        ns.apply("scheduling/pod-failures/pod-command.yaml", name="not-executable", restart="Never",
                 command='["sh", "-c", "echo true > /tmp/x; /tmp/x"]')
        ns.apply("scheduling/pod-failures/pod-command.yaml", name="not-found", restart="Never",
                 command='["sh", "-c", "no-such-command"]')
    for name, code in (("not-executable", 126), ("not-found", 127)):
        with step(f"Then {name} ends Error with exit code {code}"):
            p = wait_pod(cluster, ns.name, name, phase_is("Failed"), timeouts)
            c = p.container("app")
            assert (c.reason, c.exit_code) == ("Error", code), c
    with step("And a failed pod stays Failed: restartPolicy Never does not restart it"):
        consistently(lambda: view(cluster, ns.name, "not-found").restarts, holds=lambda n: n == 0,
                     duration=timeouts.short_hold, desc="no restart")
