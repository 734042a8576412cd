"""The PID 1 problem: a main process without a SIGTERM handler ignores the kubelet's SIGTERM when it is PID 1.

Seed 001 2021-04-12~18 › 避免 Docker / Kubernetes 的 PID 1 问题: "even when SIGTERM is sent to the container,
the process inside does not end"; Kubernetes solves it with `shareProcessNamespace` (then /pause is PID 1).
Both hold: `sleep` as PID 1 outlives SIGTERM, so deletion waits the whole grace period and ends with
SIGKILL (137); the same `sleep` beside /pause dies of SIGTERM at once (143).
Timing: the end is observed through a watch on the pod (the kubelet reports the terminated state before
the object goes away) and from the API's own stamps (finishedAt against the delete request's time).
Source: https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination
"""
import time
from dataclasses import dataclass

import pytest

from fixtures.pods import delete_and_watch_final, is_ready, wait_pod
from fixtures.reporting import step

pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(images=["busybox"])]

GRACE = 6  # seconds: long enough to tell "waited for the grace" from "ended at once" at 1 s API granularity
STAMP_GRANULARITY = 1  # deletionTimestamp and finishedAt are whole seconds


@dataclass(frozen=True)
class Ending:
    exit_code: int
    reason: str
    stamped_after: float  # the container's finishedAt (whole seconds) minus the delete request's time
    seen_after: float  # by the test's clock: delete call -> terminated state seen on the watch


def _start(ns, cluster, timeouts, name: str, share: bool) -> None:
    ns.apply("pods/pid1/sleeper.yaml", name=name, share=share, grace=GRACE)
    wait_pod(cluster, ns.name, name, is_ready, timeouts)


def _delete_and_watch_end(ns, cluster, timeouts, name: str) -> Ending:
    asked, t0 = time.time(), time.monotonic()
    app = delete_and_watch_final(cluster, ns.name, name, timeouts).container("app")
    return Ending(app.exit_code, app.reason, app.finished_at.timestamp() - asked, time.monotonic() - t0)


@pytest.mark.claim("S001-22")
def test_sleep_as_pid_1_ignores_sigterm_so_deletion_waits_the_grace_period_and_kills_it(ns, cluster, timeouts):
    """PID 1 without a handler ignores SIGTERM: the container ends only at the grace period's SIGKILL (137)."""
    with step(f"Given a pod whose PID 1 is `sleep 3600`, grace period {GRACE} s"):
        _start(ns, cluster, timeouts, "pid1", share=False)
    with step("When the pod is deleted"):
        end = _delete_and_watch_end(ns, cluster, timeouts, "pid1")
    with step(f"Then the container ended only after the whole grace period ({GRACE} s), killed by SIGKILL (137)"):
        assert end.exit_code == 137, end
        assert end.stamped_after >= GRACE - STAMP_GRANULARITY and end.seen_after >= GRACE - STAMP_GRANULARITY, end


@pytest.mark.claim("S001-22", "S000-62")
def test_with_a_shared_process_namespace_the_same_sleep_dies_of_sigterm_at_once(ns, cluster, timeouts):
    """With shareProcessNamespace, /pause is PID 1 and sleep is not: SIGTERM kills it at once (143)."""
    with step(f"Given the same pod with shareProcessNamespace: true, grace period {GRACE} s"):
        _start(ns, cluster, timeouts, "not-pid1", share=True)
    with step("When the pod is deleted"):
        end = _delete_and_watch_end(ns, cluster, timeouts, "not-pid1")
    with step("Then the container ended of SIGTERM (143), well inside the grace period"):
        assert end.exit_code == 143, end
        assert end.stamped_after < GRACE / 2, end
