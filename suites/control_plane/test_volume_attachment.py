"""VolumeAttachment: for an attachable CSI driver the attach-detach controller (in kube-controller-manager) creates a
VolumeAttachment for a pod's volume on the pod's node; the driver's attacher attaches it, and only then does the
kubelet mount the volume.

Source: seed 002 「PVC与PV的绑定条件」 (quoted: for attachable CSI drivers a VolumeAttachment object is created by the
attach-detach controller before the kubelet mounts). Upstream: kubernetes.io/docs/concepts/storage/volumes/#csi,
kubernetes.io/docs/reference/kubernetes-api/config-and-storage-resources/volume-attachment-v1/ .
Environment: kind ships no attachable CSI driver; the csi-mock add-on (fixtures/addons/csi_mock.py) runs upstream's
CSI mock driver (built from the k8s.io/kubernetes module) as a driver with attachRequired: true, with csi-attacher
(github.com/kubernetes-csi/external-attacher). The test stops and starts the attacher, so it runs alone (serial).
"""
import secrets

import pytest

from fixtures import storage
from fixtures.addons.csi_mock import DRIVER, PUBLISH_CONTEXT, controller_calls, node_calls, volume_id
from fixtures.nodes import volumes_attached, workers
from fixtures.pods import container_is, phase_is, view, wait_pod
from fixtures.polling import consistently, eventually
from fixtures.reporting import attach_text, step

pytestmark = [pytest.mark.area("control-plane"), pytest.mark.serial,
              pytest.mark.requires(csi_attachable=True, images=["busybox"], multinode=True)]

HANDLE = "1"  # one of the three volumes the mock driver keeps
MOUNTS = ("NodeStageVolume", "NodePublishVolume")


def _mounts(cluster, node: str) -> list:
    """The kubelet's mount calls for the volume, as the node plugin on `node` answered them."""
    return [c for c in node_calls(cluster, node) if c.method in MOUNTS and c.volume == HANDLE]


@pytest.mark.claim("S002-131")
def test_the_attach_detach_controller_creates_a_volume_attachment_and_the_kubelet_mounts_only_once_it_is_attached(
        ns, cluster, cluster_objects, csi_attacher, timeouts):
    """For a CSI driver with attachRequired: true, the attach-detach controller creates a VolumeAttachment (attacher:
    the driver, node: the pod's node, source: the PV) once the pod is scheduled; while nothing attaches it the kubelet
    does not mount the volume (no NodeStageVolume / NodePublishVolume, the pod stays ContainerCreating); once the
    attacher has attached it (ControllerPublishVolume, status.attached), the kubelet stages and publishes the volume
    with the attachment's metadata, and the pod runs."""
    node = workers(cluster)[0]
    pv, label = f"{ns.name}-csi", f"kp-{secrets.token_hex(3)}"
    with step(f"Given csi-attacher stopped, and the driver's node plugin registered with {node}'s kubelet"):
        csi_attacher.stop()
        assert DRIVER in storage.csi_node_drivers(cluster, node), storage.csi_node_drivers(cluster, node)
        # the probe that must see the kubelet mount sees the kubelet's calls: its NodeGetInfo at registration
        assert "NodeGetInfo" in {c.method for c in node_calls(cluster, node)}, node_calls(cluster, node)
    with step(f"And a static PV of the driver (volume handle {HANDLE}) bound to a claim"):
        ns.apply("control_plane/storage/pv-csi.yaml", name=pv, volume_label=label, size="1Gi", driver=DRIVER, handle=HANDLE)
        cluster_objects.track("v1", "PersistentVolume", pv)
        ns.apply("control_plane/storage/pvc.yaml", name="data", volume_label=label, size="1Gi", mode="ReadWriteOnce",
                 **{"class": ""})
        eventually(lambda: storage.pvc(cluster, ns.name, "data"), until=storage.phase_is("Bound"),
                   timeout=timeouts.controller_sync, desc="claim data bound")
    with step(f"When a pod using the claim is scheduled to {node} and its kubelet takes it up"):
        ns.apply("control_plane/storage/pod-with-claim.yaml", name="consumer", claim="data", node=node)
        wait_pod(cluster, ns.name, "consumer", container_is("app", "waiting", "ContainerCreating"), timeouts,
                 budget="controller_sync")
    with step("Then kube-controller-manager creates a VolumeAttachment of the PV to that node for the driver, not attached"):
        created = eventually(lambda: storage.attachment_of(cluster, pv), until=lambda a: a is not None,
                             timeout=timeouts.controller_sync, desc=f"a VolumeAttachment of {pv}")
        assert (created["attacher"], created["node"], created["pv"], created["attached"]) == (DRIVER, node, pv, False), created
        assert created["managers"] == {"spec": ["kube-controller-manager"]}, created
    with step("And while nothing attaches it the kubelet does not mount it: no NodeStage/NodePublishVolume, "
              "the node reports nothing attached, the pod stays ContainerCreating"):
        def waiting() -> dict:
            return {"attached": storage.attachment_of(cluster, pv)["attached"],
                    "node_reports_attached": volume_id(HANDLE) in volumes_attached(cluster, node),
                    "mount_calls": [c.method for c in _mounts(cluster, node)],
                    "container": view(cluster, ns.name, "consumer").container("app").reason}
        consistently(waiting, holds=lambda w: w == {"attached": False, "node_reports_attached": False, "mount_calls": [],
                                                    "container": "ContainerCreating"},
                     duration=timeouts.short_hold, desc="the volume unattached and unmounted")
    with step("When csi-attacher starts"):
        csi_attacher.start()
    with step("Then it attaches the volume (ControllerPublishVolume) and marks the VolumeAttachment attached"):
        attached = eventually(lambda: storage.attachment_of(cluster, pv), until=lambda a: a["attached"],
                              timeout=timeouts.volume_attach, desc=f"VolumeAttachment {created['name']} attached")
        assert attached["name"] == created["name"] and attached["metadata"] == PUBLISH_CONTEXT, attached
        published = [c for c in controller_calls(cluster) if c.method == "ControllerPublishVolume" and c.volume == HANDLE and c.ok]
        assert published, controller_calls(cluster)
    with step("And only then the kubelet stages and publishes the volume with the attachment's metadata, and the pod runs"):
        wait_pod(cluster, ns.name, "consumer", phase_is("Running"), timeouts, budget="volume_attach")
        mounts = [c for c in _mounts(cluster, node) if c.ok]
        assert {c.method for c in mounts} == set(MOUNTS), _mounts(cluster, node)
        stage, publish = (next(c for c in mounts if c.method == m) for m in MOUNTS)
        timeline = {"VolumeAttachment created": created["created"].isoformat(), "ControllerPublishVolume": published[0].at.isoformat(),
                    "NodeStageVolume": stage.at.isoformat(), "NodePublishVolume": publish.at.isoformat()}
        attach_text("timeline", "\n".join(f"{t}  {what}" for what, t in timeline.items()))
        assert created["created"] <= published[0].at < stage.at <= publish.at, timeline
        assert stage.request.get("publish_context") == publish.request.get("publish_context") == PUBLISH_CONTEXT, (stage, publish)
        assert volume_id(HANDLE) in volumes_attached(cluster, node), volumes_attached(cluster, node)
