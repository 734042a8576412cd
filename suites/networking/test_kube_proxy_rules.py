"""kube-proxy's data plane as rules on a node, per mode: the iptables chains (iptables mode) or the nftables
table (nftables mode) it writes for a Service, its INVALID-state drop, its valid modes, and the IPVS model
(which needs a kernel with IPVS). Each test runs on a cluster in the mode it names (fixtures/extra_clusters.py).

Source: seed 002 「kube-proxy」, 「Service的实现」; seed 001 2021-09-13~19 › 手动实现 IPVS SVC, 2021-06-21~27 ›
容器 NAT网络出现 INVALID 状态包. Upstream: kubernetes.io/docs/reference/networking/virtual-ips/;
kubernetes PRs 74840 (INVALID drop), 120412 (only when nf_conntrack_tcp_be_liberal=0), KEP-3178
(IPTablesOwnershipCleanup: KUBE-MARK-DROP no longer created, 1.28), KEP-5495 (IPVS deprecated, 1.35).
"""
import pytest
import yaml

from fixtures.extra_clusters import KUBE_PROXY_MODES
from fixtures.kube_proxy import iptables_table, nft_service_rules, nft_table, rules_mentioning, service_rules
from fixtures.nodes import kubelet_nodes, runs_a_kubelet
from fixtures.polling import eventually
from fixtures.pods import wait_ready
from fixtures.reporting import attach_text, step
from fixtures.services import service

pytestmark = [pytest.mark.area("networking"), pytest.mark.requires(node_access=True)]

# the chains the document lists (S002-187)
DOCUMENT_CHAINS = {"KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ", "KUBE-MARK-DROP"}


def in_mode(mode: str):
    """Run the test on a cluster whose kube-proxy runs `mode` (the main one or an extra one)."""
    return pytest.mark.parametrize("kube_proxy_mode", [mode])


def _web_with_3_endpoints(ns, timeouts):
    """Given Service web with 3 ready endpoints: the node to read rules on, and the pods."""
    with step("Given Service web with 3 ready endpoints"):
        ns.apply("networking/services/backends.yaml", name="web", replicas=3)
        return kubelet_nodes(ns.cluster)[0], wait_ready(ns.cluster, ns.name, "app=web", 3, timeouts)


def _rules(cluster, node, namespace, name):
    return service_rules(iptables_table(cluster, node), namespace, name, "http")


@pytest.mark.claim("S002-180")
@pytest.mark.requires(images=["agnhost"])
@in_mode("iptables")
def test_each_ready_endpoint_gets_a_kube_sep_jump_with_a_probability_weight(kube_proxy_ns, timeouts):
    """In iptables mode nat PREROUTING and OUTPUT jump to KUBE-SERVICES; the Service's ClusterIP:port jumps
    to its KUBE-SVC chain, which holds one `statistic --mode random --probability` jump per ready endpoint
    (1/3, 1/2, rest) to a KUBE-SEP chain that DNATs to podIP:port; scaling to 1 leaves one jump."""
    ns, cluster = kube_proxy_ns, kube_proxy_ns.cluster
    node, pods = _web_with_3_endpoints(ns, timeouts)
    with step(f"Then on {node} nat PREROUTING and OUTPUT jump to KUBE-SERVICES"):
        nat = iptables_table(cluster, node)
        for chain in ("PREROUTING", "OUTPUT"):
            assert any("-j KUBE-SERVICES" in r for r in nat.chain(chain)), f"{chain}: {nat.chain(chain)}"
    with step("And the Service's KUBE-SVC chain jumps to 3 KUBE-SEP chains with probabilities 1/3, 1/2 and the rest"):
        rules = eventually(lambda: _rules(cluster, node, ns.name, "web"), until=lambda r: len(r.jumps) == 3,
                           timeout=timeouts.network_programming, desc="3 KUBE-SEP jumps")
        attach_text("KUBE-SVC chain", "\n".join(rules_mentioning(iptables_table(cluster, node), f"{ns.name}/web:http")))
        probs = [p for p, _ in rules.jumps]
        assert probs[0] == pytest.approx(1 / 3, abs=1e-6) and probs[1] == pytest.approx(0.5, abs=1e-6) and probs[2] is None, rules
    with step("And each KUBE-SEP chain DNATs to one ready pod's IP on port 8080"):
        assert sorted(rules.dnat.values()) == sorted(f"{p.ip}:8080" for p in pods), rules.dnat
    with step("When the Deployment is scaled to 1"):
        cluster.apps.patch_namespaced_deployment_scale("web", ns.name, {"spec": {"replicas": 1}})
    with step("Then the KUBE-SVC chain has one jump, without a probability"):
        rules = eventually(lambda: _rules(cluster, node, ns.name, "web"), until=lambda r: len(r.jumps) == 1,
                           timeout=timeouts.network_programming, desc="1 KUBE-SEP jump")
        assert rules.jumps[0][0] is None, rules


@pytest.mark.claim("S002-180")
@pytest.mark.requires(images=["agnhost"])
@in_mode("nftables")
def test_each_ready_endpoint_is_an_entry_of_one_random_dnat_map_in_nftables_mode(kube_proxy_ns, timeouts, server_version):
    """The document's walk (PREROUTING/OUTPUT -> KUBE-SERVICES -> KUBE-SVC -> KUBE-SEP) is iptables mode's. In
    nftables mode kube-proxy's nat-prerouting and nat-output (table ip kube-proxy) jump to `services`, whose
    service-ips map sends ClusterIP:port to the Service's own chain; that chain picks with `numgen random mod N`,
    one entry per ready endpoint: since 1.36 a DNAT map (no chain per endpoint), before it a verdict map to a chain
    per endpoint (the KUBE-SEP counterpart); one endpoint leaves one target."""
    ns, cluster = kube_proxy_ns, kube_proxy_ns.cluster
    node, pods = _web_with_3_endpoints(ns, timeouts)
    with step(f"Then on {node} kube-proxy's nat-prerouting and nat-output jump to its services chain"):
        table = nft_table(cluster, node)
        for chain in ("nat-prerouting", "nat-output"):
            assert "jump services" in table.chain(chain), f"{chain}: {table.chain(chain)}"
    per_endpoint = server_version < (1, 36)
    with step(f"And the Service's chain picks by `numgen random mod 3` among the 3 ready pods on port 8080 "
              f"({'through a chain per endpoint' if per_endpoint else 'in one DNAT map'}, Kubernetes {server_version})"):
        rules = eventually(lambda: nft_service_rules(nft_table(cluster, node), ns.name, "web", "http"),
                           until=lambda r: r.random_mod == 3, timeout=timeouts.network_programming, desc="numgen random mod 3")
        attach_text("Service chain", "\n".join(nft_table(cluster, node).chain(rules.chain)))
        assert sorted(rules.targets) == sorted(f"{p.ip}:8080" for p in pods), rules
        assert rules.endpoint_chains == per_endpoint, f"[behaviour-changed] {rules}"
    with step("And the ClusterIP:80 entry of the service-ips map goes to that chain"):
        ip = service(cluster, ns.name, "web").cluster_ip
        assert f"{ip} . tcp . 80 : goto {rules.chain}" in nft_table(cluster, node).text, rules.chain
    with step("When the Deployment is scaled to 1"):
        cluster.apps.patch_namespaced_deployment_scale("web", ns.name, {"spec": {"replicas": 1}})
    with step("Then the Service's chain DNATs to the one endpoint, with no choice left (`numgen random mod 1` up to 1.36, "
              "a plain `dnat to` since 1.37)"):
        rules = eventually(lambda: nft_service_rules(nft_table(cluster, node), ns.name, "web", "http"),
                           until=lambda r: len(r.targets) == 1 and (r.random_mod or 1) == 1,
                           timeout=timeouts.network_programming, desc="a single endpoint")
        assert rules.targets[0] in {f"{p.ip}:8080" for p in pods}, rules


@pytest.mark.claim("S002-187")
@in_mode("iptables")
def test_kube_proxy_chains_in_nat_and_filter_without_kube_mark_drop(kube_proxy_cluster, server_version):
    """The document lists KUBE-SERVICES, KUBE-NODEPORTS, KUBE-POSTROUTING, KUBE-MARK-MASQ and KUBE-MARK-DROP.
    The first four exist in nat; KUBE-MARK-DROP is no longer created since 1.28 (IPTablesOwnershipCleanup);
    kube-proxy adds filter chains (KUBE-SERVICES, KUBE-FORWARD, KUBE-PROXY-FIREWALL, ...)."""
    cluster = kube_proxy_cluster
    node = kubelet_nodes(cluster)[0]
    nat, filt = iptables_table(cluster, node, "nat"), iptables_table(cluster, node, "filter")
    attach_text(f"chains on {node}", "nat: " + " ".join(nat.chains) + "\nfilter: " + " ".join(filt.chains))
    with step(f"Then nat on {node} has KUBE-SERVICES, KUBE-NODEPORTS, KUBE-POSTROUTING and KUBE-MARK-MASQ"):
        missing = {"KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"} - set(nat.chains)
        assert not missing, f"missing from nat: {missing}; has {nat.chains}"
    with step("And KUBE-MARK-MASQ sets mark 0x4000/0x4000 that KUBE-POSTROUTING masquerades"):
        assert any("--set-xmark 0x4000/0x4000" in r for r in nat.chain("KUBE-MARK-MASQ")), nat.chain("KUBE-MARK-MASQ")
        assert any("MASQUERADE" in r for r in nat.chain("KUBE-POSTROUTING")), nat.chain("KUBE-POSTROUTING")
    expect_drop = server_version < (1, 28)
    with step(f"And KUBE-MARK-DROP is {'present' if expect_drop else 'absent'} (Kubernetes {server_version}; not created since 1.28)"):
        assert ("KUBE-MARK-DROP" in nat.chains) == expect_drop, f"[behaviour-changed] nat chains: {nat.chains}"
    with step("And filter has kube-proxy's own chains"):
        missing = {"KUBE-SERVICES", "KUBE-FORWARD", "KUBE-PROXY-FIREWALL", "KUBE-NODEPORTS", "KUBE-EXTERNAL-SERVICES"} - set(filt.chains)
        assert not missing, f"missing from filter: {missing}; has {filt.chains}"


@pytest.mark.claim("S002-187")
@in_mode("nftables")
def test_nftables_mode_writes_none_of_the_documents_chains_and_masquerades_from_its_own_table(kube_proxy_cluster):
    """In nftables mode none of the document's five chains exist: kube-proxy writes nothing to iptables' nat
    table (the kubelet's canary and the CNI's chains are all there is); its table ip kube-proxy has the
    counterparts: services, nat-prerouting/-output/-postrouting, and masquerading of packets marked 0x4000."""
    cluster = kube_proxy_cluster
    node = kubelet_nodes(cluster)[0]
    nat, table = iptables_table(cluster, node, "nat"), nft_table(cluster, node)
    attach_text(f"chains on {node}", "iptables nat: " + " ".join(nat.chains) + "\nnft ip kube-proxy: " + " ".join(table.chains))
    with step(f"Then iptables nat on {node} has none of KUBE-SERVICES, KUBE-NODEPORTS, KUBE-POSTROUTING, KUBE-MARK-MASQ, KUBE-MARK-DROP"):
        found = DOCUMENT_CHAINS & set(nat.chains)
        assert not found, f"kube-proxy chains in iptables nat in nftables mode: {found}"
    with step("And table ip kube-proxy has services and the nat hook chains"):
        missing = {"services", "nat-prerouting", "nat-output", "nat-postrouting", "masquerading"} - set(table.chains)
        assert not missing, f"missing from ip kube-proxy: {missing}; has {table.chains}"
    with step("And masquerading SNATs what kube-proxy marked 0x4000 (KUBE-MARK-MASQ's mark; set in services since 1.36, "
              "in a mark-for-masquerade chain before)"):
        masq = table.chain("masquerading")
        assert any("0x00004000" in r for r in masq) and any("masquerade" in r for r in masq), masq
        marking = [f"{c}: {r}" for c in table.chains for r in table.chain(c) if "mark set" in r and "| 0x00004000" in r]
        assert marking, table.text


@pytest.mark.claim("S001-16")
@in_mode("iptables")
def test_kube_proxy_drops_conntrack_invalid_packets_when_be_liberal_is_off(kube_proxy_cluster):
    """INVALID conntrack packets are not NATed and would draw an RST; the document's fix is dropping them
    or nf_conntrack_tcp_be_liberal=1. kube-proxy installs the drop itself, exactly when be_liberal is 0
    (1.29+), and counts what it dropped in kubeproxy_iptables_ct_state_invalid_dropped_packets_total."""
    cluster = kube_proxy_cluster
    for node in [n.metadata.name for n in cluster.core.list_node().items if runs_a_kubelet(n)]:
        with step(f"On {node}: read nf_conntrack_tcp_be_liberal and filter KUBE-FORWARD"):
            liberal = cluster.node_exec(node, "cat", "/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal").stdout.strip()
            forward = iptables_table(cluster, node, "filter").chain("KUBE-FORWARD")
            drop = any("--ctstate INVALID" in r and "-j DROP" in r for r in forward)
        with step(f"Then the INVALID drop is {'absent' if liberal == '1' else 'present'} (be_liberal={liberal})"):
            assert drop == (liberal == "0"), f"be_liberal={liberal}, KUBE-FORWARD: {forward}"
    with step("And kube-proxy exports the counter of INVALID packets it dropped"):
        metrics = cluster.node_exec(node, "curl", "-sS", "-m", "2", "http://127.0.0.1:10249/metrics").stdout
        assert "kubeproxy_iptables_ct_state_invalid_dropped_packets_total" in metrics, metrics[:2000]


@pytest.mark.claim("S001-16")
@in_mode("nftables")
def test_nftables_mode_installs_no_invalid_drop_and_relies_on_be_liberal(kube_proxy_cluster):
    """kube-proxy's INVALID drop is iptables mode's (KUBE-FORWARD). In nftables mode it installs none, in its own
    table or in iptables, and exports no such counter; the document's other fix, nf_conntrack_tcp_be_liberal=1,
    is what kube-proxy applies from its conntrack.tcpBeLiberal setting (true in kind's kube-proxy config)."""
    cluster = kube_proxy_cluster
    conf = yaml.safe_load(cluster.core.read_namespaced_config_map("kube-proxy", "kube-system").data["config.conf"])
    want = "1" if (conf.get("conntrack") or {}).get("tcpBeLiberal") else "0"
    for node in [n.metadata.name for n in cluster.core.list_node().items if runs_a_kubelet(n)]:
        with step(f"On {node}: nf_conntrack_tcp_be_liberal is {want}, as kube-proxy's tcpBeLiberal asks"):
            liberal = cluster.node_exec(node, "cat", "/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal").stdout.strip()
            assert liberal == want, f"be_liberal={liberal}, kube-proxy conntrack config: {conf.get('conntrack')}"
        with step("And no rule drops INVALID packets: not in table ip kube-proxy, not in iptables filter"):
            table = nft_table(cluster, node)
            assert table is not None and not [r for c in table.chains for r in table.chain(c) if "ct state invalid" in r], table.text
            invalid = [r for r in rules_mentioning(iptables_table(cluster, node, "filter"), "--ctstate INVALID") if "DROP" in r]
            assert not invalid, invalid
    with step("And kube-proxy exports no INVALID-drop counter"):
        metrics = cluster.node_exec(node, "curl", "-sS", "-m", "2", "http://127.0.0.1:10249/metrics").stdout
        assert "kubeproxy_sync_proxy_rules" in metrics and "ct_state_invalid_dropped" not in metrics, metrics[:2000]


@pytest.mark.claim("S002-179")
@pytest.mark.parametrize("kube_proxy_mode", KUBE_PROXY_MODES)
def test_kube_proxy_runs_in_a_valid_mode_and_refuses_userspace(kube_proxy_cluster, kube_proxy_mode):
    """Valid modes on Linux are iptables (the default), ipvs and nftables; userspace was removed in 1.26
    and kube-proxy refuses it."""
    cluster = kube_proxy_cluster
    conf = yaml.safe_load(cluster.core.read_namespaced_config_map("kube-proxy", "kube-system").data["config.conf"])
    with step(f"Then the running mode ({conf.get('mode') or 'empty = iptables'}) is {kube_proxy_mode}, one of iptables, ipvs, nftables"):
        assert (conf.get("mode") or "iptables") == kube_proxy_mode, conf.get("mode")
    node = kubelet_nodes(cluster)[0]
    with step("When kube-proxy's own binary is started with --proxy-mode=userspace"):
        pod = next(p for p in cluster.core.list_namespaced_pod("kube-system", label_selector="k8s-app=kube-proxy").items)
        res = cluster.kubectl("exec", "-n", "kube-system", pod.metadata.name, "--", "kube-proxy", "--proxy-mode=userspace",
                              "--hostname-override=" + node, "--kubeconfig=/nonexistent", check=False)
    with step("Then it refuses the mode"):
        assert res.returncode != 0 and "userspace" in res.stderr, f"exit {res.returncode}: {res.stderr[-1500:]}"
