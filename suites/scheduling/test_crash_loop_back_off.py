"""CrashLoopBackOff: a container that keeps ending (its process exits, or a cgroup OOM kills it) is
restarted with a growing back-off and waits in CrashLoopBackOff in between.

Source: seed 000, 2021-02-22~28 › 「Pod异常状态的常见原因」 §6–7 (「Pod 处于 CrashLoopBackOff 状态 -
容器进程主动退出 - 系统 OOM - cgroup OOM」). Upstream: kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#container-restarts
(back-off 10 s, doubling, capped at 300 s; KEP-4603 may shorten it behind alpha gates). From 1.35 the
kubelet's pod worker sleeps until a back-off expires (kubernetes#133066), so the waiting reason
CrashLoopBackOff reaches the API only if the pod syncs meanwhile: back-offs are measured from the
container's own timestamps, and the kubelet's BackOff events say it backed off.
"""
import re

import pytest

from fixtures.pods import backing_off, events_of, restart_gaps, view, wait_pod
from fixtures.polling import eventually
from fixtures.reporting import step
from fixtures.runtime import KUBELET_OOM_REASONS, container_end

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.requires(images=["busybox"])]

FIRST_BACK_OFF_S = 10  # kubelet initial container restart back-off (doubles each restart)
BACK_OFF = re.compile(r"back-off (\d+s) restarting failed container")


@pytest.mark.claim("S000-69")
@pytest.mark.slow
def test_container_that_keeps_exiting_is_restarted_after_ever_longer_back_offs(ns, cluster, timeouts):
    """A process that exits (code 1) under restartPolicy: Always is restarted again and again: the first
    time at once, then after a back-off of 10 s, then 20 s, measured from one run's end to the next run's
    start; the kubelet records a BackOff event each time (and, when its waiting reason is published, the
    message announces that back-off); the pod stays Running."""
    gaps = restart_gaps("main")
    announced: set[tuple[int, str]] = set()  # (restart count, the back-off the kubelet's waiting message announces)

    def observe():
        p = view(cluster, ns.name, "exits")
        main = p.containers.get("main")
        said = BACK_OFF.search(main.message or "") if main is not None and main.reason == "CrashLoopBackOff" else None
        if said:
            announced.add((main.restarts, said.group(1)))
        return p, gaps(p)

    with step("Given a container whose process exits with code 1 at once"):
        ns.apply("scheduling/resources/crash-loop.yaml", name="exits", code=1)
    with step("When it has been restarted three times"):
        p, waited = eventually(observe, until=lambda o: {2, 3} <= o[1].keys(), timeout=timeouts.restart_backoff,
                               desc="the waits before restarts 2 and 3")
    with step(f"Then the first restart came at once, the second after {FIRST_BACK_OFF_S} s, the third after twice that"):
        assert waited.get(1, 0) < FIRST_BACK_OFF_S - 1, f"seconds waited before each restart: {waited}"
        assert waited[2] >= FIRST_BACK_OFF_S - 1 and waited[3] >= 2 * FIRST_BACK_OFF_S - 1 and waited[3] > waited[2], \
            f"seconds waited before each restart: {waited}"
    with step("And the kubelet said it was backing off: a BackOff event per back-off, each announced back-off 10 s doubling"):
        backed_off = sum(e.count or 1 for e in events_of(cluster, ns.name, "exits") if e.reason == "BackOff")
        assert backed_off >= 2, f"BackOff events: {backed_off}"
        assert all(b == f"{FIRST_BACK_OFF_S * 2 ** (r - 1)}s" for r, b in announced), f"(restarts, back-off) announced: {announced}"
    with step("And meanwhile the pod is Running, its last run ended Error with exit code 1"):
        main = p.container("main")
        assert (main.last_reason, main.last_exit_code, p.phase) == ("Error", 1, "Running"), p


@pytest.mark.claim("S000-69")
@pytest.mark.requires(node_access=True)
def test_container_oom_killed_at_every_start_waits_in_crash_loop_back_off(ns, cluster, timeouts):
    """A cgroup OOM at every start is a crash loop too: the container waits in CrashLoopBackOff and its
    latest run ended in an OOM kill (137; the kernel's log records it; the reason reads OOMKilled, or Error
    when containerd's OOM event trails the exit or is lost: fixtures/runtime.py)."""
    with step("Given a container limited to 32Mi whose only process reads 64 MiB at every start"):
        ns.apply("scheduling/resources/oom-always.yaml", name="oom-always", limit="32Mi")
    with step("Then it waits in CrashLoopBackOff after an OOM kill"):
        p = wait_pod(cluster, ns.name, "oom-always", backing_off(cluster, ns.name, "oom-always", "main"), timeouts,
                     desc="oom-always in CrashLoopBackOff")
        main = p.container("main")
        if main.state == "terminated":
            reason, code, cid = main.reason, main.exit_code, main.container_id
        else:
            reason, code, cid = main.last_reason, main.last_exit_code, main.last_container_id
        assert code == 137 and reason in KUBELET_OOM_REASONS, main
    with step("And the kernel's OOM killer ended that run: its log names the container's memory cgroup"):
        end = container_end(cluster, p.node, cid)
        assert end.oom_killed, end
