"""kube-proxy's rules read per mode: its nftables table, a Service's random DNAT map, the Services it programmed,
and the order a traced packet met destination NAT in (text as nft 1.0.6 prints it on a kind node)."""
import subprocess

from fixtures.kube_proxy import _complete_trace, dstnat_order, nft_service_rules, nft_table, programmed_services

NFT = """table ip kube-proxy {
\tchain nat-prerouting {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tjump services
\t}

\tchain service-SUSTUHLJ-default/web/tcp/http {
\t\tmeta l4proto tcp dnat ip to numgen random mod 3 map { 0 : 10.244.0.5 . 8080, 1 : 10.244.1.2 . 8080, 2 : 10.244.1.3 . 8080 }
\t}

\tchain service-2QRHZV4L-default/kubernetes/tcp/https {
\t\tmeta l4proto tcp dnat to 172.18.0.3:6443
\t}
}
"""
IPTABLES = """*nat
:KUBE-SERVICES - [0:0]
-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp --dport 443 -j KUBE-SVC-NPX4
-A KUBE-SERVICES -d 10.96.9.9/32 -p tcp -m comment --comment "ns1/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-AAAA
COMMIT
"""
TRACE = """trace id aa ip kubeproof-trace pre rule tcp dport 28031 meta nftrace set 1 (verdict continue)
trace id aa ip kube-proxy filter-prerouting-pre-dnat rule ct state new jump firewall-check (verdict jump firewall-check)
trace id aa ip kube-proxy nat-prerouting rule jump services (verdict jump services)
trace id aa ip nat PREROUTING rule fib daddr type local counter packets 10 bytes 650 jump CNI-HOSTPORT-DNAT (verdict jump CNI-HOSTPORT-DNAT)
trace id aa ip nat PREROUTING policy accept
trace id aa ip kube-proxy filter-input policy accept
trace id bb ip nat PREROUTING rule  counter packets 12 bytes 870 jump KUBE-SERVICES (verdict jump KUBE-SERVICES)
"""


class Node:
    """A node shell answering `nft list table` and `iptables-save` from canned text."""

    def __init__(self, nft: str | None, iptables: str = ""):
        self.nft, self.iptables = nft, iptables

    def node_exec(self, node, *cmd):
        if cmd[0] == "nft":
            if self.nft is None:
                return subprocess.CompletedProcess(cmd, 1, "", "Error: No such file or directory")
            return subprocess.CompletedProcess(cmd, 0, self.nft, "")
        return subprocess.CompletedProcess(cmd, 0, self.iptables, "")


def test_a_services_chain_dnats_through_one_random_map_or_one_target():
    table = nft_table(Node(NFT), "n")
    assert "jump services" in table.chain("nat-prerouting")
    web = nft_service_rules(table, "default", "web", "http")
    assert web.random_mod == 3 and web.targets == ["10.244.0.5:8080", "10.244.1.2:8080", "10.244.1.3:8080"]
    api = nft_service_rules(table, "default", "kubernetes", "https")
    assert api.random_mod is None and api.targets == ["172.18.0.3:6443"]
    assert nft_service_rules(table, "default", "absent", "http").chain is None


NFT_135 = """table ip kube-proxy {
\tchain service-SUSTUHLJ-default/web/tcp/http {
\t\tip daddr 10.96.7.89 tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
\t\tnumgen random mod 2 vmap { 0 : goto endpoint-AAAA-default/web/tcp/http__10.244.0.5/8080, 1 : goto endpoint-BBBB-default/web/tcp/http__10.244.1.2/8080 }
\t}

\tchain endpoint-AAAA-default/web/tcp/http__10.244.0.5/8080 {
\t\tip saddr 10.244.0.5 jump mark-for-masquerade
\t\tmeta l4proto tcp dnat to 10.244.0.5:8080
\t}

\tchain endpoint-BBBB-default/web/tcp/http__10.244.1.2/8080 {
\t\tmeta l4proto tcp dnat to 10.244.1.2:8080
\t}
}
"""


def test_before_1_36_the_random_choice_jumps_to_a_chain_per_endpoint():
    web = nft_service_rules(nft_table(Node(NFT_135), "n"), "default", "web", "http")
    assert web.endpoint_chains and web.random_mod == 2 and web.targets == ["10.244.0.5:8080", "10.244.1.2:8080"]


def test_programmed_services_are_read_from_the_mode_the_node_runs():
    assert programmed_services(Node(NFT), "n") == {"default/web", "default/kubernetes"}
    assert programmed_services(Node(None, IPTABLES), "n") == {"default/kubernetes", "ns1/web"}


def test_the_dstnat_order_is_the_first_packet_that_got_past_prerouting():
    hops = _complete_trace(TRACE)
    assert all(h.table != "kubeproof-trace" for h in hops), "our own marking table is not a hop"
    assert dstnat_order(hops) == ["kube-proxy", "portmap"]
    assert _complete_trace(TRACE.replace("filter-input", "nat-output")) == [], "no input chain: not complete yet"
