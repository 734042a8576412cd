"""hostPort is NAT, not a socket: the portmap CNI plugin DNATs <nodeIP>:<hostPort> to the pod
(seed 001, 2021-07-12~18, 「k8s hostPort」). Source: kubernetes.io/docs/concepts/extend-kubernetes/
compute-storage-net/network-plugins/#support-hostport and containernetworking/plugins portmap README."""
import ipaddress
import re

import pytest

from fixtures.node_network import (cni_chain, http_get, http_get_on_node, nat_rules, node_ip, node_process_listening, tcp_listeners,
                                   unused_host_port)
from fixtures.nodes import kubelet_nodes
from fixtures.polling import eventually
from fixtures.pods import ready_pods
from fixtures.reporting import attach_text, step

pytestmark = [pytest.mark.area("networking"), pytest.mark.requires(node_access=True, images=["agnhost"])]

SERVER = "hostport-web"


@pytest.fixture
def served_hostport(ns, cluster, timeouts):
    """Given a Ready pod serving HTTP on hostPort P of a node, answering at <nodeIP>:P.

    Returns (node, node IP, P, pod IP)."""
    node, port = kubelet_nodes(cluster)[0], unused_host_port(cluster)
    ip = node_ip(cluster, node)
    with step(f"Given pod {SERVER} serving on hostPort {port} of {node} ({ip})"):
        ns.apply("networking/hostport/server.yaml", name=SERVER, node=node, host_port=port)
        eventually(lambda: ready_pods(cluster, ns.name, f"app={SERVER}"), until=lambda pods: len(pods) == 1,
                   timeout=timeouts.pod_start, desc=f"pod {SERVER} Ready")
        eventually(lambda: http_get(ip, port), until=lambda a: a.body == SERVER,
                   timeout=timeouts.network_programming, desc=f"{ip}:{port} answers as {SERVER}")
    pod_ip = cluster.core.read_namespaced_pod(SERVER, ns.name).status.pod_ip
    return node, ip, port, pod_ip


@pytest.mark.claim("S001-10")
def test_hostport_is_reachable_on_the_node_address_when_portmap_is_in_the_cni_chain(ns, cluster, served_hostport):
    """hostPort is provided by the portmap CNI plugin, enabled in the node's CNI conflist with the
    portMappings capability; with it, <nodeIP>:<hostPort> reaches the pod."""
    node, ip, port, _ = served_hostport
    with step(f"Then {node}'s CNI conflist chains portmap with capabilities.portMappings: true"):
        chain = cni_chain(cluster, node)
        attach_text(f"CNI chain {chain['file']}", str(chain["plugins"]))
        portmaps = [p for p in chain["plugins"] if p.get("type") == "portmap"]
        assert portmaps and portmaps[0].get("capabilities", {}).get("portMappings") is True, \
            f"{chain['file']} has no portmap plugin with portMappings: {[p.get('type') for p in chain['plugins']]}"
    with step(f"And {ip}:{port}, reached from outside the pod network, is answered by the pod"):
        answer = http_get(ip, port)
        assert answer.body == SERVER, f"GET http://{ip}:{port}/hostname: {answer}"


@pytest.mark.claim("S001-12")
def test_hostport_holds_no_listening_socket_when_it_is_served_by_dnat(ns, cluster, served_hostport, timeouts):
    """hostPort forwards by rewriting the destination port (iptables DNAT), not by listening on the host:
    the node has no socket on the port, yet the port answers; a host process can even bind the port
    and DNAT still takes its traffic."""
    node, ip, port, pod_ip = served_hostport
    with step(f"Then no socket listens on port {port} in {node}'s network namespace (ss -ltn)"):
        listeners = tcp_listeners(cluster, node, port)
        assert listeners == [], f"ss -ltnH 'sport = :{port}' on {node} shows: {listeners}"
    with step(f"And {node}'s nat table DNATs port {port} to the pod {pod_ip}:8080"):
        rules = nat_rules(cluster, node, port)
        attach_text(f"nat rules for port {port} on {node}", "\n".join(rules))
        dnat = [r for r in rules if re.search(rf"-j DNAT --to-destination {re.escape(pod_ip)}:8080\b", r)]
        assert dnat, f"no DNAT of port {port} to {pod_ip}:8080 in iptables-save -t nat on {node}; rules naming the port: {rules}"
    with step(f"When a process on {node} itself binds port {port} (it can: nothing holds the port)"):
        with node_process_listening(cluster, node, port, lifetime=timeouts.network_programming):
            eventually(lambda: tcp_listeners(cluster, node, port), until=bool, timeout=timeouts.apply, desc=f"socat listening on {node}:{port}")
            answer = http_get(ip, port)
    with step(f"Then {ip}:{port} is still answered by {SERVER}: DNAT takes the traffic before any socket sees it"):
        assert answer.body == SERVER, f"GET http://{ip}:{port}/hostname with a node process listening on {port}: {answer}"


@pytest.mark.claim("S001-15")
def test_hostport_answers_localhost_and_hairpin_clients_when_portmap_masquerades_them(ns, cluster, served_hostport):
    """portmap masquerades hostPort traffic from 127.0.0.1 and from the pod itself (hairpin). The document
    shows this as a per-container `CNI-SN-*` MASQUERADE chain; today portmap marks such traffic in its
    DNAT chain (`CNI-HOSTPORT-SETMARK`) and masquerades marked packets in `CNI-HOSTPORT-MASQ`."""
    node, ip, port, pod_ip = served_hostport
    with step(f"Then the DNAT chain for port {port} marks sources 127.0.0.1 and {pod_ip} for masquerade"):
        rules = nat_rules(cluster, node, port)
        attach_text(f"nat rules for port {port} on {node}", "\n".join(rules))
        marked = {ipaddress.ip_network(m.group(1), strict=False) for r in rules
                  for m in [re.search(r"-s (\S+) .*-j CNI-HOSTPORT-SETMARK", r)] if m}
        localhost = ipaddress.ip_network("127.0.0.1/32") in marked
        hairpin = any(ipaddress.ip_address(pod_ip) in net for net in marked)
        assert localhost and hairpin, f"sources marked for masquerade: {sorted(map(str, marked))}; rules: {rules}"
    with step("And the layout is today's: marked packets are masqueraded in CNI-HOSTPORT-MASQ, and no per-container"
              " CNI-SN-* chain (the document's) holds a rule or is jumped to"):
        table = cluster.node_exec(node, "iptables", "-t", "nat", "-S").stdout
        masq = re.findall(r"^-A CNI-HOSTPORT-MASQ .*-m mark --mark (\S+) .*-j MASQUERADE", table, re.M)
        # portmap's DEL still tears the old layout down, and up to 1.1 (Debian's) that creates an empty CNI-SN-<id> chain
        # before deleting it, so one may be seen while another pod goes; only a rule in or a jump to one is the old layout
        old_layout = [line for line in table.splitlines() if re.match(r"-A CNI-SN-", line) or re.search(r" -j CNI-SN-", line)]
        assert masq and not old_layout, f"[behaviour-changed] masquerade marks in CNI-HOSTPORT-MASQ: {masq}; CNI-SN-* rules: {old_layout}"
    with step(f"And a client on {node} reaches 127.0.0.1:{port}"):
        local = http_get_on_node(cluster, node, f"http://127.0.0.1:{port}/hostname")
        assert local.body == SERVER, f"curl http://127.0.0.1:{port}/hostname on {node}: {local}"
    with step(f"And the pod reaches itself through {ip}:{port} (hairpin)"):
        dial = http_get_on_node(cluster, node, f"http://{pod_ip}:8080/dial?request=hostname&protocol=http&host={ip}&port={port}&tries=1")
        assert dial.body and f'"{SERVER}"' in dial.body, f"{SERVER} dialling {ip}:{port} (netexec /dial): {dial}"
