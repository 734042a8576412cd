"""Device plugins: a node-level plugin advertises hardware to its kubelet over gRPC; the kubelet publishes it as
an extended resource in the node's allocatable, the scheduler places pods by it, and each pod is given a device
of its own by the plugin's Allocate answer.

Source: seed 002 「基本」 (「Device Plugin：管理节点上的硬件设备，比如GPU」, 「kubelet 还通过 gRPC 协议同一个叫作
Device Plugin 的插件进行交互」). Upstream: kubernetes.io/docs/concepts/extend-kubernetes/compute-storage-net/device-plugins/ .
Environment: kind has no device plugin; upstream's sample device plugin (two fake devices of example.com/resource,
built here from the k8s.io/kubernetes module) runs as a pod bound to one worker.
"""
import pytest

from fixtures.nodes import allocatable, capacity, workers
from fixtures.podexec import sh_in
from fixtures.pods import unschedulable_because, wait_gone, wait_pod, wait_ready
from fixtures.polling import eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("control-plane"),
              pytest.mark.requires(images=["sample-device-plugin", "busybox"], multinode=True)]

RESOURCE = "example.com/resource"
DEVICES = {"Dev-1", "Dev-2"}  # what the sample plugin serves
PLUGIN = "control_plane/device-plugin/sample-plugin.yaml"
SLEEPER = "scheduling/resources/sleeper.yaml"


def _count(resources: dict[str, str]) -> int:
    return int(resources.get(RESOURCE, "0"))


def _devices(ns, pod: str) -> set[str]:
    """The devices mounted into the pod's container (the plugin's Allocate mounts /tmp/<device id>)."""
    res = sh_in(ns.cluster, ns.name, pod, "main", "cd /tmp && ls -d Dev-* 2>/dev/null; true")
    assert res.returncode == 0, res
    return set(res.stdout.split())


@pytest.mark.claim("S002-009")
def test_a_device_plugins_devices_become_allocatable_on_its_node_and_each_pod_asking_gets_one(ns, cluster, timeouts):
    """The kubelet takes a device plugin's registration (gRPC, on its device-plugin socket) and publishes its
    devices as an extended resource in the node's allocatable; pods asking for it are scheduled to that node,
    one device each, until none is left; when the plugin goes, the node's allocatable drops to zero."""
    node, *others = workers(cluster)
    before = _count(allocatable(cluster, node))
    with step(f"Given no node offers {RESOURCE} yet ({node}: {before})"):
        assert before == 0 and all(_count(allocatable(cluster, n)) == 0 for n in others)
    with step(f"When the sample device plugin starts on {node} and registers with its kubelet"):
        ns.apply(PLUGIN, name="plugin", node=node)
        wait_ready(cluster, ns.name, "app=plugin", 1, timeouts)
    with step(f"Then {node}'s allocatable offers its two devices, and no other node any"):
        eventually(lambda: _count(allocatable(cluster, node)), until=lambda n: n == len(DEVICES),
                   timeout=timeouts.controller_sync, desc=f"{RESOURCE} allocatable on {node}")
        assert all(_count(allocatable(cluster, n)) == 0 for n in others), {n: allocatable(cluster, n) for n in others}
    asks = f"{{{RESOURCE}: 1}}"
    with step(f"When two pods ask for one {RESOURCE} each (the scheduler chooses their node)"):
        for name in ("first", "second"):
            ns.apply(SLEEPER, name=name, requests=asks, limits=asks)
        placed = {p.name: p for p in wait_ready(cluster, ns.name, "app in (first,second)", 2, timeouts)}
    with step(f"Then both run on {node}, each with a device of its own mounted by the plugin's Allocate"):
        assert {p.node for p in placed.values()} == {node}, {p.name: p.node for p in placed.values()}
        given = {name: _devices(ns, name) for name in placed}
        assert all(len(d) == 1 for d in given.values()) and set.union(*given.values()) == DEVICES, given
    with step("And a third pod asking for one stays Pending: the node has no device left"):
        ns.apply(SLEEPER, name="third", requests=asks, limits=asks)
        wait_pod(cluster, ns.name, "third", unschedulable_because(f"Insufficient {RESOURCE}"), timeouts, budget="controller_sync")
    with step("When the plugin stops, the node keeps the devices in its capacity but none is allocatable"):
        cluster.core.delete_namespaced_pod("plugin", ns.name)
        wait_gone(cluster, ns.name, "plugin", timeouts)
        eventually(lambda: _count(allocatable(cluster, node)), until=lambda n: n == 0,
                   timeout=timeouts.controller_sync, desc=f"{RESOURCE} allocatable on {node} once the plugin is gone")
        assert _count(capacity(cluster, node)) == len(DEVICES), capacity(cluster, node)
