"""Self-tests of the attachable CSI driver add-on (fixtures/addons/csi_mock.py) without a cluster: the manifest's
shape (what makes the driver attachable, registered and able to publish into pods), the CSI call log parser, the
pins and image names shared with hack/, and bad input (not kind, never ready, volumes still using the driver)."""
from __future__ import annotations

import subprocess
from datetime import datetime, timezone
from types import SimpleNamespace as NS

import pytest

from fixtures.addons import csi_mock as addon
from fixtures.addons.csi_calls import parse_calls
from fixtures.addons.csi_mock import CsiMockError
from fixtures.versions import ROOT, pins

VERSION = "v1.37.2"


def _docs() -> dict[str, dict]:
    return {d["kind"]: d for d in addon.documents(VERSION)}


def test_the_driver_is_attachable_and_its_images_are_the_built_ones():
    docs = _docs()
    assert docs["CSIDriver"]["metadata"]["name"] == addon.DRIVER and docs["CSIDriver"]["spec"]["attachRequired"] is True
    containers = [c for kind in ("DaemonSet", "Deployment") for c in docs[kind]["spec"]["template"]["spec"]["containers"]]
    assert {c["image"] for c in containers} == {f"kubeproof/csi-mock-driver:{VERSION}", f"kubeproof/csi-attacher:{pins()['CSI_ATTACHER_VERSION']}"}
    assert {c["imagePullPolicy"] for c in containers} == {"Never"}


def test_the_node_plugin_registers_the_socket_the_kubelet_can_reach_and_publishes_into_pods():
    spec = _docs()["DaemonSet"]["spec"]["template"]["spec"]
    mock = spec["containers"][0]
    args = dict(a.lstrip("-").split("=", 1) for a in mock["args"])
    host = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"]}
    mounts = {m["name"]: m for m in mock["volumeMounts"]}
    assert args["mode"] == "node" and args["name"] == addon.DRIVER and args["v"] == "3"
    # the kubelet dials the endpoint by its host path: the socket must be served at that path, on that hostPath
    assert args["kubelet-endpoint"] == args["endpoint"] == f"/var/lib/kubelet/plugins/{addon.DRIVER}/csi.sock"
    assert host["plugin-dir"] == mounts["plugin-dir"]["mountPath"] == f"/var/lib/kubelet/plugins/{addon.DRIVER}"
    assert host["registration-dir"] == "/var/lib/kubelet/plugins_registry" and mounts["registration-dir"]["mountPath"] == args["registration-dir"]
    assert host["pods-dir"] == mounts["pods-dir"]["mountPath"] == "/var/lib/kubelet/pods"
    assert mounts["pods-dir"]["mountPropagation"] == "Bidirectional" and mock["securityContext"]["privileged"] is True
    assert {"operator": "Exists"} in spec["tolerations"]  # every node, the control plane included


def test_the_attacher_shares_the_controllers_socket_without_leader_election_and_may_do_what_it_needs():
    docs = _docs()
    spec = docs["Deployment"]["spec"]["template"]["spec"]
    mock, attacher = (next(c for c in spec["containers"] if c["name"] == n) for n in (addon.MOCK_CONTAINER, addon.ATTACHER_CONTAINER))
    assert "-mode=controller" in mock["args"] and "-endpoint=/csi/csi.sock" in mock["args"]
    assert {"--csi-address=/csi/csi.sock", "--leader-election=false"} <= set(attacher["args"])
    assert mock["volumeMounts"] == attacher["volumeMounts"] == [{"name": "socket-dir", "mountPath": "/csi"}]
    assert docs["Deployment"]["spec"]["replicas"] == 1 and spec["serviceAccountName"] == docs["ServiceAccount"]["metadata"]["name"]
    granted = {(r, v) for rule in docs["ClusterRole"]["rules"] for r in rule["resources"] for v in rule["verbs"]}
    assert {("volumeattachments", "patch"), ("volumeattachments", "watch"), ("volumeattachments/status", "patch"),
            ("persistentvolumes", "patch"), ("csinodes", "get")} <= granted
    assert docs["ClusterRoleBinding"]["roleRef"]["name"] == docs["ClusterRole"]["metadata"]["name"]


LOG = """\
2026-12-05T12:01:02.123456789Z I1205 12:01:02.123400       1 main.go:95] CSI mock driver csi-mock.kubeproof.io (node mode) serving
2026-12-05T12:01:03.5Z I1205 12:01:03.500000       1 driver.go:245] gRPCCall: {"Method":"/csi.v1.Node/NodeGetInfo","Request":{},"Response":{"node_id":"csi-mock.kubeproof.io"},"Error":"","FullError":null}
2026-12-05T12:01:09.000001999Z I1205 12:01:09.000001       1 driver.go:245] gRPCCall: {"Method":"/csi.v1.Node/NodeStageVolume","Request":{"volume_id":"1","publish_context":{"device":"/dev/mock","readonly":"false"}},"Response":{},"Error":"","FullError":null}
2026-12-05T12:01:10.25Z E1205 12:01:10.250000       1 driver.go:245] gRPCCall: {"Method":"/csi.v1.Node/NodePublishVolume","Request":{"volume_id":"1"},"Response":null,"Error":"rpc error: code = InvalidArgument desc = stage volume info 'device' key required","FullError":{}}
"""


def test_the_call_log_gives_each_calls_time_method_volume_and_outcome():
    info, stage, publish = parse_calls(LOG)
    assert (info.method, info.volume, info.ok, info.at) == ("NodeGetInfo", None, True, datetime(2026, 12, 5, 12, 1, 3, 500000, timezone.utc))
    assert (stage.method, stage.volume, stage.ok, stage.request["publish_context"]) == ("NodeStageVolume", "1", True, addon.PUBLISH_CONTEXT)
    assert stage.at == datetime(2026, 12, 5, 12, 1, 9, 1, timezone.utc)  # nanoseconds truncated to microseconds
    assert publish.method == "NodePublishVolume" and not publish.ok and "InvalidArgument" in publish.error
    assert parse_calls("") == [] and parse_calls("unrelated line\n") == []


def test_the_pin_and_image_names_are_the_ones_hack_builds():
    assert pins()["CSI_ATTACHER_VERSION"] == "v4.13.0" and addon.attacher_image() == "kubeproof/csi-attacher:v4.13.0"
    assert addon.mock_image(VERSION) == "kubeproof/csi-mock-driver:v1.37.2"
    images = (ROOT / "hack/build-images.sh").read_text()
    assert 'img "kubeproof/csi-mock-driver:$KUBERNETES_VERSION"' in images and 'img "kubeproof/csi-attacher:$CSI_ATTACHER_VERSION"' in images
    addons = (ROOT / "hack/build-addons.sh").read_text()
    assert 'step csi-mock-driver "$BIN/csi-mock-driver"' in addons and 'step csi-attacher "$BIN/csi-attacher"' in addons
    assert (ROOT / "hack/csi-mock-driver/main.go").is_file()
    assert addon.volume_id("1") == f"kubernetes.io/csi/{addon.DRIVER}^1"


@pytest.mark.parametrize("pin,refused", [("v5.0.0", "is not a v4 release"), ("4.13.0", "is not a v4 release")])
def test_an_attacher_pin_outside_its_module_is_refused_before_any_build(pin, refused):
    res = subprocess.run(["bash", "-c", "source hack/lib/common.sh && check_pins"], cwd=ROOT, text=True, capture_output=True,
                         env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "CSI_ATTACHER_VERSION": pin}, timeout=30)
    assert res.returncode != 0 and f"CSI_ATTACHER_VERSION={pin} {refused}" in res.stderr, res.stderr


def test_only_a_kind_cluster_gets_the_driver():
    with pytest.raises(CsiMockError, match="only on kind clusters"):
        addon.setup(NS(), NS(provider="existing"), NS(addon_ready=1))


def _pod(name: str, node: str, ready: bool) -> NS:
    cs = NS(name="mock", ready=ready, restart_count=0, state=NS(waiting=None))
    return NS(metadata=NS(name=name, deletion_timestamp=None), spec=NS(node_name=node),
              status=NS(phase="Running", container_statuses=[cs], conditions=[NS(type="Ready", status=str(ready))]))


def _cluster(pods, controller_ready: int) -> NS:
    nodes = [NS(metadata=NS(name=n), status=NS(node_info=NS(container_runtime_version="containerd://1.7"),
                                               addresses=[NS(type="InternalIP", address="172.18.0.9")])) for n in ("cp", "w1")]
    return NS(core=NS(list_node=lambda: NS(items=nodes), list_namespaced_pod=lambda ns, label_selector: NS(items=pods)),
              apps=NS(read_namespaced_deployment=lambda name, ns: NS(status=NS(ready_replicas=controller_ready))))


def test_a_driver_the_kubelets_never_register_fails_in_bounded_time_naming_the_nodes(monkeypatch):
    monkeypatch.setattr(addon.storage, "csi_node_drivers", lambda cluster, node: {addon.DRIVER: addon.DRIVER} if node == "cp" else {})
    cluster = _cluster([_pod("csi-mock-node-a", "cp", True), _pod("csi-mock-node-b", "w1", True)], controller_ready=1)
    with pytest.raises(CsiMockError) as err:
        addon.wait_ready(cluster, timeout=0.5)
    message = str(err.value)
    assert "registered with the kubelet on ['cp'] of ['cp', 'w1']" in message and "csi-mock-node-b@w1 Running" in message, message
    monkeypatch.setattr(addon.storage, "csi_node_drivers", lambda cluster, node: {addon.DRIVER: addon.DRIVER})
    assert addon.is_ready(addon.state(cluster))
    assert not addon.is_ready(addon.state(_cluster([_pod("csi-mock-node-a", "cp", True)], controller_ready=1)))
    assert not addon.is_ready(addon.state(_cluster([_pod("a", "cp", True), _pod("b", "w1", True)], controller_ready=0)))


def test_a_driver_still_in_use_is_not_removed(monkeypatch):
    monkeypatch.setattr(addon, "_in_use", lambda cluster: ["VolumeAttachment/csi-abc", "PersistentVolume/pv-1"])
    monkeypatch.setattr(addon, "delete", lambda *a: pytest.fail("nothing is deleted while volumes use the driver"))
    with pytest.raises(CsiMockError, match=r"not removing the CSI mock driver: \['VolumeAttachment/csi-abc', 'PersistentVolume/pv-1'\]"):
        addon.uninstall(NS(), NS(cleanup=0.3))
