"""StatefulSet updates: pods owned directly (history in ControllerRevisions), RollingUpdate from the
highest ordinal down one at a time and stopping at a pod that never becomes Ready, partitions,
and OnDelete.

Source: seed 002 「StatefulSet」 (直接管理Pod, 滚动更新, partition, OnDelete) (002_620e0a9d2c440bc2.txt);
kubernetes.io/docs/concepts/workloads/controllers/statefulset/#update-strategies.
"""
import time

import pytest

from fixtures.polling import consistently, eventually, observe_during
from fixtures.pods import view, views, wait_pod
from fixtures.reporting import step
from fixtures.workloads import controller_revisions, replicasets, statefulset, wait_rollout

pytestmark = [pytest.mark.area("controllers"), pytest.mark.requires(images=["agnhost"])]

STS = "controllers/statefulset/web.yaml"
BASE = dict(replicas=3, service="web", policy="Parallel", update_strategy="{type: RollingUpdate}", version="a",
            grace=1, ready_file="/etc/hostname")
PODS = ("web-0", "web-1", "web-2")


def revisions(cluster, ns) -> dict[str, str]:
    """Pod name -> controller-revision-hash label, for pods not being deleted."""
    return {p.name: p.labels.get("controller-revision-hash") for p in views(cluster, ns.name, "app=web") if not p.deleting}


def given_web(ns, cluster, timeouts, **params) -> dict:
    ns.apply(STS, name="web", **{**BASE, **params})
    return wait_rollout(cluster, ns.name, "web", timeouts, kind="StatefulSet")


def update(ns, cluster, timeouts, **params) -> dict:
    """Change the template; return the StatefulSet once it has a new update revision."""
    old = statefulset(cluster, ns.name, "web")["update_revision"]
    ns.apply(STS, name="web", **{**BASE, **params})
    return eventually(lambda: statefulset(cluster, ns.name, "web"), until=lambda s: s["update_revision"] != old,
                      timeout=timeouts.controller_sync, desc="a new update revision")


@pytest.mark.claim("S002-146")
def test_statefulset_pods_are_owned_directly_and_history_is_kept_in_controller_revisions(ns, cluster, timeouts):
    """The pods' controller is the StatefulSet itself (no ReplicaSet); each template is a
    ControllerRevision owned by it; pods carry controller-revision-hash, pod-name and pod-index labels."""
    with step("Given StatefulSet 'web' (3 replicas), then a template change, rolled out"):
        given_web(ns, cluster, timeouts)
        update(ns, cluster, timeouts, version="b")
        sts = wait_rollout(cluster, ns.name, "web", timeouts, kind="StatefulSet")
    with step("Then every pod's controller is the StatefulSet, and there is no ReplicaSet"):
        pods = views(cluster, ns.name, "app=web")
        assert {p.owner for p in pods} == {("StatefulSet", "web")} and replicasets(cluster, ns.name) == [], pods
    with step("And two ControllerRevisions owned by it hold the history, the newest being the current revision"):
        revs = controller_revisions(cluster, ns.name, "app=web")
        assert [(r["owner"], r["revision"]) for r in revs] == [(("StatefulSet", "web"), 1), (("StatefulSet", "web"), 2)], revs
        assert revs[-1]["name"] == sts["current_revision"], (revs, sts)
    with step("And each pod carries its revision hash, its name and its ordinal as labels"):
        for p in pods:
            ordinal = p.name.rsplit("-", 1)[1]
            assert p.labels["controller-revision-hash"] == sts["current_revision"], p.labels
            assert (p.labels["statefulset.kubernetes.io/pod-name"], p.labels["apps.kubernetes.io/pod-index"]) == (p.name, ordinal)


@pytest.mark.claim("S002-148")
def test_rolling_update_goes_from_the_highest_ordinal_down_and_stops_at_a_pod_that_never_gets_ready(ns, cluster, timeouts):
    """RollingUpdate replaces web-2, then web-1, then web-0, each only after the previous replacement
    is Ready; an update whose pod never becomes Ready stops there, lower ordinals keep the old revision."""
    with step("Given an OrderedReady StatefulSet of 3 ready pods"):
        given_web(ns, cluster, timeouts, policy="OrderedReady")
    seen: dict[str, dict[str, float]] = {}

    def sample(new_revision):
        now = time.monotonic()
        for p in views(cluster, ns.name, "app=web"):
            marks = seen.setdefault(p.name, {})
            if p.deleting:
                marks.setdefault("deleting", now)
            elif p.labels.get("controller-revision-hash") == new_revision and p.ready:
                marks.setdefault("updated_ready", now)

    with step("When the template changes, sampling when each pod is deleted and when its replacement is Ready"):
        new = update(ns, cluster, timeouts, policy="OrderedReady", version="b")["update_revision"]
        observe_during(lambda: wait_rollout(cluster, ns.name, "web", timeouts, kind="StatefulSet"), lambda: sample(new))
    with step("Then the pods were replaced in the order web-2, web-1, web-0"):
        assert all({"deleting", "updated_ready"} <= set(seen.get(p, {})) for p in PODS), seen
        assert sorted(PODS, key=lambda p: seen[p]["deleting"]) == ["web-2", "web-1", "web-0"], seen
    with step("And each was deleted only after the higher one's replacement was Ready"):
        for higher, lower in (("web-2", "web-1"), ("web-1", "web-0")):
            assert seen[lower]["deleting"] >= seen[higher]["updated_ready"], f"{lower} replaced too early: {seen}"
    with step("When the template changes to one whose pods never become Ready"):
        before = revisions(cluster, ns)
        bad = update(ns, cluster, timeouts, policy="OrderedReady", version="c", ready_file="/tmp/ready")["update_revision"]
        wait_pod(cluster, ns.name, "web-2", lambda p: p.labels.get("controller-revision-hash") == bad and p.phase == "Running"
                 and not p.deleting, timeouts, desc="web-2 running the bad revision")
    with step("Then web-2 stays unready on the new revision and web-1, web-0 keep the previous one"):
        consistently(lambda: revisions(cluster, ns), holds=lambda r: r == {**before, "web-2": bad},
                     duration=timeouts.short_hold, desc="web-1 and web-0 not updated")
        assert not view(cluster, ns.name, "web-2").ready


@pytest.mark.claim("S002-149")
def test_a_partition_updates_only_ordinals_at_or_above_it_even_when_lower_pods_are_recreated(ns, cluster, timeouts):
    """With partition 2 of 3 replicas, only web-2 gets the new revision; a deleted web-0 comes back on
    the old revision."""
    with step("Given 3 ready pods with RollingUpdate partition 2"):
        given_web(ns, cluster, timeouts, update_strategy="{type: RollingUpdate, rollingUpdate: {partition: 2}}")
    with step("When the template changes"):
        sts = update(ns, cluster, timeouts, update_strategy="{type: RollingUpdate, rollingUpdate: {partition: 2}}", version="b")
        old_hash, new_hash = sts["current_revision"], sts["update_revision"]
    with step("Then web-2 is updated while web-0 and web-1 keep the old revision"):
        want = {"web-0": old_hash, "web-1": old_hash, "web-2": new_hash}
        eventually(lambda: revisions(cluster, ns),
                   until=lambda r: r == want, timeout=timeouts.pod_start, desc="only web-2 updated")
    with step("When web-0 is deleted"):
        uid = view(cluster, ns.name, "web-0").uid
        cluster.core.delete_namespaced_pod("web-0", ns.name)
    with step("Then it is recreated on the old revision"):
        again = wait_pod(cluster, ns.name, "web-0", lambda p: p.uid != uid and p.ready and not p.deleting, timeouts,
                         desc="web-0 recreated")
        assert again.labels["controller-revision-hash"] == old_hash, again.labels


@pytest.mark.claim("S002-150")
def test_on_delete_changes_no_pod_until_it_is_deleted_by_hand(ns, cluster, timeouts):
    """With updateStrategy OnDelete, a template change replaces no pod; a pod deleted by hand comes
    back on the update revision."""
    with step("Given 3 ready pods with updateStrategy OnDelete"):
        given_web(ns, cluster, timeouts, update_strategy="{type: OnDelete}")
        uids = {p.name: p.uid for p in views(cluster, ns.name, "app=web")}
    with step("When the template changes"):
        sts = update(ns, cluster, timeouts, update_strategy="{type: OnDelete}", version="b")
    with step("Then no pod is replaced"):
        consistently(lambda: {p.name: p.uid for p in views(cluster, ns.name, "app=web") if not p.deleting},
                     holds=lambda now: now == uids, duration=timeouts.short_hold, desc="pods untouched")
    with step("When web-1 is deleted"):
        cluster.core.delete_namespaced_pod("web-1", ns.name)
    with step("Then web-1 comes back on the update revision, the others stay on the current one"):
        again = wait_pod(cluster, ns.name, "web-1", lambda p: p.uid != uids["web-1"] and p.ready and not p.deleting,
                         timeouts, desc="web-1 recreated")
        assert again.labels["controller-revision-hash"] == sts["update_revision"], (again.labels, sts)
        assert {n: h for n, h in revisions(cluster, ns).items() if n != "web-1"} == {
            "web-0": sts["current_revision"], "web-2": sts["current_revision"]}
