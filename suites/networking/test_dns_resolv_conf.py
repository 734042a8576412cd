"""A pod's /etc/resolv.conf: who writes it, what each dnsPolicy puts in it, what dnsConfig changes, and
what the API validates; and where names outside the cluster are resolved.

Source: seed 002 「Service的实现」, 「DNS服务」. Upstream: kubernetes.io/docs/concepts/services-networking/
dns-pod-service/ (dnsPolicy, dnsConfig; ExpandedDNSConfig GA 1.28: 32 search domains, 2048 characters).
"""
import json

import pytest

from fixtures.api_calls import create_raw
from fixtures.manifests import render
from fixtures.nodes import kubelet_config, kubelet_nodes
from fixtures.pods import wait_ready
from fixtures.reporting import attach_text, step
from fixtures.services import kube_dns_ip, resolv_conf

pytestmark = [pytest.mark.area("networking"), pytest.mark.requires(images=["agnhost"]),
              pytest.mark.xdist_group("networking-resolv-conf")]


@pytest.fixture(scope="module")
def node(cluster):
    return kubelet_nodes(cluster)[0]


@pytest.fixture(scope="module")
def files(module_ns, cluster, timeouts, node):
    """One pod per dnsPolicy on one node: name -> its resolv.conf lines; plus the node's own files."""
    specs = {"cluster-first": ("ClusterFirst", False), "default": ("Default", False),
             "host-cluster-first": ("ClusterFirst", True), "host-with-host-net": ("ClusterFirstWithHostNet", True)}
    for name, (policy, host) in specs.items():
        module_ns.apply("networking/dns/pod-policy.yaml", name=name, node=node, policy=policy, host_network=host)
    module_ns.apply("networking/dns/pod-dnsconfig.yaml", name="tuned", ndots=2, search="extra.example", nameserver="192.0.2.53")
    wait_ready(cluster, module_ns.name, "role=dns-policy", len(specs) + 1, timeouts)
    out = {name: resolv_conf(cluster, module_ns.name, name, "client") for name in [*specs, "tuned"]}
    kubelet_resolv = kubelet_config(cluster, node).get("resolvConf", "/etc/resolv.conf")
    out["node"] = _node_file(cluster, node, "/etc/resolv.conf")
    out["kubelet-resolv-conf"] = _node_file(cluster, node, kubelet_resolv)
    attach_text("resolv.conf files", "\n\n".join(f"# {k}\n" + "\n".join(v) for k, v in out.items()))
    return out


def _node_file(cluster, node, path):
    res = cluster.node_exec(node, "cat", path)
    assert res.returncode == 0, f"cat {path} on {node}: {res.stderr}"
    return [line.strip() for line in res.stdout.splitlines() if line.strip() and not line.startswith("#")]


def _lines(lines, key):
    return [line.split(None, 1)[1] if " " in line else "" for line in lines if line.split()[0] == key]


@pytest.mark.claim("S002-183")
@pytest.mark.requires(node_access=True)
def test_the_kubelet_writes_the_cluster_dns_into_pods_not_into_the_node(module_ns, cluster, files, node):
    """The document: CoreDNS makes the kubelet edit every node's /etc/resolv.conf. The node's file is
    untouched; the kubelet writes each pod's resolv.conf with nameserver = its clusterDNS = kube-dns's ClusterIP."""
    dns = kube_dns_ip(cluster)
    with step(f"Then the kubelet's clusterDNS on {node} is kube-dns's ClusterIP {dns}"):
        assert kubelet_config(cluster, node).get("clusterDNS") == [dns]
    with step("And a ClusterFirst pod's only nameserver is that IP"):
        assert _lines(files["cluster-first"], "nameserver") == [dns], files["cluster-first"]
    with step("And the node's own /etc/resolv.conf does not mention it"):
        assert not any(dns in line for line in files["node"]), f"[behaviour-changed] node resolv.conf: {files['node']}"


@pytest.mark.claim("S002-202")
def test_cluster_first_resolv_conf_has_the_search_path_and_ndots_5_only(module_ns, cluster, files):
    """For dnsPolicy ClusterFirst the file is: search <ns>.svc.cluster.local svc.cluster.local cluster.local
    [+ the node's search domains], nameserver <kube-dns IP>, options ndots:5; no timeout or attempts options."""
    lines, ns = files["cluster-first"], module_ns.name
    node_search = (_lines(files["kubelet-resolv-conf"], "search") or [""])[0].split()
    with step("Then the search path is the three cluster domains, then the node's"):
        assert _lines(lines, "search") == [" ".join([f"{ns}.svc.cluster.local", "svc.cluster.local", "cluster.local", *node_search])], lines
    with step("And the only option is ndots:5: no timeout, no attempts"):
        assert _lines(lines, "options") == ["ndots:5"], lines


@pytest.mark.claim("S002-206")
def test_dns_config_ndots_replaces_5_and_searches_and_nameservers_are_appended(module_ns, cluster, files):
    """dnsConfig.options ndots: "2" replaces ndots:5; dnsConfig.searches and nameservers are appended to
    the ClusterFirst ones."""
    lines, ns, dns = files["tuned"], module_ns.name, kube_dns_ip(cluster)
    with step("Then options is ndots:2 alone"):
        assert _lines(lines, "options") == ["ndots:2"], lines
    with step("And the extra search domain and nameserver come after the cluster's"):
        search = _lines(lines, "search")[0].split()
        assert search[:3] == [f"{ns}.svc.cluster.local", "svc.cluster.local", "cluster.local"] and search[-1] == "extra.example", lines
        assert _lines(lines, "nameserver") == [dns, "192.0.2.53"], lines


@pytest.mark.claim("S002-208")
@pytest.mark.requires(node_access=True)
def test_dns_policies_default_host_network_fallback_and_invalid_values(module_ns, cluster, files):
    """ClusterFirst is the default; Default copies the kubelet's resolvConf file; a hostNetwork pod with
    ClusterFirst falls back to Default; ClusterFirstWithHostNet gives it the cluster file; None without
    dnsConfig.nameservers is rejected, and the document's "ClusterFirstWithHostNetwork" is not a value."""
    ns, dns = module_ns.name, kube_dns_ip(cluster)
    node_file = files["kubelet-resolv-conf"]
    with step("Then a pod that sets no dnsPolicy gets ClusterFirst"):
        module_ns.apply("networking/dns/pod-default-policy.yaml", name="unset")
        assert cluster.core.read_namespaced_pod("unset", ns).spec.dns_policy == "ClusterFirst"
    with step("And dnsPolicy Default gives the kubelet's resolvConf nameservers and search"):
        for key in ("nameserver", "search"):
            assert _lines(files["default"], key) == _lines(node_file, key), f"{files['default']} vs {node_file}"
    with step("And a hostNetwork pod with ClusterFirst gets the same node file (Default behaviour)"):
        assert _lines(files["host-cluster-first"], "nameserver") == _lines(node_file, "nameserver"), files["host-cluster-first"]
        assert dns not in _lines(files["host-cluster-first"], "nameserver")
    with step("And a hostNetwork pod with ClusterFirstWithHostNet gets the cluster file"):
        assert _lines(files["host-with-host-net"], "nameserver") == [dns], files["host-with-host-net"]
    for policy in ("None", "ClusterFirstWithHostNetwork"):
        with step(f"And dnsPolicy {policy} (without dnsConfig) is rejected by validation"):
            doc = render("networking/dns/pod-policy.yaml", name="invalid", node="any", policy=policy, host_network=False,
                         image_agnhost="agnhost")[0]
            answer = create_raw(cluster, doc, ns, dry_run=True)
            assert answer.status == 422, f"dnsPolicy {policy}: {answer}"


@pytest.mark.claim("S002-203")
def test_validation_allows_32_search_domains_and_rejects_33(module_ns, cluster):
    """The document: at most 6 search domains and 256 characters. Since ExpandedDNSConfig (GA 1.28) the
    API accepts up to 32 domains (2048 characters): 7 and 32 are accepted, 33 are rejected."""
    for count, accepted in ((7, True), (32, True), (33, False)):
        with step(f"Then a pod with {count} search domains is {'accepted' if accepted else 'rejected'}"):
            searches = json.dumps([f"d{i}.example" for i in range(count)])
            doc = render("networking/dns/pod-searches.yaml", name=f"s{count}", searches=searches, image_agnhost="agnhost")[0]
            answer = create_raw(cluster, doc, module_ns.name, dry_run=True)
            assert (answer.status < 300) == accepted, f"{count} search domains: {answer}"


@pytest.mark.claim("S002-207")
@pytest.mark.requires(node_access=True)
def test_pods_never_read_the_node_resolv_conf_coredns_forwards_for_them(module_ns, cluster, files):
    """The document: names the pod's resolv.conf cannot resolve fall back to the node's resolv.conf. The
    pod's file lists only kube-dns; names outside the cluster are resolved by CoreDNS, which forwards to
    its own /etc/resolv.conf (inherited from the node through its dnsPolicy Default)."""
    dns = kube_dns_ip(cluster)
    with step("Then the ClusterFirst pod's nameservers are kube-dns alone, none of the node's"):
        ours = _lines(files["cluster-first"], "nameserver")
        assert ours == [dns] and not set(ours) & set(_lines(files["node"], "nameserver")), (ours, files["node"])
    with step("And CoreDNS forwards other names to its own /etc/resolv.conf"):
        corefile = cluster.core.read_namespaced_config_map("coredns", "kube-system").data["Corefile"]
        assert "forward . /etc/resolv.conf" in corefile, corefile
    with step("And CoreDNS's pods take that file from the node: dnsPolicy Default"):
        policies = {p.spec.dns_policy for p in cluster.core.list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns").items}
        assert policies == {"Default"}, policies
