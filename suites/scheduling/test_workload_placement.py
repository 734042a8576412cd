"""Placement that follows data and replica counts that controllers keep.

Seed 002 「调度策略」 (VolumeBindingPredicate: 「检查Pod对应的PV的nodeAffinity是否与某个节点的标签匹配」)
and 「常见的调度方式」 (「Deployment或RC…在集群内始终维持用户指定的副本数量」). A local
PersistentVolume pins its pods to its node; with a WaitForFirstConsumer class the claim binds only
when a pod needs it. A ReplicaSet replaces deleted pods and adopts an orphan matching its selector,
deleting a surplus pod. Source: kubernetes.io/docs/concepts/storage/volumes/#local,
/docs/concepts/storage/storage-classes/#volume-binding-mode, /docs/concepts/workloads/controllers/replicaset/
"""
import pytest

from fixtures.nodes import workers
from fixtures.pods import is_bound, is_ready, ready_pods, views, wait_pod, wait_ready
from fixtures.polling import consistently, eventually
from fixtures.reporting import step
from fixtures.workloads import replicasets

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.requires(images=["agnhost"])]


def _claim_phase(cluster, namespace: str, name: str) -> str:
    return cluster.core.read_namespaced_persistent_volume_claim(name, namespace).status.phase


@pytest.mark.claim("S002-036")
@pytest.mark.requires(multinode=True)
def test_pod_using_a_local_volume_is_placed_on_the_volume_node_and_binding_waits_for_it(ns, cluster, cluster_objects, timeouts):
    """With a WaitForFirstConsumer class the claim stays Pending until a pod uses it; the pod then goes
    to the node of the only local volume that fits, and the claim binds to it; with a second volume on
    the other worker, the next pod follows that volume to its node."""
    first, second = workers(cluster)[-1], workers(cluster)[0]
    sc = f"{ns.name}-local"
    ns.apply("scheduling/workloads/local-storage-class.yaml", name=sc)
    cluster_objects.track("storage.k8s.io/v1", "StorageClass", sc)
    with step(f"Given a local volume on {first} and a claim of the WaitForFirstConsumer class"):
        ns.apply("scheduling/workloads/local-pv.yaml", name=f"{ns.name}-a", node=first, storage_class=sc)
        cluster_objects.track("v1", "PersistentVolume", f"{ns.name}-a")
        ns.apply("scheduling/workloads/claim.yaml", name="data-a", storage_class=sc)
    with step("Then the claim stays Pending while no pod uses it"):
        consistently(lambda: _claim_phase(cluster, ns.name, "data-a"), holds=lambda ph: ph == "Pending",
                     duration=timeouts.short_hold, desc="claim unbound without a consumer")
    with step(f"When a pod free to go anywhere uses it, it is placed on {first} and the claim binds to that volume"):
        ns.apply("scheduling/workloads/pod-with-claim.yaml", name="user-a", claim="data-a")
        assert wait_pod(cluster, ns.name, "user-a", is_bound, timeouts).node == first
        eventually(lambda: cluster.core.read_namespaced_persistent_volume_claim("data-a", ns.name),
                   until=lambda c: c.status.phase == "Bound" and c.spec.volume_name == f"{ns.name}-a",
                   timeout=timeouts.controller_sync, desc="claim bound to the local volume")
    with step(f"And with a second volume on {second}, the next pod follows it there (the negative control)"):
        ns.apply("scheduling/workloads/local-pv.yaml", name=f"{ns.name}-b", node=second, storage_class=sc)
        cluster_objects.track("v1", "PersistentVolume", f"{ns.name}-b")
        ns.apply("scheduling/workloads/claim.yaml", name="data-b", storage_class=sc)
        ns.apply("scheduling/workloads/pod-with-claim.yaml", name="user-b", claim="data-b")
        assert wait_pod(cluster, ns.name, "user-b", is_bound, timeouts).node == second
    with step("And both pods run"):
        for name in ("user-a", "user-b"):
            wait_pod(cluster, ns.name, name, is_ready, timeouts)


@pytest.mark.claim("S002-043")
def test_replicaset_replaces_deleted_pods_and_adopts_an_orphan_deleting_the_surplus(ns, cluster, timeouts):
    """A Deployment's ReplicaSet keeps its replica count: two deleted pods are replaced until 3 are
    ready again; a bare pod carrying the ReplicaSet's labels is adopted (it gets the ReplicaSet as
    owner) and one pod is deleted to get back to 3."""
    with step("Given a Deployment of 3 ready replicas"):
        ns.apply("scheduling/workloads/deployment.yaml", name="kept", replicas=3)
        first = wait_ready(cluster, ns.name, "app=kept", 3, timeouts)
    with step("When two of its pods are deleted"):
        for p in first[:2]:
            cluster.core.delete_namespaced_pod(p.name, ns.name)
    with step("Then the ReplicaSet replaces them: 3 ready again, two of them new"):
        again = eventually(lambda: ready_pods(cluster, ns.name, "app=kept"),
                           until=lambda ps: len(ps) == 3 and len({p.uid for p in ps} - {p.uid for p in first}) == 2,
                           timeout=timeouts.pod_start, desc="3 ready replicas, 2 replaced")
        assert len(again) == 3
    rs = replicasets(cluster, ns.name, "app=kept")[-1]
    with step(f"When a bare pod with the ReplicaSet's labels (pod-template-hash {rs['hash']}) is created"):
        ns.apply("scheduling/workloads/bare-pod-with-labels.yaml", name="orphan", app="kept", hash=rs["hash"])
    with step(f"Then {rs['name']} adopts it or deletes it, and keeps exactly 3 pods"):
        def settled(ps):
            live = [p for p in ps if not p.deleting]
            return len(live) == 3 and all(p.owner == ("ReplicaSet", rs["name"]) for p in live)

        eventually(lambda: views(cluster, ns.name, "app=kept"), until=settled, timeout=timeouts.controller_sync,
                   desc="3 live pods, all owned by the ReplicaSet")
    with step("And the orphan now has the ReplicaSet as its controller, or was the surplus it deleted"):
        orphan = [p for p in views(cluster, ns.name, "app=kept") if p.name == "orphan"]
        assert not orphan or orphan[0].deleting or orphan[0].owner == ("ReplicaSet", rs["name"]), orphan
        consistently(lambda: len([p for p in views(cluster, ns.name, "app=kept") if not p.deleting]),
                     holds=lambda n: n == 3, duration=timeouts.short_hold, desc="3 replicas kept")
