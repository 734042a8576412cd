"""Volumes, PersistentVolumeClaims, PersistentVolumes and StorageClasses: per-pod claims of a StatefulSet,
the default class, WaitForFirstConsumer provisioning, the PV controller's binding rules, access modes and
reclaim policies (kind: rancher local-path, class `standard`, not CSI).

Source: seed 002 «PV、PVC、StoageClass», «PVC与PV的绑定条件», «访问模式», «回收策略». Upstream:
https://kubernetes.io/docs/concepts/storage/persistent-volumes/
"""
import secrets

import pytest

from fixtures import storage
from fixtures.nodes import workers
from fixtures.podexec import exec_in
from fixtures.pods import events_of, is_ready, view, wait_gone, wait_pod
from fixtures.polling import consistently, eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("control-plane"), pytest.mark.requires(images=["busybox"], multinode=True)]

RWO, RWOP, ROX = "ReadWriteOnce", "ReadWriteOncePod", "ReadOnlyMany"


def _static_pv(ns, cluster_objects, name: str, label: str, cls: str, size: str, mode: str = RWO, policy: str = "Retain"):
    ns.apply("control_plane/storage/pv-hostpath.yaml", name=name, volume_label=label, size=size, mode=mode, policy=policy, **{"class": cls})
    cluster_objects.track("v1", "PersistentVolume", name)


def _claim(ns, name: str, label: str, cls: str, size: str, mode: str = RWO):
    ns.apply("control_plane/storage/pvc.yaml", name=name, volume_label=label, size=size, mode=mode, **{"class": cls})


def _bound(cluster, ns, name: str, timeouts) -> dict:
    return eventually(lambda: storage.pvc(cluster, ns.name, name), until=storage.phase_is("Bound"),
                      timeout=timeouts.pod_start, desc=f"claim {name} bound")


@pytest.mark.claim("S002-126")
def test_each_statefulset_pod_gets_its_own_claim_named_template_set_ordinal(ns, cluster, timeouts):
    """Claims from volumeClaimTemplates are named <template>-<statefulset>-<ordinal> (www-web-0, www-web-1), and
    each pod mounts its own claim: not "all pods of the StatefulSet use this PVC"."""
    with step("Given the document's StatefulSet web with claim template www, 2 replicas"):
        ns.apply("control_plane/storage/statefulset.yaml", name="web")
        for pod in ("web-0", "web-1"):
            wait_pod(cluster, ns.name, pod, is_ready, timeouts)
    with step("Then the claims are www-web-0 and www-web-1, and web-1 mounts www-web-1"):
        claims = sorted(c.metadata.name for c in cluster.core.list_namespaced_persistent_volume_claim(ns.name).items)
        assert claims == ["www-web-0", "www-web-1"], claims
        vol = next(v for v in cluster.core.read_namespaced_pod("web-1", ns.name).spec.volumes if v.name == "www")
        assert vol.persistent_volume_claim.claim_name == "www-web-1"
    with step("And each volume holds only its own pod's name: the pods share nothing"):
        for pod in ("web-0", "web-1"):
            owners = exec_in(cluster, ns.name, pod, "app", ["cat", "/data/owners"]).stdout.split()
            assert owners == [pod], (pod, owners)


@pytest.mark.claim("S002-127")
def test_the_default_class_is_an_annotation_and_an_empty_class_binds_only_classless_volumes(ns, cluster, cluster_objects, timeouts):
    """Claim: K8s has a default StorageClass named "" (empty string). Wrong: the default class is the one annotated
    storageclass.kubernetes.io/is-default-class: "true" (kind: standard), assigned by admission to claims that name
    none; storageClassName: "" means "no class" and binds only to PVs without a class, never provisioned."""
    label = f"kp-{secrets.token_hex(3)}"
    with step("Then exactly one class is annotated default: standard"):
        assert storage.default_classes(cluster) == ["standard"]
    with step("When a claim names no class"):
        ns.apply("control_plane/storage/pvc-default-class.yaml", name="unnamed", mode=RWO, size="1Mi")
    with step("Then admission filled in standard"):
        assert storage.pvc(cluster, ns.name, "unnamed")["class"] == "standard"
    with step("Given a classless static PV, a claim with class \"\" for it, and one that no PV matches"):
        _static_pv(ns, cluster_objects, f"{label}-none", label, "", "10Mi")
        _claim(ns, "empty-class", label, "", "10Mi")
        _claim(ns, "empty-class-unmatched", f"{label}-nothing", "", "10Mi")
    with step("Then the first binds to the classless PV"):
        assert _bound(cluster, ns, "empty-class", timeouts)["volume"] == f"{label}-none"
    with step("And the unmatched one stays Pending: nothing provisions for class \"\""):
        consistently(lambda: storage.pvc(cluster, ns.name, "empty-class-unmatched"),
                     holds=lambda c: c["phase"] == "Pending" and not c["volume"], duration=timeouts.short_hold,
                     desc="empty-class claim unprovisioned")


@pytest.mark.claim("S002-128")
def test_a_wait_for_first_consumer_claim_is_provisioned_on_the_node_of_its_first_pod(ns, cluster, timeouts):
    """kind's standard class (local-path, volumeBindingMode WaitForFirstConsumer): a claim stays Pending until a
    pod using it is scheduled; then a PV is provisioned on that pod's node (node affinity) and bound."""
    node = workers(cluster)[-1]
    with step("Given a claim of the default class"):
        assert storage.storage_class(cluster, "standard").volume_binding_mode == "WaitForFirstConsumer"
        ns.apply("control_plane/storage/pvc-default-class.yaml", name="lazy", mode=RWO, size="1Mi")
    with step("Then it waits for a consumer: Pending, with a WaitForFirstConsumer event"):
        consistently(lambda: storage.pvc(cluster, ns.name, "lazy"), holds=lambda c: c["phase"] == "Pending",
                     duration=timeouts.short_hold, desc="claim pending without a consumer")
        eventually(lambda: [e.reason for e in events_of(cluster, ns.name, "lazy", kind="PersistentVolumeClaim")],
                   until=lambda r: "WaitForFirstConsumer" in r, timeout=timeouts.controller_sync, desc="WaitForFirstConsumer event")
    with step(f"When a pod using it is scheduled to {node}"):
        ns.apply("control_plane/storage/pod-with-claim.yaml", name="consumer", claim="lazy", node=node)
    with step("Then a volume is provisioned, bound, and pinned to that node"):
        claim = _bound(cluster, ns, "lazy", timeouts)
        volume = storage.pv(cluster, claim["volume"])
        assert volume["nodes"] == [node] and volume["class"] == "standard" and not volume["csi"], volume
        wait_pod(cluster, ns.name, "consumer", is_ready, timeouts)


@pytest.mark.claim("S002-129")
def test_local_volumes_are_never_attached_and_deleting_the_pod_keeps_configmaps_and_secrets(ns, cluster, timeouts):
    """emptyDir, hostPath, configMap, secret and local-path volumes are mounted without an attach phase (no
    VolumeAttachment); deleting the pod removes its emptyDir content but not the ConfigMap and Secret objects."""
    node = workers(cluster)[0]
    with step("Given a pod with all five kinds of volume, an emptyDir file and a claim file written"):
        ns.apply("control_plane/storage/pvc-default-class.yaml", name="data", mode=RWO, size="1Mi")
        ns.apply("control_plane/storage/pod-many-volumes.yaml", name="many", claim="data", node=node)
        wait_pod(cluster, ns.name, "many", is_ready, timeouts)
        out = exec_in(cluster, ns.name, "many", "app", ["sh", "-c", "echo x > /scratch/f && echo y > /data/f && cat /config/k && echo && cat /secret/k"])
        assert out.stdout.split() == ["from-configmap", "from-secret"], out
    with step("Then no VolumeAttachment exists for any of them"):
        volume = storage.pvc(cluster, ns.name, "data")["volume"]
        assert not [a for a in storage.volume_attachments(cluster) if a.endswith(f":{volume}")]
    with step("When the pod is deleted and recreated on the same node"):
        cluster.core.delete_namespaced_pod("many", ns.name, grace_period_seconds=0)
        wait_gone(cluster, ns.name, "many", timeouts)
        ns.apply("control_plane/storage/pod-many-volumes.yaml", name="many", claim="data", node=node)
        wait_pod(cluster, ns.name, "many", is_ready, timeouts)
    with step("Then the ConfigMap and Secret are still there, the emptyDir is empty, the claim's file survived"):
        assert cluster.core.read_namespaced_config_map("config", ns.name).data == {"k": "from-configmap"}
        assert cluster.core.read_namespaced_secret("secret", ns.name).data
        check = exec_in(cluster, ns.name, "many", "app", ["sh", "-c", "ls /scratch; cat /data/f"])
        assert check.stdout.split() == ["y"], check


@pytest.mark.claim("S002-130")
def test_a_claim_binds_only_a_volume_of_its_class_with_enough_capacity_and_compatible_modes(ns, cluster, cluster_objects, timeouts):
    """The PV controller binds a claim only to a PV with the same storageClassName, compatible accessModes and
    capacity >= the request; a larger PV satisfies a smaller claim, which then reports the PV's capacity."""
    label, a, b = f"kp-{secrets.token_hex(3)}", f"kp-a-{secrets.token_hex(2)}", f"kp-b-{secrets.token_hex(2)}"
    with step(f"Given PVs: class {a} 1Mi RWO, class {a} 3Mi ROX, class {b} 5Mi RWO"):
        _static_pv(ns, cluster_objects, f"{label}-a-small", label, a, "1Mi")
        _static_pv(ns, cluster_objects, f"{label}-a-rox", label, a, "3Mi", mode=ROX)
        _static_pv(ns, cluster_objects, f"{label}-b-big", label, b, "5Mi")
    with step(f"When claims ask for 2Mi RWO of class {b} and of class {a}"):
        _claim(ns, "want-b", label, b, "2Mi")
        _claim(ns, "want-a", label, a, "2Mi")
    with step("Then the class-b claim binds the 5Mi PV and reports 5Mi"):
        claim = _bound(cluster, ns, "want-b", timeouts)
        assert claim["volume"] == f"{label}-b-big" and claim["capacity"] == "5Mi", claim
    with step("And the class-a claim stays Pending: one PV is too small, the other read-only-many"):
        consistently(lambda: storage.pvc(cluster, ns.name, "want-a"), holds=lambda c: c["phase"] == "Pending",
                     duration=timeouts.short_hold, desc="class-a claim unbound")


@pytest.mark.claim("S002-132")
def test_rwo_is_shared_on_one_node_and_rwop_admits_a_single_pod(ns, cluster, timeouts):
    """ReadWriteOnce: one node mounts the volume, and several pods on that node may use it together.
    ReadWriteOncePod (GA 1.29): a single pod; a second pod using the claim is not scheduled."""
    node = workers(cluster)[0]
    with step(f"Given an RWO claim used by two pods on {node}"):
        ns.apply("control_plane/storage/pvc-default-class.yaml", name="rwo", mode=RWO, size="1Mi")
        for pod in ("rwo-1", "rwo-2"):
            ns.apply("control_plane/storage/pod-with-claim.yaml", name=pod, claim="rwo", node=node)
    with step("Then both run at once"):
        for pod in ("rwo-1", "rwo-2"):
            wait_pod(cluster, ns.name, pod, is_ready, timeouts)
    with step(f"Given an RWOP claim used by one running pod on {node}"):
        ns.apply("control_plane/storage/pvc-default-class.yaml", name="rwop", mode=RWOP, size="1Mi")
        ns.apply("control_plane/storage/pod-with-claim.yaml", name="rwop-1", claim="rwop", node=node)
        wait_pod(cluster, ns.name, "rwop-1", is_ready, timeouts)
    with step("When a second pod on the same node uses it"):
        ns.apply("control_plane/storage/pod-with-claim.yaml", name="rwop-2", claim="rwop", node=node)
    with step("Then the scheduler refuses it, naming ReadWriteOncePod"):
        p = eventually(lambda: view(cluster, ns.name, "rwop-2"), until=lambda p: p.conditions.get("PodScheduled", ("",))[0] == "False",
                       timeout=timeouts.controller_sync, desc="second RWOP pod unschedulable")
        assert p.node is None and "ReadWriteOncePod" in (p.conditions["PodScheduled"][2] or ""), p.conditions


@pytest.mark.claim("S002-133")
@pytest.mark.requires(node_access=True)
def test_a_retained_volume_is_released_and_a_deleted_one_disappears_with_its_directory(ns, cluster, cluster_objects, timeouts):
    """Reclaim policies: when its claim is deleted, a Retain PV becomes Released (keeping its claimRef, so it is
    not reused); a Delete PV (local-path's default) is removed together with its directory on the node."""
    label = f"kp-{secrets.token_hex(3)}"
    node = workers(cluster)[0]
    with step("Given a bound Retain PV and a bound, used local-path (Delete) claim"):
        _static_pv(ns, cluster_objects, f"{label}-keep", label, "", "1Mi", policy="Retain")
        _claim(ns, "keep", label, "", "1Mi")
        ns.apply("control_plane/storage/pvc-default-class.yaml", name="drop", mode=RWO, size="1Mi")
        ns.apply("control_plane/storage/pod-with-claim.yaml", name="user", claim="drop", node=node)
        _bound(cluster, ns, "keep", timeouts)
        dropped = storage.pv(cluster, _bound(cluster, ns, "drop", timeouts)["volume"])
        assert dropped["reclaim"] == "Delete"
        wait_pod(cluster, ns.name, "user", is_ready, timeouts)
        assert cluster.node_exec(node, "test", "-d", dropped["path"]).returncode == 0, f"control: {dropped['path']} exists"
    with step("When both claims are deleted (and the pod using one)"):
        cluster.core.delete_namespaced_pod("user", ns.name, grace_period_seconds=0)
        wait_gone(cluster, ns.name, "user", timeouts)
        for claim in ("keep", "drop"):
            cluster.core.delete_namespaced_persistent_volume_claim(claim, ns.name)
    with step("Then the Retain PV is Released, still naming its old claim"):
        kept = eventually(lambda: storage.pv(cluster, f"{label}-keep"), until=storage.phase_is("Released"),
                          timeout=timeouts.controller_sync, desc="Retain PV released")
        assert kept["claim"] == f"{ns.name}/keep", kept
    with step("And the Delete PV and its directory on the node are gone"):
        eventually(lambda: storage.pv(cluster, dropped["name"]), until=lambda v: v is None, timeout=timeouts.controller_sync,
                   desc="Delete PV removed")
        eventually(lambda: cluster.node_exec(node, "test", "-e", dropped["path"]).returncode, until=lambda rc: rc != 0,
                   timeout=timeouts.controller_sync, desc="volume directory removed")

