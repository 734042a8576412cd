"""StatefulSet storage and ownership: one PVC per pod from volumeClaimTemplates (the PV comes from
the provisioner), kept across pod deletion, scale-down and orphaning deletes; the retention policy
can delete them on scale-down; an orphan-deleted StatefulSet's pods are adopted by a new one.

Source: seed 002 「StatefulSet」 (PVC绑定, 非级联删除) (002_620e0a9d2c440bc2.txt), seed 003 「StatefulSet」
(稳定的持久化存储, volumeClaimTemplates) (003_d8925e36aedd8024.txt);
kubernetes.io/docs/concepts/workloads/controllers/statefulset/#persistentvolumeclaim-retention.
"""
import pytest

from fixtures.podexec import exec_in
from fixtures.polling import consistently, eventually
from fixtures.pods import view, views, wait_pod
from fixtures.reporting import step
from fixtures.workloads import scale, statefulset, wait_rollout

pytestmark = [pytest.mark.area("controllers"), pytest.mark.requires(images=["agnhost"])]

STS = "controllers/statefulset/web-pvc.yaml"


def claims(cluster, ns) -> dict[str, dict]:
    """PVCs of the namespace: name -> uid, phase, bound volume."""
    return {c.metadata.name: {"uid": c.metadata.uid, "phase": c.status.phase, "volume": c.spec.volume_name}
            for c in cluster.core.list_namespaced_persistent_volume_claim(ns.name).items}


def sh(cluster, ns, pod: str, script: str) -> str:
    res = exec_in(cluster, ns.name, pod, "app", ["bash", "-c", script])
    assert res.returncode == 0, res
    return res.stdout.strip()


@pytest.fixture
def db(ns, cluster, timeouts):
    """Given StatefulSet 'db' with 2 ready pods, each with its own bound PVC www-db-<n>."""
    with step("Given StatefulSet 'db' (2 replicas, volumeClaimTemplates 'www', PVCs retained on scale-down)"):
        ns.apply(STS, name="db", replicas=2, when_scaled="Retain", version="a")
        wait_rollout(cluster, ns.name, "db", timeouts, kind="StatefulSet")
    return claims(cluster, ns)


@pytest.mark.claim("S003-078", "S003-073")
def test_each_pod_gets_its_own_claim_bound_to_a_volume_from_the_provisioner(ns, cluster, db):
    """volumeClaimTemplates give pod db-<n> the PVC www-db-<n>; its PV was provisioned by the storage
    provisioner (local-path), not by the StatefulSet controller; no Service was created for it."""
    with step("Then there is one bound PVC per pod, named <template>-<pod>"):
        assert sorted(db) == ["www-db-0", "www-db-1"] and all(c["phase"] == "Bound" for c in db.values()), db
        for n in (0, 1):
            vols = cluster.core.read_namespaced_pod(f"db-{n}", ns.name).spec.volumes
            assert any(v.persistent_volume_claim and v.persistent_volume_claim.claim_name == f"www-db-{n}" for v in vols)
    with step("And each PV names the provisioner that made it"):
        for c in db.values():
            pv = cluster.core.read_persistent_volume(c["volume"])
            assert (pv.metadata.annotations or {}).get("pv.kubernetes.io/provisioned-by") == "rancher.io/local-path", pv.metadata
    with step("And the StatefulSet created no Service (the headless Service is the user's to create)"):
        assert cluster.core.list_namespaced_service(ns.name).items == []


@pytest.mark.claim("S002-145", "S003-073")
def test_a_recreated_pod_mounts_its_old_claim_and_sees_the_data(ns, cluster, db, timeouts):
    """Deleting db-1 keeps PVC www-db-1 and its volume; the new db-1 mounts the same claim and reads
    what the old one wrote."""
    with step("Given db-1 wrote a marker to its volume"):
        old = view(cluster, ns.name, "db-1")
        sh(cluster, ns, "db-1", f"echo {old.uid} > /data/marker")
    with step("When db-1 is deleted"):
        cluster.core.delete_namespaced_pod("db-1", ns.name)
        wait_pod(cluster, ns.name, "db-1", lambda p: p.uid != old.uid and p.ready and not p.deleting, timeouts,
                 desc="db-1 recreated and ready")
    with step("Then the PVC is the same object on the same volume, and the new pod reads the old marker"):
        assert claims(cluster, ns)["www-db-1"] == db["www-db-1"], (claims(cluster, ns), db)
        assert sh(cluster, ns, "db-1", "cat /data/marker") == old.uid


@pytest.mark.claim("S002-145")
def test_scale_down_keeps_claims_unless_the_retention_policy_says_delete(ns, cluster, db, timeouts):
    """Scaling 2 -> 1 keeps www-db-1 (whenScaled: Retain, the default); with whenScaled: Delete the
    next scale-down deletes the claim of the removed pod."""
    with step("When the StatefulSet (whenScaled: Retain) is scaled to 1"):
        scale(cluster, ns.name, "db", 1, kind="StatefulSet")
        eventually(lambda: sorted(p.name for p in views(cluster, ns.name, "app=db")), until=lambda n: n == ["db-0"],
                   timeout=timeouts.pod_start, desc="db-1 gone")
    with step("Then www-db-1 still exists, unchanged"):
        consistently(lambda: claims(cluster, ns).get("www-db-1"), holds=lambda c: c == db["www-db-1"],
                     duration=timeouts.short_hold, desc="www-db-1 kept")
    with step("When the policy becomes whenScaled: Delete, and the StatefulSet goes 1 -> 2 -> 1"):
        ns.apply(STS, name="db", replicas=2, when_scaled="Delete", version="a")
        wait_rollout(cluster, ns.name, "db", timeouts, kind="StatefulSet")
        assert claims(cluster, ns)["www-db-1"] == db["www-db-1"], "db-1 came back on its old claim"
        scale(cluster, ns.name, "db", 1, kind="StatefulSet")
    with step("Then www-db-1 is deleted with its pod"):
        eventually(lambda: sorted(claims(cluster, ns)), until=lambda names: names == ["www-db-0"], timeout=timeouts.pod_start,
                   desc="www-db-1 deleted")


@pytest.mark.claim("S002-151")
def test_an_orphan_deleted_statefulsets_pods_keep_running_and_are_adopted_by_a_new_one(ns, cluster, db, timeouts):
    """Deleting with propagationPolicy Orphan (kubectl --cascade=orphan) removes only the StatefulSet:
    pods keep running without an owner, PVCs stay. A new StatefulSet with the same selector adopts
    the same pods (same uids, not restarted), rather than recreating them."""
    before = {p.name: p.uid for p in views(cluster, ns.name, "app=db")}
    with step("When the StatefulSet is deleted with --cascade=orphan"):
        cluster.apps.delete_namespaced_stateful_set("db", ns.name, propagation_policy="Orphan")
        eventually(lambda: [s.metadata.name for s in cluster.apps.list_namespaced_stateful_set(ns.name).items],
                   until=lambda names: names == [], timeout=timeouts.controller_sync, desc="StatefulSet gone")
    with step("Then its pods keep running with no owner, and the PVCs remain"):
        orphans = eventually(lambda: views(cluster, ns.name, "app=db"), until=lambda ps: all(p.owner is None for p in ps),
                             timeout=timeouts.controller_sync, desc="ownerReferences removed")
        assert {p.name: p.uid for p in orphans if p.ready and not p.deleting} == before, orphans
        assert sorted(claims(cluster, ns)) == ["www-db-0", "www-db-1"]
    with step("When the same StatefulSet is created again"):
        ns.apply(STS, name="db", replicas=2, when_scaled="Retain", version="a")
    with step("Then it adopts the running pods: same uids, owned by the new StatefulSet, no restart"):
        adopted = eventually(lambda: views(cluster, ns.name, "app=db"), until=lambda ps: all(p.owner == ("StatefulSet", "db") for p in ps),
                             timeout=timeouts.controller_sync, desc="pods adopted")
        assert {p.name: p.uid for p in adopted} == before and all(p.restarts == 0 for p in adopted), adopted
        eventually(lambda: statefulset(cluster, ns.name, "db"), until=lambda s: s["ready"] == 2, timeout=timeouts.controller_sync,
                   desc="new StatefulSet counts 2 ready")
    with step("And the PVCs are the original ones"):
        assert {k: v["uid"] for k, v in claims(cluster, ns).items()} == {k: v["uid"] for k, v in db.items()}
