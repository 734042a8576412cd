"""A hostPort and a NodePort Service on the same port number (seed 001, 2021-07-12~18, 「k8s hostPort」
特征 §4): the API accepts both, neither holds a socket, and which one answers depends on the order in
which portmap's and kube-proxy's DNAT run, i.e. on the kube-proxy mode.
Sources: kubernetes/kubernetes PR 108496 (kube-proxy port opener removed, 1.24); containernetworking/
plugins commit 9fab520c (portmap appends its PREROUTING jump, v0.8.0); kube-proxy EnsureRule(Prepend)."""
from collections import Counter

import pytest

from fixtures.extra_clusters import KUBE_PROXY_MODES
from fixtures.kube_proxy import dstnat_order, prerouting_hops
from fixtures.node_network import http_get, nat_rules, netfilter_snapshot, node_ip, tcp_listeners, unused_host_port
from fixtures.nodes import kubelet_nodes, runs_a_kubelet
from fixtures.polling import eventually
from fixtures.pods import ready_pods
from fixtures.reporting import attach_text, step

pytestmark = [pytest.mark.area("networking"), pytest.mark.requires(node_access=True, images=["agnhost"])]

SERVICE, HOSTPORT_POD = "svc-web", "hostport-web"
# requests made to see who answers: each is a new connection, so conntrack pins nothing
SAMPLES = 20


class NodePortAnswers(AssertionError):
    """What is observed instead of the document's claim: the NodePort Service answers every request."""


def _nodeport_wins(observed: str):
    return pytest.mark.xfail(strict=True, raises=NodePortAnswers,
                             reason=f"observed: the NodePort Service answers, not the hostPort pod; {observed}")


# The document's claim fails in both modes, each for its own reason
# (measured on kind, Kubernetes 1.34, flannel with Debian's CNI plugins 1.1.1 portmap).
MODES = [
    pytest.param("iptables", marks=_nodeport_wins(
        "kube-proxy prepends -j KUBE-SERVICES to nat PREROUTING while portmap (CNI plugins >= 0.8.0) appends -j CNI-HOSTPORT-DNAT, "
        "so the NodePort DNAT runs first")),
    pytest.param("nftables", marks=_nodeport_wins(
        "kube-proxy's nat-prerouting (table ip kube-proxy) and portmap's PREROUTING (iptables-nft, table ip nat) both hook prerouting "
        "at priority dstnat; the kernel runs equal-priority hooks newest first, and kube-proxy's table is newer than the nat "
        "PREROUTING chain kind's entrypoint creates at node boot (the test asserts that order, by a traced packet, before it "
        "counts answers)")),
    pytest.param("ipvs"),
]


def _ready(cluster, namespace: str, app: str, timeouts) -> None:
    eventually(lambda: ready_pods(cluster, namespace, f"app={app}"), until=lambda pods: len(pods) == 1,
               timeout=timeouts.pod_start, desc=f"pod {app} Ready")


def _node_port(cluster, namespace: str) -> int:
    return cluster.core.read_namespaced_service(SERVICE, namespace).spec.ports[0].node_port


@pytest.mark.claim("S001-14")
@pytest.mark.requires(multinode=True)
@pytest.mark.parametrize("kube_proxy_mode", KUBE_PROXY_MODES)
def test_nodeport_holds_no_listening_socket_when_it_reuses_a_hostport_number(kube_proxy_ns, kube_proxy_mode, timeouts, server_version):
    """The document: a NodePort can be created on a port a pod uses as hostPort, "and the listening port
    also appears". The API does accept both; since kube-proxy's port opener was removed (1.24, PR 108496)
    no node listens on a NodePort any more, in any mode."""
    ns, cluster = kube_proxy_ns, kube_proxy_ns.cluster
    node = kubelet_nodes(cluster)[0]
    # any other node serves the NodePort, cordoned or tainted alike
    other = next(n.metadata.name for n in cluster.core.list_node().items if n.metadata.name != node and runs_a_kubelet(n))
    with step("Given a NodePort Service whose nodePort P the API server allocated"):
        ns.apply("networking/hostport/nodeport-service.yaml", name=SERVICE)
        port = _node_port(cluster, ns.name)
        _ready(cluster, ns.name, SERVICE, timeouts)
    with step(f"When a pod on {node} claims hostPort {port} too"):
        ns.apply("networking/hostport/server.yaml", name=HOSTPORT_POD, node=node, host_port=port)
        _ready(cluster, ns.name, HOSTPORT_POD, timeouts)
    with step(f"Then kube-proxy serves NodePort {port} (on {other}, which has no hostPort pod)"):
        ip = node_ip(cluster, other)
        eventually(lambda: http_get(ip, port), until=lambda a: a.body == SERVICE, timeout=timeouts.network_programming, desc=f"{ip}:{port} answered by {SERVICE}")
    listening_expected = server_version < (1, 24)
    with step(f"And port {port} has {'a' if listening_expected else 'no'} listening socket on {node} or {other} "
              f"(Kubernetes {'.'.join(map(str, server_version))}; port opener removed in 1.24)"):
        found = {n: tcp_listeners(cluster, n, port) for n in (node, other)}
        assert all(bool(v) == listening_expected for v in found.values()), f"[behaviour-changed] ss -ltnH 'sport = :{port}': {found}"


@pytest.mark.claim("S001-11")
@pytest.mark.slow
@pytest.mark.parametrize("kube_proxy_mode", MODES)
def test_hostport_wins_over_nodeport_when_both_claim_the_same_port_on_a_node(kube_proxy_mode, kube_proxy_ns, timeouts):
    """hostPort DNAT rules are inserted before KUBE-SERVICES, so a request to <nodeIP>:P reaches the hostPort pod
    even when P is also a Service's NodePort (the document's claim). Measured per kube-proxy mode; where it does
    not hold, MODES records what answers instead and why."""
    ns, mode, cluster = kube_proxy_ns, kube_proxy_mode, kube_proxy_ns.cluster
    node = kubelet_nodes(cluster)[0]
    ip = node_ip(cluster, node)
    with step(f"Given a NodePort Service {SERVICE} answering at {ip}:P (kube-proxy {mode} has programmed it on {node})"):
        ns.apply("networking/hostport/nodeport-service.yaml", name=SERVICE)
        port = _node_port(cluster, ns.name)
        _ready(cluster, ns.name, SERVICE, timeouts)
        eventually(lambda: http_get(ip, port), until=lambda a: a.body == SERVICE, timeout=timeouts.network_programming, desc=f"{ip}:{port} answered by {SERVICE}")
    with step(f"And a pod {HOSTPORT_POD} on {node} with hostPort {port}, its portmap DNAT in place"):
        ns.apply("networking/hostport/server.yaml", name=HOSTPORT_POD, node=node, host_port=port)
        _ready(cluster, ns.name, HOSTPORT_POD, timeouts)
        pod_ip = cluster.core.read_namespaced_pod(HOSTPORT_POD, ns.name).status.pod_ip
        rules = nat_rules(cluster, node, port)
        assert any(f"--to-destination {pod_ip}:8080" in r for r in rules), f"no portmap DNAT to {pod_ip}:8080: {rules}"
        attach_text(f"netfilter on {node} (kube-proxy {mode})",
                    netfilter_snapshot(cluster, node) + f"\n# iptables-save -t nat, port {port}\n" + "\n".join(rules))
    with step(f"And on {node} a new connection meets kube-proxy's destination NAT before portmap's "
              "(the order that decides who answers; traced on a port nothing serves)"):
        hops = prerouting_hops(cluster, node, ip, unused_host_port(cluster), timeouts.network_programming)
        attach_text(f"traced prerouting hops on {node}", "\n".join(f"{h.family} {h.table} {h.chain} {h.kind} {h.rule}" for h in hops))
        order = dstnat_order(hops)
        assert order == ["kube-proxy", "portmap"], f"[order-changed] kube-proxy {mode}: destination NAT met in the order {order}"
    with step(f"When {SAMPLES} new connections are made to {ip}:{port} from outside the cluster"):
        answers = Counter(str(http_get(ip, port)) for _ in range(SAMPLES))
    with step(f"Then every one is answered by the hostPort pod {HOSTPORT_POD}, as the document says"):
        if answers == Counter({SERVICE: SAMPLES}):
            raise NodePortAnswers(f"kube-proxy {mode}: NodePort Service {SERVICE} answered all {SAMPLES} requests to {ip}:{port}")
        assert answers == Counter({HOSTPORT_POD: SAMPLES}), f"[behaviour-changed] kube-proxy {mode}: answers from {ip}:{port}: {dict(answers)}"
