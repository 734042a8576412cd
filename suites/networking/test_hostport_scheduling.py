"""The scheduler treats hostPorts as a node resource keyed by (hostIP, hostPort, protocol)
(seed 001, 2021-07-12~18, 「k8s hostPort」 特征 §3). Source: kube-scheduler NodePorts filter;
e2e "[sig-network] HostPort validates that there is no conflict between pods with same hostPort
but different hostIP and protocol"."""
import pytest

from fixtures.node_network import node_ip, unused_host_port
from fixtures.nodes import kubelet_nodes, schedulable
from fixtures.pods import views
from fixtures.polling import consistently, eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("networking"), pytest.mark.requires(images=["agnhost"])]

NO_FREE_PORTS = "didn't have free ports for the requested pod ports"


def _no_shared_node(pods) -> bool:
    placed = [p.node for p in pods if p.node]
    return len(placed) == len(set(placed))


def _spread_and_refused(replicas: int):
    """Predicate: every replica is either Running on a node of its own or Pending for want of free
    ports, and at least one was refused."""

    def check(pods) -> bool:
        refused = [p for p in pods if p.unschedulable and NO_FREE_PORTS in p.scheduling_message]
        running = [p for p in pods if p.phase == "Running"]
        return len(pods) == replicas and len(refused) + len(running) == replicas and bool(refused) and _no_shared_node(pods)

    check.__name__ = f"{replicas} replicas Running on distinct nodes or Pending ({NO_FREE_PORTS}), at least one Pending"
    return check


@pytest.mark.claim("S001-13")
def test_pods_with_the_same_hostport_never_share_a_node_when_there_are_more_pods_than_nodes(ns, cluster, timeouts):
    """Pods claiming the same hostPort/protocol on all addresses are never scheduled onto one node:
    each node takes one, and the pod left over stays Pending with the NodePorts filter's reason."""
    nodes, port = len(schedulable(cluster)), unused_host_port(cluster)
    with step(f"Given {nodes} schedulable node(s)"):
        assert nodes >= 1, "no schedulable node"
    with step(f"When {nodes + 1} replicas each ask for hostPort {port}/TCP"):
        ns.apply("networking/hostport/replicas.yaml", name="same-port", replicas=nodes + 1, host_port=port)
    with step(f"Then they run on distinct nodes and the one left over stays Pending: '{NO_FREE_PORTS}'"):
        eventually(lambda: views(cluster, ns.name, "app=same-port"), until=_spread_and_refused(nodes + 1),
                   timeout=timeouts.pod_start, desc="replicas spread, one refused")
    with step("And no two of them ever share a node"):
        # only this invariant is held: a node cordoned or freed meanwhile by someone else may move the Pending one
        consistently(lambda: views(cluster, ns.name, "app=same-port"), holds=_no_shared_node,
                     duration=timeouts.short_hold, desc="no node holds two replicas")


@pytest.mark.claim("S001-13")
def test_pods_sharing_a_hostport_number_share_a_node_when_host_ip_or_protocol_differ(ns, cluster, timeouts):
    """The conflict key is (hostIP, hostPort, protocol): the same port number on another host
    address or another protocol does not keep pods apart."""
    node, port = kubelet_nodes(cluster)[0], unused_host_port(cluster)
    ip = node_ip(cluster, node)
    claims = {"loopback-tcp": ("127.0.0.1", "TCP"), "node-ip-tcp": (ip, "TCP"), "node-ip-udp": (ip, "UDP")}
    with step(f"When three pods pinned to {node} claim port {port} as " + ", ".join(f"{h}/{p}" for h, p in claims.values())):
        for name, (host_ip, protocol) in claims.items():
            ns.apply("networking/hostport/claimant.yaml", name=name, node=node, host_port=port, host_ip=host_ip, protocol=protocol)
    with step(f"Then all three are scheduled onto {node} and run"):
        eventually(lambda: views(cluster, ns.name, "app=claimant"),
                   until=lambda pods: len(pods) == 3 and all(p.node == node and p.phase == "Running" for p in pods),
                   timeout=timeouts.pod_start, desc=f"3 claimants Running on {node}")
