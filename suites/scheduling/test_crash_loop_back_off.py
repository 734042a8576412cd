"""CrashLoopBackOff: a container that keeps ending (its process exits, or a cgroup OOM kills it) is
restarted with a growing back-off and waits in CrashLoopBackOff in between.

Source: seed 000, 2021-02-22~28 › 「Pod异常状态的常见原因」 §6–7 (「Pod 处于 CrashLoopBackOff 状态 -
容器进程主动退出 - 系统 OOM - cgroup OOM」). Upstream: kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#container-restarts
(back-off 10 s, doubling, capped at 300 s; KEP-4603 may shorten it behind alpha gates).
"""
import re
from datetime import datetime

import pytest

from fixtures.pods import container_is, view, wait_pod
from fixtures.polling import eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.requires(images=["busybox"])]

FIRST_BACK_OFF_S = 10  # kubelet initial container restart back-off (doubles each restart)
BACK_OFF = re.compile(r"back-off (\d+s) restarting failed container")


def in_crash_loop(p) -> bool:
    return container_is("main", "waiting", "CrashLoopBackOff")(p)


@pytest.mark.claim("S000-69")
@pytest.mark.slow
def test_container_that_keeps_exiting_is_restarted_after_ever_longer_back_offs(ns, cluster, timeouts):
    """A process that exits (code 1) under restartPolicy: Always is restarted again and again; after the
    first quick restart it waits in CrashLoopBackOff, for 10 s, then 20 s (the kubelet's own message
    says so), and the waits show in the gaps between runs; the pod stays Running."""
    back_offs: list[tuple[int, str]] = []  # (restart count, the back-off the kubelet's message announces)
    ends: set[datetime] = set()

    def observe():
        p = view(cluster, ns.name, "exits")
        main = p.containers.get("main")
        if main is not None:
            ends.update(t for t in (main.last_finished_at, main.finished_at) if t is not None)
            said = BACK_OFF.search(main.message or "") if main.reason == "CrashLoopBackOff" else None
            if said and (main.restarts, said.group(1)) not in back_offs:
                back_offs.append((main.restarts, said.group(1)))
        return p, list(back_offs), sorted(ends)

    with step("Given a container whose process exits with code 1 at once"):
        ns.apply("scheduling/resources/crash-loop.yaml", name="exits", code=1)
    with step("When it has waited out two back-offs"):
        p, said, ended = eventually(observe, until=lambda o: len(o[1]) >= 2 and len(o[2]) >= 4,
                                    timeout=timeouts.restart_backoff, desc="two back-offs and four ends")
    with step(f"Then each back-off the kubelet announced was {FIRST_BACK_OFF_S}s doubling per restart (10 s after the "
              "first restart, 20 s after the second...)"):
        # a back-off state can come and go between two reads on a loaded node: each one read is checked against its restart
        assert all(b == f"{FIRST_BACK_OFF_S * 2 ** (r - 1)}s" for r, b in said), f"(restarts, back-off) announced: {said}"
    with step("And the runs were that far apart: each wait at least its back-off, the second longer"):
        gaps = [(b - a).total_seconds() for a, b in zip(ended, ended[1:])]
        assert gaps[1] >= FIRST_BACK_OFF_S - 1 and gaps[2] >= 2 * FIRST_BACK_OFF_S - 1, f"gaps between ends: {gaps}"
    with step("And meanwhile the pod is Running, its last run ended Error with exit code 1"):
        main = p.container("main")
        assert (main.last_reason, main.last_exit_code, p.phase) == ("Error", 1, "Running"), p


@pytest.mark.claim("S000-69")
def test_container_oom_killed_at_every_start_waits_in_crash_loop_back_off(ns, cluster, timeouts):
    """A cgroup OOM at every start is a crash loop too: the container waits in CrashLoopBackOff and
    its last termination reads OOMKilled (137)."""
    with step("Given a container limited to 32Mi whose only process reads 64 MiB at every start"):
        ns.apply("scheduling/resources/oom-always.yaml", name="oom-always", limit="32Mi")
    with step("Then it waits in CrashLoopBackOff after an OOM kill"):
        p = wait_pod(cluster, ns.name, "oom-always", in_crash_loop, timeouts, desc="oom-always in CrashLoopBackOff")
        main = p.container("main")
        assert (main.last_reason, main.last_exit_code) == ("OOMKilled", 137), main
        assert "back-off" in (main.message or ""), main
