"""Reaching daemon pods: through each node's IP on a hostPort, through the A records of a headless
Service, and through a ClusterIP Service whose internalTrafficPolicy Local keeps a client on its
own node's daemon pod (the document says no specific node can be reached through a Service).

Source: seed 003 「DaemonSet」 (与 Daemon Pod 通信: NodeIP 和已知端口, DNS, Service) (003_d8925e36aedd8024.txt);
kubernetes.io/docs/concepts/workloads/controllers/daemonset/#communicating-with-daemon-pods,
.../services-networking/service-traffic-policy/. The tests share one DaemonSet (on every node).
"""
import urllib.request

import pytest

from fixtures.kube_proxy import iptables_table, rules_mentioning
from fixtures.podexec import exec_in
from fixtures.pods import views, wait_ready
from fixtures.reporting import step
from fixtures.services import dig, fqdn
from fixtures.workloads import daemonset, wait_rollout

pytestmark = [pytest.mark.area("controllers"), pytest.mark.requires(images=["agnhost"], multinode=True),
              pytest.mark.xdist_group("daemonset-access")]

# a host port no other suite uses
HOST_PORT = 18471
REQUESTS = 20


@pytest.fixture(scope="module")
def everywhere(module_ns, cluster, timeouts):
    """Given DaemonSet 'hp' on every node (hostPort 18471), its headless, Local and Cluster Services."""
    module_ns.apply("controllers/daemonset/host-port.yaml", name="hp", host_port=HOST_PORT)
    wait_rollout(cluster, module_ns.name, "hp", timeouts, kind="DaemonSet")
    return module_ns


def node_ips(cluster) -> dict[str, str]:
    return {n.metadata.name: next(a.address for a in n.status.addresses if a.type == "InternalIP")
            for n in cluster.core.list_node().items}


@pytest.mark.claim("S003-080")
@pytest.mark.requires(node_access=True)
def test_each_node_ip_answers_on_the_host_port_with_its_own_daemon_pod(everywhere, cluster, timeouts):
    """From outside the pod network (the test host), <node InternalIP>:<hostPort> reaches the daemon
    pod on that node; on kind the CNI portmap plugin DNATs the port (CNI-HOSTPORT-DNAT)."""
    pods = {p.node: p.name for p in views(cluster, everywhere.name, "app=hp")}
    for node, ip in node_ips(cluster).items():
        with step(f"When the host requests http://{ip}:{HOST_PORT}/hostname ({node})"):
            with urllib.request.urlopen(f"http://{ip}:{HOST_PORT}/hostname", timeout=timeouts.apply) as answer:
                body = answer.read().decode().strip()
        with step(f"Then the daemon pod on {node} answers"):
            assert body == pods[node], (node, body, pods)
        with step(f"And {node}'s nat table DNATs port {HOST_PORT} in the portmap plugin's chain"):
            nat = iptables_table(cluster, node)
            assert [r for r in rules_mentioning(nat, f"--dport {HOST_PORT}") if "HOSTPORT" in r], nat.chains


@pytest.mark.claim("S003-081")
def test_a_headless_service_over_a_daemonset_resolves_to_one_address_per_ready_pod(everywhere, cluster, timeouts):
    """The headless Service's name has one A record per ready daemon pod, their IPs."""
    ds = daemonset(cluster, everywhere.name, "hp")
    ips = sorted(p.ip for p in views(cluster, everywhere.name, "app=hp") if p.ready)
    client = views(cluster, everywhere.name, "app=hp")[0].name
    with step(f"When the headless Service's name is looked up ({ds['ready']} ready daemon pods)"):
        answers = sorted(dig(cluster, everywhere.name, client, "app", fqdn("hp-headless", everywhere.name)))
    with step("Then it has one A record per ready daemon pod"):
        assert len(answers) == ds["ready"] and answers == ips, (answers, ips)


def hostnames_seen(cluster, ns, client: str, service: str) -> list[str]:
    script = f"for i in $(seq {REQUESTS}); do curl -s --max-time 2 http://{service}/hostname; echo; done"
    res = exec_in(cluster, ns.name, client, "app", ["bash", "-c", script], timeout=REQUESTS * 2 + 5)
    return [line for line in res.stdout.splitlines() if line]


@pytest.mark.claim("S003-082")
def test_internal_traffic_policy_local_keeps_a_client_on_its_own_nodes_daemon_pod(everywhere, cluster, timeouts):
    """Through a ClusterIP Service over the DaemonSet, requests spread over the nodes' pods; with
    internalTrafficPolicy Local, every request from a client lands on the daemon pod of its own node."""
    pods = {p.node: p.name for p in views(cluster, everywhere.name, "app=hp")}
    node = sorted(pods)[-1]
    with step(f"Given a client pod on {node}"):
        everywhere.apply("controllers/daemonset/client.yaml", name="client", node=node)
        wait_ready(cluster, everywhere.name, "", len(pods) + 1, timeouts)
    with step(f"When it sends {REQUESTS} requests through the Local Service"):
        local = hostnames_seen(cluster, everywhere, "client", "hp-local")
    with step(f"Then all {REQUESTS} are answered by the daemon pod on {node}"):
        assert local == [pods[node]] * REQUESTS, local
    with step(f"And {REQUESTS} requests through the Cluster Service reach pods on more than one node (the control)"):
        spread = hostnames_seen(cluster, everywhere, "client", "hp-cluster")
        assert len(spread) == REQUESTS and len(set(spread)) >= 2, spread
