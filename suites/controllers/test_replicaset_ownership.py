"""ReplicaSets under a Deployment and on their own: level-triggered correction of drift, adoption
through labels, what a bare ReplicaSet does (and does not do) with a template change, selectors.

Source: seed 002 「控制器模型」「原理」「Deployment」 (002_620e0a9d2c440bc2.txt) and seed 003
「Deployment」 (003_d8925e36aedd8024.txt); kubernetes.io/docs/concepts/workloads/controllers/replicaset/.
"""
import pytest
from kubernetes import client

from fixtures.api_calls import create_raw
from fixtures.manifests import render
from fixtures.polling import consistently, eventually, retry_not_found
from fixtures.pods import views, wait_ready
from fixtures.reporting import step
from fixtures.workloads import replicaset, replicasets, scale, wait_rollout

pytestmark = [pytest.mark.area("controllers"), pytest.mark.requires(images=["agnhost"])]

WEB = dict(replicas=2, history=10, progress_deadline=600, max_surge="25%", max_unavailable="25%", version="a", ready_port=8080)


@pytest.fixture
def owned_rs(ns, cluster, timeouts) -> dict:
    """Given a Deployment of 2 replicas, rolled out: its one ReplicaSet."""
    with step("Given a Deployment 'web' of 2 replicas and its ReplicaSet"):
        ns.apply("controllers/deployment/web.yaml", name="web", **WEB)
        wait_rollout(cluster, ns.name, "web", timeouts)
        [rs] = replicasets(cluster, ns.name, "app=web")
    return replicaset(cluster, ns.name, rs["name"])


@pytest.mark.claim("S002-135", "S003-066")
def test_scaling_a_deployments_replicaset_by_hand_is_reverted(ns, cluster, owned_rs, timeouts):
    """Controllers compare desired and actual state in a loop: a ReplicaSet scaled by hand to 5 is
    set back to the Deployment's 2."""
    with step(f"When {owned_rs['name']} is scaled to 5 by hand"):
        scale(cluster, ns.name, owned_rs["name"], 5, kind="ReplicaSet")
    with step("Then the Deployment controller sets it back to 2 and 2 pods remain"):
        eventually(lambda: replicaset(cluster, ns.name, owned_rs["name"])["replicas"], until=lambda n: n == 2,
                   timeout=timeouts.controller_sync, desc="ReplicaSet back at 2")
        wait_ready(cluster, ns.name, "app=web", 2, timeouts)


@pytest.mark.claim("S002-135")
def test_a_deleted_replicaset_of_a_deployment_is_recreated_with_the_same_template_hash(ns, cluster, owned_rs, timeouts):
    """Deleting the ReplicaSet a Deployment owns makes the Deployment create it again (new object,
    same pod-template-hash)."""
    with step(f"When {owned_rs['name']} is deleted"):
        cluster.apps.delete_namespaced_replica_set(owned_rs["name"], ns.name)
    with step("Then a ReplicaSet of the same name and hash, but a new uid, runs 2 ready pods again"):
        again = eventually(retry_not_found(lambda: replicaset(cluster, ns.name, owned_rs["name"])),
                           until=lambda r: r["uid"] != owned_rs["uid"], timeout=timeouts.controller_sync, desc="ReplicaSet recreated")
        assert (again["hash"], again["owner"]) == (owned_rs["hash"], "web"), again
        wait_ready(cluster, ns.name, "app=web", 2, timeouts)


@pytest.mark.claim("S003-066")
def test_a_replicaset_released_from_its_deployment_is_adopted_again(ns, cluster, owned_rs, timeouts):
    """Removing the ReplicaSet's ownerReference does not free it: its labels still match, and the
    Deployment adopts the same object again."""
    with step(f"When the ownerReference of {owned_rs['name']} is removed"):
        released = cluster.apps.patch_namespaced_replica_set(
            owned_rs["name"], ns.name, [{"op": "remove", "path": "/metadata/ownerReferences"}])
        assert not released.metadata.owner_references, released.metadata.owner_references
    with step("Then the Deployment owns the same ReplicaSet (same uid) again"):
        adopted = eventually(lambda: replicaset(cluster, ns.name, owned_rs["name"]), until=lambda r: r["owner"] == "web",
                             timeout=timeouts.controller_sync, desc="ReplicaSet re-adopted")
        assert adopted["uid"] == owned_rs["uid"] and len(replicasets(cluster, ns.name, "app=web")) == 1, adopted


@pytest.mark.claim("S002-136")
def test_a_bare_replicasets_template_change_leaves_running_pods_alone(ns, cluster, timeouts):
    """A ReplicaSet only keeps the count: changing its template does not touch existing pods; only a
    pod created afterwards (to replace a deleted one) uses the new template."""
    with step("Given a bare ReplicaSet of 2 pods, version a"):
        ns.apply("controllers/replicaset/bare.yaml", name="bare", replicas=2, version="a")
        before = {p.uid for p in wait_ready(cluster, ns.name, "app=bare", 2, timeouts)}
    with step("When its template changes to version b"):
        ns.apply("controllers/replicaset/bare.yaml", name="bare", replicas=2, version="b")
    with step("Then the same 2 pods keep running, still version a"):
        consistently(lambda: {(p.uid, p.labels["version"]) for p in views(cluster, ns.name, "app=bare")},
                     holds=lambda s: s == {(uid, "a") for uid in before}, duration=timeouts.short_hold, desc="pods untouched")
    with step("When one pod is deleted"):
        gone = sorted(before)[0]
        victim = next(p.name for p in views(cluster, ns.name, "app=bare") if p.uid == gone)
        cluster.core.delete_namespaced_pod(victim, ns.name)
    with step("Then its replacement is version b and the other pod is still version a"):
        pods = wait_ready(cluster, ns.name, "app=bare", 2, timeouts)
        assert sorted((p.uid in before, p.labels["version"]) for p in pods) == [(False, "b"), (True, "a")], pods


@pytest.mark.claim("S002-139")
def test_set_based_selectors_work_for_replicasets_but_not_replication_controllers(ns, cluster, timeouts):
    """ReplicaSets accept matchExpressions selectors (and manage the matching pods); a
    ReplicationController's selector is a plain label map; apps/v1 selectors must match the
    template and are immutable."""
    with step("When a ReplicaSet selects `tier in (frontend, edge)`"):
        ns.apply("controllers/replicaset/set-based-selector.yaml", name="sets")
    with step("Then it runs 2 pods"):
        wait_ready(cluster, ns.name, "tier=frontend", 2, timeouts)
    with step("And a ReplicationController with the same matchExpressions selector is refused"):
        rc = create_raw(cluster, render("controllers/replicaset/rc-set-based-selector.yaml", name="rc", image_agnhost="x")[0],
                        ns.name, dry_run=True)
        assert rc.status == 400 and "selector" in rc.message, rc
    with step("And an apps/v1 ReplicaSet whose selector does not match its template is refused"):
        mismatch = create_raw(cluster, render("controllers/replicaset/selector-mismatch.yaml", name="mm", image_agnhost="x")[0],
                              ns.name, dry_run=True)
        assert mismatch.status == 422 and "does not match template" in mismatch.message, mismatch
    with step("And changing the live ReplicaSet's selector is refused as immutable"):
        with pytest.raises(client.ApiException) as refused:
            cluster.apps.patch_namespaced_replica_set("sets", ns.name, {"spec": {"selector": {"matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["frontend"]}]}}})
        assert refused.value.status == 422 and "immutable" in refused.value.body, refused.value.body
