"""A pod's network namespace from inside and from the node: containers sharing it (and a debug container
joining it), the host-side veth that carries its traffic, host-network pods sharing the node's IP, and the
CNI's IP allocation state on disk.

Source: seed 001 2021-03-08~14 › k8s pod 抓包; 在k8s中，什么情况下会出现相同的pod ip?. Upstream: ephemeral
containers (GA 1.25, kubectl debug --target); containernetworking/plugins host-local IPAM (one file per IP
under /var/lib/cni/networks/<network>, last_reserved_ip.0); flannel's CNI config (bridge cni0, host-local).
"""
import re

import pytest

from fixtures.node_network import http_get_on_node, node_ip
from fixtures.nodes import kubelet_nodes
from fixtures.podexec import exec_in
from fixtures.polling import eventually
from fixtures.pods import ephemeral_containers, view, wait_ready
from fixtures.reporting import step
from fixtures.workloads import replicasets, wait_rollout

pytestmark = [pytest.mark.area("networking"), pytest.mark.requires(images=["agnhost"], node_access=True)]

IPAM_DIR = "/var/lib/cni/networks/cbr0"  # flannel's conflist: network "cbr0", host-local's default dataDir


def _packets_during_requests(cluster, node, pod, read) -> int:
    """How much the packet counter `read()` grew while `node` sent 5 HTTP requests to the pod (each answered)."""
    before = int(read().strip())
    for _ in range(5):
        assert http_get_on_node(cluster, node, f"http://{pod.ip}:8080/hostname").body == pod.name
    return int(read().strip()) - before


@pytest.mark.claim("S001-31")
def test_containers_of_a_pod_share_one_network_namespace(ns, cluster, timeouts):
    """All containers of a pod share one network namespace: the same eth0 address, and localhost reaches a
    sibling's port (so a tcpdump sidecar sees the app's traffic)."""
    ns.apply("networking/pod-network/named.yaml", name="shared", hostname="")
    pod = wait_ready(cluster, ns.name, "role=named", 1, timeouts)[0]
    with step("Then eth0 has the same address in both containers"):
        addrs = {c: exec_in(cluster, ns.name, "shared", c, ["ip", "-4", "-o", "addr", "show", "eth0"]).stdout.split()[3]
                 for c in ("app", "sidecar")}
        assert len(set(addrs.values())) == 1 and addrs["app"].split("/")[0] == pod.ip, addrs
    with step("And the sidecar reaches the app's port on localhost"):
        res = exec_in(cluster, ns.name, "shared", "sidecar", ["curl", "-sS", "-m", "2", "http://localhost:8080/hostname"])
        assert res.stdout.strip() == "shared", res


@pytest.mark.claim("S001-31")
def test_a_strategic_merge_patch_adds_a_debug_container_by_name_and_rolls_out(ns, cluster, timeouts, images):
    """kubectl patch on spec.template.spec.containers merges by name: the debug container is added, the app
    kept, and the Deployment rolls out a new ReplicaSet."""
    ns.apply("networking/pod-network/app-deployment.yaml", name="patched")
    before = wait_rollout(cluster, ns.name, "patched", timeouts)
    with step("When a container named debug is patched into the pod template"):
        cluster.apps.patch_namespaced_deployment("patched", ns.name, {"spec": {"template": {"spec": {"containers": [
            {"name": "debug", "image": images["agnhost"], "args": ["pause"]}]}}}})
    with step("Then the template has app and debug, and a second ReplicaSet rolls out"):
        after = wait_rollout(cluster, ns.name, "patched", timeouts)
        names = [c.name for c in cluster.apps.read_namespaced_deployment("patched", ns.name).spec.template.spec.containers]
        assert sorted(names) == ["app", "debug"], names
        assert after["generation"] == before["generation"] + 1 and len(replicasets(cluster, ns.name, "app=patched")) == 2, after


@pytest.mark.claim("S001-31")
@pytest.mark.requires(images=["agnhost", "busybox"])
def test_kubectl_debug_adds_an_ephemeral_container_in_the_pods_namespaces(ns, cluster, timeouts, images):
    """The non-restarting way: `kubectl debug <pod> --target=app` adds ephemeralContainers[0], which shares the
    pod's network namespace (it counts the app's packets on eth0) and, with --target, the app's processes."""
    node = kubelet_nodes(cluster)[0]
    ns.apply("networking/services/server.yaml", name="target", app="target", node=node)
    pod = wait_ready(cluster, ns.name, "app=target", 1, timeouts)[0]
    with step("When kubectl debug adds container dbg targeting netexec"):
        cluster.kubectl("debug", "-n", ns.name, "target", f"--image={images['busybox']}", "--target=netexec", "-c", "dbg",
                        "--", "sleep", "3600")
        eventually(lambda: ephemeral_containers(cluster, ns.name, "target"), until=lambda c: "dbg" in c and c["dbg"].running,
                   timeout=timeouts.pod_start, desc="ephemeral container dbg running")
        p = view(cluster, ns.name, "target")
    with step("Then it is ephemeralContainers[0], and the pod was not restarted"):
        spec = cluster.core.read_namespaced_pod("target", ns.name).spec
        assert [e.name for e in spec.ephemeral_containers] == ["dbg"] and p.uid == pod.uid and p.restarts == 0
    with step("And ps in it shows the app's netexec process"):
        assert "netexec" in exec_in(cluster, ns.name, "target", "dbg", ["ps"]).stdout
    with step("And it sees the app's traffic: eth0's received packets grow when the node sends requests"):
        read = lambda: exec_in(cluster, ns.name, "target", "dbg", ["cat", "/sys/class/net/eth0/statistics/rx_packets"]).stdout
        assert _packets_during_requests(cluster, node, pod, read) >= 5


@pytest.mark.claim("S001-33")
def test_a_pods_traffic_crosses_a_host_side_veth_on_the_node(ns, cluster, timeouts):
    """Each pod has a host-side veth peer in the node's namespace (flannel: veth*, a port of bridge cni0) that
    carries its traffic: where `tcpdump -i veth…` would capture it."""
    node = kubelet_nodes(cluster)[0]
    ns.apply("networking/services/server.yaml", name="seen", app="seen", node=node)
    pod = wait_ready(cluster, ns.name, "app=seen", 1, timeouts)[0]
    with step("Given the pod's eth0 names its peer's interface index on the node (iflink)"):
        peer = exec_in(cluster, ns.name, "seen", "netexec", ["cat", "/sys/class/net/eth0/iflink"]).stdout.strip()
        links = cluster.node_exec(node, "ip", "-o", "link").stdout
        line = next((ln for ln in links.splitlines() if ln.startswith(f"{peer}: ")), "")
    with step(f"Then interface {peer} on {node} is a veth, enslaved to bridge cni0"):
        m = re.match(rf"{peer}: (veth[0-9a-f]+)@", line)
        assert m and "master cni0" in line, f"interface {peer}: {line}"
        veth = m.group(1)
    with step(f"And {veth} carries the pod's traffic: its transmitted packets grow as the node sends requests"):
        read = lambda: cluster.node_exec(node, "cat", f"/sys/class/net/{veth}/statistics/tx_packets").stdout
        assert _packets_during_requests(cluster, node, pod, read) >= 5


@pytest.mark.claim("S001-34")
def test_host_network_pods_on_one_node_share_the_node_ip(ns, cluster, timeouts):
    """Pods with hostNetwork: true on one node all report status.podIP == status.hostIP == the node's InternalIP."""
    node = kubelet_nodes(cluster)[0]
    for name in ("host-1", "host-2"):
        ns.apply("networking/pod-network/host-network.yaml", name=name, node=node)
    pods = wait_ready(cluster, ns.name, "role=host-network", 2, timeouts)
    with step(f"Then both pods' IPs equal {node}'s InternalIP"):
        assert {p.ip for p in pods} == {p.host_ip for p in pods} == {node_ip(cluster, node)}, pods


@pytest.mark.claim("S001-35")
def test_pod_ips_come_from_host_local_ipam_files_inside_the_node_pod_cidr(ns, cluster, timeouts):
    """The kubelet does not pick pod IPs: the CNI's IPAM does. flannel uses host-local, which keeps one file per
    allocated IP (holding the sandbox's container id) under /var/lib/cni/networks/cbr0; every IP is in the
    node's spec.podCIDR."""
    import ipaddress

    node = kubelet_nodes(cluster)[0]
    ns.apply("networking/services/server.yaml", name="ipam", app="ipam", node=node)
    pod = wait_ready(cluster, ns.name, "app=ipam", 1, timeouts)[0]
    cidr = cluster.core.read_node(node).spec.pod_cidr
    with step(f"Then {pod.ip} lies in {node}'s podCIDR {cidr}"):
        assert ipaddress.ip_address(pod.ip) in ipaddress.ip_network(cidr)
    with step(f"And {IPAM_DIR}/{pod.ip} exists on {node}, naming a container id"):
        res = cluster.node_exec(node, "cat", f"{IPAM_DIR}/{pod.ip}")
        assert res.returncode == 0 and re.match(r"[0-9a-f]{64}", res.stdout), f"{IPAM_DIR}/{pod.ip}: {res.stdout}{res.stderr}"
