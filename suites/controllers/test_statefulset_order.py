"""StatefulSet pod management: OrderedReady creates pod n+1 only once pod n is Ready, Parallel
creates all at once, and scale-down removes the highest ordinal first, each after the previous
one has fully terminated. The ordering is the controller's: no init container is injected.

Source: seed 002 「StatefulSet」 (002_620e0a9d2c440bc2.txt), seed 003 「StatefulSet」 (有序部署, 有序收缩)
(003_d8925e36aedd8024.txt); kubernetes.io/docs/concepts/workloads/controllers/statefulset/#deployment-and-scaling-guarantees.
"""
import time

import pytest

from fixtures.podexec import exec_in
from fixtures.polling import consistently, eventually, observe_during
from fixtures.pods import container_is, views, wait_pod
from fixtures.reporting import step
from fixtures.workloads import scale, wait_rollout

pytestmark = [pytest.mark.area("controllers"), pytest.mark.requires(images=["agnhost"])]

STS = "controllers/statefulset/web.yaml"
BASE = dict(replicas=3, service="web", policy="OrderedReady", update_strategy="{type: RollingUpdate}", version="a",
            grace=1, ready_file="/etc/hostname")


def pods(cluster, ns) -> dict:
    return {p.name: p for p in views(cluster, ns.name, "app=web")}


def make_ready(cluster, ns, pod: str) -> None:
    res = exec_in(cluster, ns.name, pod, "app", ["touch", "/tmp/ready"])
    assert res.returncode == 0, res


@pytest.mark.claim("S002-147", "S003-075")
def test_ordered_ready_creates_the_next_pod_only_after_the_previous_one_is_ready(ns, cluster, timeouts):
    """With OrderedReady, web-1 is not created while web-0 is not Ready, and appears once web-0 is
    Ready; the same for web-2 after web-1. The pods carry no injected init container: ordering is the
    controller's doing (the document says init containers implement it)."""
    with step("Given a 3-replica OrderedReady StatefulSet whose pods are Ready only once /tmp/ready exists"):
        ns.apply(STS, name="web", **{**BASE, "ready_file": "/tmp/ready"})
        eventually(lambda: pods(cluster, ns), until=lambda ps: "web-0" in ps and ps["web-0"].phase == "Running",
                   timeout=timeouts.pod_start, desc="web-0 running")
    with step("Then while web-0 is running but not Ready, web-1 is not created"):
        consistently(lambda: pods(cluster, ns), holds=lambda ps: set(ps) == {"web-0"} and not ps["web-0"].ready,
                     duration=timeouts.short_hold, desc="only web-0, not ready")
    with step("And web-0 has no init containers (the template has none, none was injected)"):
        assert not cluster.core.read_namespaced_pod("web-0", ns.name).spec.init_containers

    for n in (0, 1):
        this, following = f"web-{n}", f"web-{n + 1}"
        with step(f"When {this} becomes Ready, sampling both pods until {following} exists"):
            wait_pod(cluster, ns.name, this, container_is("app", "running"), timeouts)
            make_ready(cluster, ns, this)
            _, samples = observe_during(
                lambda: eventually(lambda: pods(cluster, ns), until=lambda ps: following in ps, timeout=timeouts.pod_start,
                                   desc=f"{following} created"),
                lambda: (lambda ps: (this in ps and ps[this].ready, following in ps))(pods(cluster, ns)))
        with step(f"Then {following} was created, and never seen while {this} was not Ready"):
            assert samples[-1][1], samples
            assert not [s for s in samples if s[1] and not s[0]], f"{following} existed while {this} was not ready: {samples}"
        with step(f"And its creation time is not before {this}'s Ready transition"):
            ps = pods(cluster, ns)
            assert ps[following].created >= ps[this].since["Ready"], (ps[following].created, ps[this].since)


@pytest.mark.claim("S002-147")
def test_parallel_creates_every_pod_without_waiting_for_readiness(ns, cluster, timeouts):
    """With podManagementPolicy Parallel, all pods are created at once: 3 pods exist while none is Ready."""
    with step("Given a 3-replica Parallel StatefulSet whose pods never become Ready"):
        ns.apply(STS, name="web", **{**BASE, "policy": "Parallel", "ready_file": "/tmp/ready"})
    with step("Then web-0, web-1 and web-2 all exist and run although none is Ready"):
        eventually(lambda: pods(cluster, ns), until=lambda ps: sorted(ps) == ["web-0", "web-1", "web-2"]
                   and all(p.phase == "Running" for p in ps.values()), timeout=timeouts.pod_start, desc="3 running pods")
        assert not any(p.ready for p in pods(cluster, ns).values())


@pytest.mark.claim("S003-076")
def test_scale_down_removes_the_highest_ordinal_first_each_after_the_previous_has_terminated(ns, cluster, timeouts):
    """Scaling an OrderedReady StatefulSet to 0 deletes web-2, then web-1, then web-0, each only after
    the previous pod is gone (its 2 s grace period included: the containers ignore SIGTERM)."""
    with step("Given 3 ready pods that take their full 2 s grace period to terminate"):
        ns.apply(STS, name="web", **{**BASE, "grace": 2})
        wait_rollout(cluster, ns.name, "web", timeouts, kind="StatefulSet")
    seen: dict[str, dict[str, float]] = {}

    def sample():
        now, ps = time.monotonic(), pods(cluster, ns)
        for name in ("web-0", "web-1", "web-2"):
            marks = seen.setdefault(name, {})
            if name in ps and ps[name].deleting:
                marks.setdefault("deleting", now)
            if name not in ps:
                marks.setdefault("gone", now)
        return sorted(ps)

    with step("When the StatefulSet is scaled to 0, sampling when each pod starts terminating and when it is gone"):
        scale(cluster, ns.name, "web", 0, kind="StatefulSet")
        observe_during(lambda: eventually(lambda: pods(cluster, ns), until=lambda ps: not ps, timeout=timeouts.pod_start,
                                          desc="every pod gone"), sample)
    with step("Then web-2 terminated first, then web-1, then web-0"):
        assert all("deleting" in seen[n] and "gone" in seen[n] for n in seen), seen
        order = sorted(seen, key=lambda n: seen[n]["deleting"])
        assert order == ["web-2", "web-1", "web-0"], seen
    with step("And each began terminating only after the previous one was gone"):
        for higher, lower in (("web-2", "web-1"), ("web-1", "web-0")):
            assert seen[lower]["deleting"] >= seen[higher]["gone"], f"{lower} terminated before {higher} was gone: {seen}"
