"""The pod network model: pod-to-pod traffic without NAT on one node and across nodes, the node reaching
pods, how nodes route each other's pod ranges, and what a pod's own IP and hostname are.

Source: seed 002 「Pod的通信」, 「Pod内的容器间通信」, 「同一节点下Pod间的通信」, 「不同节点下Pod间的通信」.
Upstream: kubernetes.io/docs/concepts/services-networking/ (the network model); flannel's backends
(vxlan: routes to other nodes' podCIDRs via flannel.1).
"""
import pytest

from fixtures.node_network import http_get_on_node
from fixtures.nodes import runs_a_kubelet, wait_kubelet_nodes
from fixtures.podexec import exec_in
from fixtures.pods import previous_log, restarted_at_least, view, wait_pod, wait_ready
from fixtures.polling import eventually
from fixtures.reporting import attach_text, step

pytestmark = [pytest.mark.area("networking"), pytest.mark.requires(images=["agnhost"], multinode=True, node_access=True),
              pytest.mark.xdist_group("networking-pod-network")]


@pytest.fixture(scope="module")
def layout(module_ns, cluster, timeouts):
    """A netexec server on node A, a client on A and a client on B."""
    a, b = wait_kubelet_nodes(cluster, 2, timeouts)[:2]
    module_ns.apply("networking/services/server.yaml", name="srv", app="srv", node=a)
    module_ns.apply("networking/services/client.yaml", name="cli-a", node=a)
    module_ns.apply("networking/services/client.yaml", name="cli-b", node=b)
    wait_ready(cluster, module_ns.name, "app=srv", 1, timeouts)
    wait_ready(cluster, module_ns.name, "role=client", 2, timeouts)
    return {"a": a, "b": b, **{n: view(cluster, module_ns.name, n) for n in ("srv", "cli-a", "cli-b")}}


def _client_ip_seen(cluster, ns, client, server_ip):
    res = exec_in(cluster, ns, client, "client", ["curl", "-sS", "-m", "2", f"http://{server_ip}:8080/clientip"])
    return res.stdout.strip().rsplit(":", 1)[0] if res.returncode == 0 else f"failed: {res.stderr.strip()}"


@pytest.mark.claim("S002-116")
def test_pods_reach_each_other_across_nodes_by_pod_ip_without_nat(module_ns, cluster, layout):
    """A pod on node B reaches a pod on node A at its pod IP and the server sees the client's pod IP;
    the node (host network) reaches the pod IP too; a pod sees its own IP equal to status.podIP."""
    srv, cli = layout["srv"], layout["cli-b"]
    with step(f"When {cli.name} on {layout['b']} requests {srv.ip}:8080/clientip ({srv.name} on {layout['a']})"):
        seen = _client_ip_seen(cluster, module_ns.name, cli.name, srv.ip)
    with step(f"Then the server saw the client's own pod IP {cli.ip}"):
        assert seen == cli.ip, f"server saw {seen}"
    with step(f"And node {layout['b']} reaches {srv.ip}:8080 from its own network namespace"):
        assert http_get_on_node(cluster, layout["b"], f"http://{srv.ip}:8080/hostname").body == srv.name
    with step("And inside the pod, eth0 carries status.podIP"):
        out = exec_in(cluster, module_ns.name, srv.name, "netexec", ["ip", "-4", "-o", "addr", "show", "eth0"]).stdout
        assert f" {srv.ip}/" in out, out


@pytest.mark.claim("S002-118")
def test_pods_on_the_same_node_reach_each_other_by_pod_ip(module_ns, cluster, layout):
    """Two pods on one node talk directly (through the node's bridge and the pods' veth pairs on flannel)."""
    srv, cli = layout["srv"], layout["cli-a"]
    assert srv.node == cli.node
    with step(f"Then {cli.name} reaches {srv.ip}:8080 on the same node and is seen as {cli.ip}"):
        assert _client_ip_seen(cluster, module_ns.name, cli.name, srv.ip) == cli.ip


@pytest.mark.claim("S002-119")
def test_each_node_routes_every_other_nodes_pod_cidr_through_the_cni(module_ns, cluster, layout):
    """Cross-node pod traffic rides routes the CNI installs: on kindnet, <podCIDR> via <node IP> (host-gw);
    with flannel's vxlan backend, <podCIDR> via <that node's flannel.1 address> dev flannel.1 onlink."""
    nodes = {n.metadata.name: n.spec.pod_cidr for n in cluster.core.list_node().items if runs_a_kubelet(n)}
    for node in (layout["a"], layout["b"]):
        routes = cluster.node_exec(node, "ip", "-4", "route").stdout
        attach_text(f"ip route on {node}", routes)
        for other, cidr in nodes.items():
            if other == node:
                continue
            with step(f"Then {node} has a route for {other}'s podCIDR {cidr} through flannel.1"):
                line = next((r for r in routes.splitlines() if r.startswith(f"{cidr} ")), None)
                assert line and "dev flannel.1" in line and "onlink" in line, f"route to {cidr}: {line}\n{routes}"
    with step("And flannel.1 is a VXLAN device: pod traffic between nodes is encapsulated"):
        link = cluster.node_exec(layout["a"], "ip", "-d", "link", "show", "flannel.1").stdout
        assert " vxlan id " in link, link


@pytest.mark.claim("S002-117")
def test_every_container_sees_the_pod_name_as_hostname_unless_spec_hostname_is_set(module_ns, cluster, timeouts):
    """hostname in every container of a pod is the pod name; spec.hostname replaces it; a pod name longer than
    63 characters is cut to its first 63 for the hostname."""
    long_name = "n" * 40 + "-" + "m" * 29  # 70 characters: a valid pod name, too long for a hostname
    specs = {"plain": "", "renamed": "custom-host", long_name: ""}
    for name, hostname in specs.items():
        module_ns.apply("networking/pod-network/named.yaml", name=name, hostname=hostname)
    wait_ready(cluster, module_ns.name, "role=named", len(specs), timeouts)
    for name, hostname in specs.items():
        want = hostname or name[:63]
        for container in ("app", "sidecar"):
            with step(f"Then `hostname` in {name[:20]}…/{container} is {want[:20]}…"):
                got = exec_in(cluster, module_ns.name, name, container, ["hostname"]).stdout.strip()
                assert got == want, f"pod {name}: container {container} hostname {got!r}"


@pytest.mark.claim("S002-117")
def test_a_second_container_binding_the_same_port_fails_and_crash_loops(module_ns, cluster, timeouts):
    """Containers of a pod share one port space: of two containers binding 8080, the second fails with
    `address already in use` and restarts, while the first keeps running."""
    module_ns.apply("networking/pod-network/same-port.yaml", name="clash")
    with step("Then container second exits and is restarted"):
        pod = wait_pod(cluster, module_ns.name, "clash", restarted_at_least("second", 1), timeouts)
    with step("And its log says the address is in use, while first runs without restarts"):
        log = eventually(lambda: previous_log(cluster, module_ns.name, "clash", "second"),
                         until=lambda text: "address already in use" in text, timeout=timeouts.controller_sync,
                         desc="second's previous log naming the port clash")
        assert "address already in use" in log
        assert pod.container("first").running and pod.container("first").restarts == 0, pod.containers
