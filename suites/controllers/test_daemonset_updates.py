"""DaemonSet updates and deletion: rolling updates node by node (maxUnavailable 1, maxSurge 0 by
default; with maxSurge the new pod starts first), orphaned pods adopted and replaced by a new
DaemonSet unless it is OnDelete, what may be edited on a daemon pod, cascading deletes.

Source: seed 003 「DaemonSet」 (更新DaemonSet, 删除) (003_d8925e36aedd8024.txt);
kubernetes.io/docs/tasks/manage-daemon/update-daemon-set/, .../concepts/architecture/garbage-collection/.
"""
import time

import pytest

from fixtures.api_calls import answer_of
from fixtures.polling import consistently, eventually, observe_during
from fixtures.pods import views
from fixtures.reporting import step
from fixtures.workloads import wait_rollout

pytestmark = [pytest.mark.area("controllers"), pytest.mark.requires(images=["agnhost"])]

DS = "controllers/daemonset/ds.yaml"
BASE = dict(update_strategy="{type: RollingUpdate}", version="a", node_selector="{}", tolerations="[]")


def per_node(cluster, ns) -> dict[str, list[tuple[str, bool]]]:
    """Node -> [(version label of the pod's template, ready)] of the live daemon pods."""
    out: dict[str, list[tuple[str, bool]]] = {}
    for p in cluster.core.list_namespaced_pod(ns.name, label_selector="app=ds").items:
        if p.metadata.deletion_timestamp or not p.spec.node_name:
            continue
        ready = any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        out.setdefault(p.spec.node_name, []).append(((p.metadata.annotations or {}).get("kubeproof.io/version"), ready))
    return out


def ds_gone(cluster, ns, timeouts) -> None:
    """Wait until no DaemonSet object is left (an orphaning delete finishes after its pods are released)."""
    eventually(lambda: cluster.apps.list_namespaced_daemon_set(ns.name).items, until=lambda items: items == [],
               timeout=timeouts.controller_sync, desc="DaemonSet object deleted")


def roll(ns, cluster, timeouts, strategy: str):
    """Roll the DaemonSet from version a to b; return the per-node samples taken meanwhile."""
    ns.apply(DS, name="ds", **{**BASE, "update_strategy": strategy})
    wait_rollout(cluster, ns.name, "ds", timeouts, kind="DaemonSet")
    nodes = sorted(per_node(cluster, ns))
    ns.apply(DS, name="ds", **{**BASE, "update_strategy": strategy, "version": "b"})
    _, samples = observe_during(lambda: eventually(lambda: per_node(cluster, ns), timeout=timeouts.pod_start,
                                                   until=lambda m: sorted(m) == nodes and all(v == [("b", True)] for v in m.values()),
                                                   desc="every node runs one ready pod of version b"),
                                lambda: per_node(cluster, ns))
    return nodes, samples


@pytest.mark.claim("S003-086")
def test_default_rolling_update_replaces_daemon_pods_one_node_at_a_time(ns, cluster, timeouts):
    """The default RollingUpdate (maxUnavailable 1, maxSurge 0) replaces pods node by node: never two
    pods on a node, never more than one node without a ready pod."""
    with step("Given a DaemonSet with the default update strategy"):
        ns.apply(DS, name="ds", **BASE)
        strategy = cluster.apps.read_namespaced_daemon_set("ds", ns.name).spec.update_strategy
        assert (strategy.type, strategy.rolling_update.max_unavailable, strategy.rolling_update.max_surge) == ("RollingUpdate", 1, 0)
    with step("When its template changes, sampling each node's daemon pods until all run version b"):
        nodes, samples = roll(ns, cluster, timeouts, "{type: RollingUpdate}")
    with step("Then no node ever had two daemon pods"):
        assert all(len(v) <= 1 for s in samples for v in s.values()), [s for s in samples if any(len(v) > 1 for v in s.values())][:3]
    with step("And at most one node at a time lacked a ready pod, and some node did (it went node by node)"):
        down = [sum(1 for n in nodes if not any(r for _, r in s.get(n, []))) for s in samples]
        assert max(down) == 1, down


@pytest.mark.claim("S003-086")
def test_with_max_surge_the_new_daemon_pod_is_ready_before_the_old_one_goes(ns, cluster, timeouts):
    """With maxSurge 1 and maxUnavailable 0 the new pod starts next to the old one: a node runs two
    daemon pods for a while, and no node is ever without a ready pod."""
    with step("When a DaemonSet with maxSurge 1, maxUnavailable 0 changes its template"):
        nodes, samples = roll(ns, cluster, timeouts, "{type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}")
    with step("Then at some point a node ran the old and the new pod together"):
        assert any(len(v) == 2 for s in samples for v in s.values()), samples[:5]
    with step("And every node always had a ready pod"):
        assert all(any(r for _, r in s.get(n, [])) for s in samples for n in nodes), samples


def orphan_pods(ns, cluster, timeouts, *versions: str) -> set[str]:
    """Roll DaemonSet 'ds' through `versions`, then delete it with kubectl --cascade=false; the orphans' uids."""
    for version in versions:
        ns.apply(DS, name="ds", **{**BASE, "version": version})
        wait_rollout(cluster, ns.name, "ds", timeouts, kind="DaemonSet")
    before = {p.uid for p in views(cluster, ns.name, "app=ds")}
    out = cluster.kubectl("-n", ns.name, "delete", "daemonset", "ds", "--cascade=false")
    assert "deprecated" in out.stderr and "--cascade=orphan" in out.stderr, out.stderr
    ds_gone(cluster, ns, timeouts)
    eventually(lambda: views(cluster, ns.name, "app=ds"), until=lambda ps: {p.uid for p in ps} == before
               and all(p.owner is None and p.ready for p in ps), timeout=timeouts.controller_sync, desc="orphaned pods running")
    return before


@pytest.mark.claim("S003-085")
def test_a_new_daemonset_adopts_orphans_and_keeps_them_when_their_template_generation_matches_its_own(ns, cluster, timeouts):
    """The document: a new DaemonSet with another template recognises the orphans by label and neither
    modifies nor deletes them. It holds when the orphans' pod-template-generation equals the new
    DaemonSet's generation (both 1 here): the controller counts such pods as up to date whatever their
    template hash, so even RollingUpdate leaves them. `--cascade=false` is deprecated for orphan."""
    with step("Given DaemonSet 'ds' (version a, generation 1) deleted with kubectl --cascade=false"):
        before = orphan_pods(ns, cluster, timeouts, "a")
    with step("When a RollingUpdate DaemonSet with the same selector and template version b is created"):
        ns.apply(DS, name="ds", **{**BASE, "version": "b"})
    with step("Then it adopts the same pods and leaves them on version a"):
        eventually(lambda: views(cluster, ns.name, "app=ds"), until=lambda ps: all(p.owner == ("DaemonSet", "ds") for p in ps),
                   timeout=timeouts.controller_sync, desc="pods adopted")
        consistently(lambda: {(p.uid, p.labels.get("pod-template-generation")) for p in views(cluster, ns.name, "app=ds")},
                     holds=lambda s: s == {(uid, "1") for uid in before}, duration=timeouts.short_hold, desc="pods kept")
        assert cluster.apps.read_namespaced_daemon_set("ds", ns.name).metadata.generation == 1


@pytest.mark.claim("S003-085")
def test_a_new_rolling_update_daemonset_replaces_orphans_of_another_template_generation(ns, cluster, timeouts):
    """When the orphans come from a later template generation (the old DaemonSet was updated once), the
    new DaemonSet (generation 1) adopts them and, being RollingUpdate, replaces them with its template."""
    with step("Given DaemonSet 'ds' updated once (version a then a2: generation 2), deleted with --cascade=false"):
        before = orphan_pods(ns, cluster, timeouts, "a", "a2")
    with step("When a RollingUpdate DaemonSet with the same selector and template version b is created"):
        ns.apply(DS, name="ds", **{**BASE, "version": "b"})
    with step("Then every orphan is replaced by a version-b pod"):
        eventually(lambda: per_node(cluster, ns), until=lambda m: len(m) == len(before) and all(v == [("b", True)] for v in m.values()),
                   timeout=timeouts.pod_start, desc="version b everywhere")
        assert not {p.uid for p in views(cluster, ns.name, "app=ds") if not p.deleting} & before


@pytest.mark.claim("S003-085")
def test_an_on_delete_daemonset_adopts_orphaned_pods_without_replacing_them(ns, cluster, timeouts):
    """With updateStrategy OnDelete, the new DaemonSet adopts orphaned pods of another template and
    leaves them running."""
    with step("Given DaemonSet 'ds' version a, orphan-deleted"):
        ns.apply(DS, name="ds", **BASE)
        wait_rollout(cluster, ns.name, "ds", timeouts, kind="DaemonSet")
        before = {p.uid for p in views(cluster, ns.name, "app=ds")}
        cluster.apps.delete_namespaced_daemon_set("ds", ns.name, propagation_policy="Orphan")
        ds_gone(cluster, ns, timeouts)
        eventually(lambda: views(cluster, ns.name, "app=ds"), until=lambda ps: all(p.owner is None for p in ps),
                   timeout=timeouts.controller_sync, desc="pods ownerless")
    with step("When an OnDelete DaemonSet with template version b is created"):
        ns.apply(DS, name="ds", **{**BASE, "version": "b", "update_strategy": "{type: OnDelete}"})
    with step("Then it adopts the same pods and leaves them on version a"):
        eventually(lambda: views(cluster, ns.name, "app=ds"), until=lambda ps: all(p.owner == ("DaemonSet", "ds") for p in ps),
                   timeout=timeouts.controller_sync, desc="pods adopted")
        consistently(lambda: {p.uid for p in views(cluster, ns.name, "app=ds") if not p.deleting}, holds=lambda u: u == before,
                     duration=timeouts.short_hold, desc="pods kept")


@pytest.mark.claim("S003-084")
@pytest.mark.requires(images=["busybox"])
def test_a_daemon_pod_takes_only_mutable_edits_and_its_replacement_uses_the_template(ns, cluster, images, timeouts):
    """A daemon pod's image can be patched, its env cannot (422); a replacement pod is made from the
    DaemonSet's template, discarding the manual edit."""
    with step("Given a DaemonSet's pod"):
        ns.apply(DS, name="ds", **BASE)
        wait_rollout(cluster, ns.name, "ds", timeouts, kind="DaemonSet")
        pod = views(cluster, ns.name, "app=ds")[0]
    with step("When its image is patched, then the API accepts it"):
        patched = answer_of(lambda: cluster.core.patch_namespaced_pod(pod.name, ns.name, {"spec": {"containers": [
            {"name": "app", "image": images["busybox"]}]}}))
        assert patched.status == 200 and patched.body["spec"]["containers"][0]["image"] == images["busybox"], patched
    with step("And patching its env is refused with 422"):
        refused = answer_of(lambda: cluster.core.patch_namespaced_pod(pod.name, ns.name, {"spec": {"containers": [
            {"name": "app", "env": [{"name": "VERSION", "value": "edited"}]}]}}))
        assert refused.status == 422 and "Forbidden: pod updates may not change fields" in refused.message, refused
    with step("When the pod is deleted, then its replacement runs the template's image again"):
        cluster.core.delete_namespaced_pod(pod.name, ns.name)
        again = eventually(lambda: [p for p in views(cluster, ns.name, "app=ds") if p.node == pod.node and p.uid != pod.uid],
                           until=lambda ps: len(ps) == 1 and ps[0].ready, timeout=timeouts.pod_start, desc="replacement pod")
        assert cluster.core.read_namespaced_pod(again[0].name, ns.name).spec.containers[0].image == images["agnhost"]


@pytest.mark.claim("S003-079")
def test_deleting_a_daemonset_removes_its_pods_and_foreground_waits_for_them(ns, cluster, timeouts):
    """A cascading delete removes the daemon pods; with propagationPolicy Foreground the DaemonSet
    object stays (foregroundDeletion finalizer) until its pods are gone."""
    with step("Given a DaemonSet whose pods take their 1 s grace period"):
        ns.apply(DS, name="ds", **BASE)
        wait_rollout(cluster, ns.name, "ds", timeouts, kind="DaemonSet")

    def sample():
        ds = cluster.apps.list_namespaced_daemon_set(ns.name).items
        return time.monotonic(), bool(ds), ds[0].metadata.finalizers if ds else None, len(views(cluster, ns.name, "app=ds"))

    with step("When it is deleted in the foreground, sampling the DaemonSet and its pods until both are gone"):
        cluster.apps.delete_namespaced_daemon_set("ds", ns.name, propagation_policy="Foreground")
        _, samples = observe_during(lambda: eventually(sample, until=lambda s: not s[1] and s[3] == 0, timeout=timeouts.pod_start,
                                                       desc="DaemonSet and pods gone"), sample)
    with step("Then the DaemonSet was still there, with the foregroundDeletion finalizer, while pods existed"):
        assert samples[0][1] and "foregroundDeletion" in (samples[0][2] or []) and samples[0][3] > 0, samples[:3]
    with step("And it never disappeared before its last pod"):
        assert not [s for s in samples if not s[1] and s[3] > 0], samples
    with step("When another DaemonSet is deleted with the default propagation (background)"):
        ns.apply(DS, name="bg", **BASE)
        wait_rollout(cluster, ns.name, "bg", timeouts, kind="DaemonSet")
        cluster.apps.delete_namespaced_daemon_set("bg", ns.name)
    with step("Then its pods are garbage-collected too"):
        eventually(lambda: views(cluster, ns.name, "app=bg"), until=lambda ps: ps == [], timeout=timeouts.pod_start,
                   desc="bg's pods gone")
