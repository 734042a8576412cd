"""restartPolicy: Always by default; OnFailure restarts only failures; Never never; restarts back off exponentially.

Seed 002 「Pod的恢复机制」: "spec.restartPolicy defaults to Always; OnFailure restarts a container only when
it fails; Never never restarts it". Holds; the kubelet spaces restarts of a crashing container by a
back-off of 10 s doubling each time (capped at 5 min: that cap is not waited for here). Restart times
are read from stamps the container writes at each start (fixtures/timeline.py).
Source: https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#restart-policy
"""
import pytest

from fixtures import timeline
from fixtures.api_calls import create_raw
from fixtures.manifests import render
from fixtures.pods import phase_is, restarted_at_least, view, wait_pod
from fixtures.polling import consistently, eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(images=["busybox"])]

INITIAL_BACKOFF = 10  # kubelet: the back-off starts at 10 s and doubles (MaxContainerBackOff 300 s)


def sync_slack(backoff: float) -> float:
    """A restart happens at the first pod sync after its back-off ends. A pod whose sync hit a back-off is
    requeued every 10 s (before 1.35) or at the back-off's end (from 1.35, kubernetes#133066), with up to
    50 % jitter on that delay; plus a PLEG relist (1 s) and a second of slack."""
    return max(10 * 1.5, backoff * 0.5) + 1 + 1


@pytest.mark.claim("S002-111")
def test_restart_policy_defaults_to_always(ns, cluster):
    """A pod that names no restartPolicy gets Always."""
    with step("When a pod without restartPolicy is created (server-side dry run)"):
        answer = create_raw(cluster, render("pods/images/defaulted.yaml", name="plain", image="busybox:1.36")[0], ns.name, dry_run=True)
    with step("Then the API server defaults restartPolicy to Always"):
        assert answer.status == 201 and answer.body["spec"]["restartPolicy"] == "Always", answer


@pytest.mark.claim("S002-111")
def test_on_failure_restarts_a_failed_container_but_not_a_succeeded_one(ns, cluster, timeouts):
    """OnFailure: a container exiting 1 is restarted; a pod whose containers exit 0 completes without restarts."""
    with step("Given OnFailure pods: 'failing' (a: exit 1, b runs) and 'finishing' (both exit 0)"):
        ns.apply("pods/phases/two-containers.yaml", name="failing", restart_policy="OnFailure", a="exit 1", b="exec sleep 3600")
        ns.apply("pods/phases/two-containers.yaml", name="finishing", restart_policy="OnFailure", a="exit 0", b="exit 0")
    with step("Then the failed container is restarted"):
        wait_pod(cluster, ns.name, "failing", restarted_at_least("a", 1), timeouts)
    with step("And the succeeded pod is Succeeded, nothing restarted, and stays so"):
        wait_pod(cluster, ns.name, "finishing", phase_is("Succeeded"), timeouts)
        consistently(lambda: view(cluster, ns.name, "finishing"), holds=lambda p: p.phase == "Succeeded" and p.restarts == 0,
                     duration=timeouts.short_hold, desc="finishing not restarted")


@pytest.mark.claim("S002-111")
@pytest.mark.slow
def test_restarts_of_a_crashing_container_back_off_10_s_doubling(ns, cluster, timeouts):
    """A container that keeps exiting is restarted after 10 s, then 20 s, then 40 s: CrashLoopBackOff."""
    with step("Given a restartPolicy Always pod whose 'app' stamps its start and exits 1 at once"):
        ns.apply("pods/phases/crash-timeline.yaml", name="crashloop")
    with step("When it has started five times"):
        events = eventually(lambda: timeline.read(cluster, ns.name, "crashloop", "reader"),
                            until=lambda t: len(t.times("start", "app")) >= 5,
                            timeout=timeouts.restart_backoff, desc="five starts of app")
        starts = events.times("start", "app")[:5]
        gaps = [round(b - a, 3) for a, b in zip(starts, starts[1:])]
    # the first restart follows the first exit without a back-off (the kubelet only starts counting then)
    with step(f"Then each later restart waited at least the back-off, {INITIAL_BACKOFF} s doubling: 10, 20, 40 s (gaps {gaps} s)"):
        for n, gap in enumerate(gaps[1:]):
            backoff = INITIAL_BACKOFF * 2 ** n
            assert backoff <= gap <= backoff + sync_slack(backoff), f"restart {n + 2}: waited {gap} s, back-off {backoff} s; gaps {gaps}"
