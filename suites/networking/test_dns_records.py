"""Cluster DNS records: A records of ClusterIP and headless Services, per-pod names, SRV records,
ExternalName CNAMEs, pod A records, and where CoreDNS takes its data from and how long it caches it.

Source: seed 002 「关于Headless」, 「Service的几种设置」, 「DNS服务」, 「Service的实现」. Upstream:
kubernetes.io/docs/concepts/services-networking/dns-pod-service/; github.com/coredns/coredns plugin/kubernetes
(EndpointSlices since CoreDNS 1.8.1); kubeadm's Corefile (cache 30 with `disable success/denial cluster.local`
since kubeadm 1.32).
"""
import pytest

from fixtures.kube_proxy import programmed_services
from fixtures.nodes import kubelet_nodes
from fixtures.podexec import exec_in
from fixtures.pods import view, wait_ready
from fixtures.polling import eventually
from fixtures.reporting import attach_text, step
from fixtures.services import CLUSTER_DOMAIN, dig, dig_full, endpoints, fqdn, kube_dns_ip, service

pytestmark = [pytest.mark.area("networking"), pytest.mark.requires(images=["agnhost"]),
              pytest.mark.xdist_group("networking-dns-records")]

WEB, HL, CLIENT = "web", "hl", "client"
SERVING = f"app={WEB},readiness!=never"


@pytest.fixture(scope="module")
def pods(module_ns, cluster, timeouts):
    """Service web (2 replicas), headless Services hl / hl-all over the same pods plus `member` (hostname m0,
    subdomain hl) and `unready`, and a client pod with dig. Returns ready pod name -> IP."""
    module_ns.apply("networking/services/backends.yaml", name=WEB, replicas=2)
    module_ns.apply("networking/dns/headless.yaml", name=HL, app=WEB)
    module_ns.apply("networking/services/client.yaml", name=CLIENT, node=kubelet_nodes(cluster)[0])
    ready = wait_ready(cluster, module_ns.name, SERVING, 3, timeouts)
    wait_ready(cluster, module_ns.name, "role=client", 1, timeouts)
    return {p.name: p.ip for p in ready}


def _dig(cluster, module_ns, *args):
    return dig(cluster, module_ns.name, CLIENT, "client", *args)


@pytest.mark.claim("S002-190")
def test_a_service_name_resolves_to_its_single_cluster_ip(module_ns, cluster, pods, timeouts):
    """<svc>.<ns>.svc.cluster.local has one A record: the Service's ClusterIP (not the pods' IPs)."""
    name, ip = fqdn(WEB, module_ns.name), service(cluster, module_ns.name, WEB).cluster_ip
    with step(f"When the client looks up {name}"):
        answer = eventually(lambda: _dig(cluster, module_ns, name), until=bool, timeout=timeouts.controller_sync, desc=f"A {name}")
    with step(f"Then the only answer is the ClusterIP {ip}"):
        assert answer == [ip], f"A {name}: {answer}; pods: {pods}"


@pytest.mark.claim("S002-191")
def test_a_headless_service_name_returns_one_record_per_ready_pod(module_ns, cluster, pods, timeouts):
    """A headless Service (clusterIP: None) resolves to one A record per ready endpoint, without the unready
    pod unless publishNotReadyAddresses is set; kube-proxy writes no rule for it."""
    ns = module_ns.name
    unready = view(cluster, ns, "unready")
    with step(f"When the client looks up {fqdn(HL, ns)}"):
        answer = eventually(lambda: sorted(_dig(cluster, module_ns, fqdn(HL, ns))), until=lambda a: a == sorted(pods.values()),
                            timeout=timeouts.controller_sync, desc=f"A {HL}: the 3 ready pods")
    with step(f"Then it returns the 3 ready pods' IPs and not the unready pod's {unready.ip}"):
        assert unready.ip not in answer
    with step("And with publishNotReadyAddresses the unready pod is listed too"):
        eventually(lambda: sorted(_dig(cluster, module_ns, fqdn(f"{HL}-all", ns))),
                   until=lambda a: a == sorted([*pods.values(), unready.ip]), timeout=timeouts.controller_sync, desc=f"A {HL}-all")
    with step("And kube-proxy wrote no rule for the headless Service (it did for web)"):
        programmed = programmed_services(cluster, kubelet_nodes(cluster)[0])
        assert f"{ns}/{WEB}" in programmed and f"{ns}/{HL}" not in programmed, sorted(programmed)


@pytest.mark.claim("S002-191")
def test_per_pod_names_under_a_headless_service_use_hostname_or_dashed_ip_not_pod_name(module_ns, cluster, pods, timeouts):
    """The document: <pod-name>.<svc>.<ns>.svc.cluster.local. Per-pod names exist only as <hostname>.<svc>...
    for pods with hostname+subdomain, and as the dashed IP <a-b-c-d>.<svc>... for the others; a
    Deployment pod's name resolves to nothing."""
    ns = module_ns.name
    plain = next(n for n in pods if n.startswith(f"{WEB}-"))
    dashed = pods[plain].replace(".", "-")
    with step(f"Then m0.{HL} (pod member: hostname m0, subdomain {HL}) resolves to member's IP"):
        got = eventually(lambda: _dig(cluster, module_ns, f"m0.{fqdn(HL, ns)}"), until=bool, timeout=timeouts.controller_sync, desc="A m0")
        assert got == [pods["member"]], got
    with step(f"And {dashed}.{HL} resolves to {plain}'s IP"):
        assert _dig(cluster, module_ns, f"{dashed}.{fqdn(HL, ns)}") == [pods[plain]]
    with step(f"And {plain}.{HL} (the pod's name) is NXDOMAIN"):
        answer = dig_full(cluster, ns, CLIENT, "client", f"{plain}.{fqdn(HL, ns)}")
        assert answer.status == "NXDOMAIN", f"[behaviour-changed] {plain}.{HL}: {answer}"


@pytest.mark.claim("S002-192")
def test_pod_a_records_answer_any_ip_shaped_name(module_ns, cluster, pods):
    """With kubeadm's `pods insecure`, <a-b-c-d>.<ns>.pod.cluster.local answers a.b.c.d, for a pod's IP and
    for an IP no pod has alike; a name that is not IP-shaped is NXDOMAIN (negative control)."""
    ns, ip = module_ns.name, pods["member"]
    with step(f"Then {ip.replace('.', '-')}.{ns}.pod.{CLUSTER_DOMAIN} answers {ip}"):
        assert _dig(cluster, module_ns, f"{ip.replace('.', '-')}.{ns}.pod.{CLUSTER_DOMAIN}") == [ip]
    with step("And 10-254-254-254 (no pod has it) answers 10.254.254.254"):
        assert _dig(cluster, module_ns, f"10-254-254-254.{ns}.pod.{CLUSTER_DOMAIN}") == ["10.254.254.254"]
    with step("And a name that is not an IP is NXDOMAIN"):
        assert dig_full(cluster, ns, CLIENT, "client", f"member.{ns}.pod.{CLUSTER_DOMAIN}").status == "NXDOMAIN"


@pytest.mark.claim("S002-209")
def test_named_ports_get_srv_records_for_clusterip_and_headless_services(module_ns, cluster, pods):
    """_<port>._<proto>.<svc>.<ns>.svc.cluster.local: for a ClusterIP Service one SRV with target the
    Service name and the Service port; for a headless one, one SRV per ready endpoint, target
    <hostname-or-dashed-ip>.<svc>...; priority 0, weight 100/N (the document's `10 100` is kube-dns's);
    TTL is the Corefile's ttl (30 on kubeadm)."""
    ns = module_ns.name
    with step(f"Then _http._tcp.{WEB} has one SRV: 0 100 80 {fqdn(WEB, ns)}."):
        answer = dig_full(cluster, ns, CLIENT, "client", "SRV", f"_http._tcp.{fqdn(WEB, ns)}")
        srv = [(t, d) for _, t, kind, d in answer.answers if kind == "SRV"]
        assert [d for _, d in srv] == [f"0 100 80 {fqdn(WEB, ns)}."], answer
        assert all(0 < t <= 30 for t, _ in srv), answer
    with step(f"And _http._tcp.{HL} has one SRV per ready pod, port 8080, weight 33, targets m0 and the dashed IPs"):
        answer = dig_full(cluster, ns, CLIENT, "client", "SRV", f"_http._tcp.{fqdn(HL, ns)}")
        records = sorted(d.split() for _, _, kind, d in answer.answers if kind == "SRV")
        targets = sorted(r[3] for r in records)
        want = sorted(f"{'m0' if n == 'member' else ip.replace('.', '-')}.{fqdn(HL, ns)}." for n, ip in pods.items())
        assert targets == want and {tuple(r[:3]) for r in records} == {("0", "33", "8080")}, answer


@pytest.mark.claim("S002-196")
def test_an_external_name_service_is_a_cname_without_cluster_ip_or_endpoints(module_ns, cluster, pods, timeouts):
    """type: ExternalName gets no clusterIP and no Endpoints; DNS answers a CNAME to externalName (here the
    in-cluster name of web, followed by its A record). HTTP through it still carries the alias as Host."""
    ns = module_ns.name
    target = fqdn(WEB, ns)
    with step(f"Given ExternalName Service ext -> {target}"):
        module_ns.apply("networking/dns/externalname.yaml", name="ext", target=target)
        ext = service(cluster, ns, "ext")
    with step("Then it has no clusterIP and no Endpoints object"):
        assert not ext.cluster_ip and endpoints(cluster, ns, "ext") is None, ext
    with step(f"And {fqdn('ext', ns)} is a CNAME to {target}, followed by web's ClusterIP"):
        answer = eventually(lambda: dig_full(cluster, ns, CLIENT, "client", fqdn("ext", ns)), until=lambda a: a.answers,
                            timeout=timeouts.controller_sync, desc="ext answers")
        kinds = [(kind, d) for _, _, kind, d in answer.answers]
        assert kinds == [("CNAME", f"{target}."), ("A", service(cluster, ns, WEB).cluster_ip)], answer
    with step("And an HTTP request to ext.<ns> reaches a web backend while carrying Host: ext.<ns>, not the externalName"):
        res = exec_in(cluster, ns, CLIENT, "client", ["curl", "-sSv", "-m", "2", f"http://ext.{ns}/hostname"])
        hostnames = {"m0" if n == "member" else n for n in pods}  # member (hostname m0) is one of web's backends too
        assert res.stdout.strip() in hostnames and f"> Host: ext.{ns}\r" in res.stderr.replace("\n", "\r\n"), res


@pytest.mark.claim("S002-184")
def test_coredns_answers_from_endpoint_slices(module_ns, cluster, pods, timeouts):
    """CoreDNS watches EndpointSlices (not Endpoints, since 1.8.1): its ClusterRole lets it list and watch
    them, and a headless Service whose only endpoint data is a hand-written slice resolves to it."""
    ns = module_ns.name
    with step("Given ClusterRole system:coredns"):
        role = cluster.dynamic.resources.get(api_version="rbac.authorization.k8s.io/v1", kind="ClusterRole").get(name="system:coredns")
        rules = [(tuple(r.apiGroups or []), tuple(r.resources or []), set(r.verbs)) for r in role.rules]
    with step("Then it grants list and watch on discovery.k8s.io endpointslices"):
        assert any("discovery.k8s.io" in g and "endpointslices" in res and {"list", "watch"} <= v for g, res, v in rules), rules
    with step("When a selector-less headless Service gets a hand-written EndpointSlice (and no Endpoints object)"):
        module_ns.apply("networking/dns/headless-slice.yaml", name="sliced", ip=pods["member"])
        assert endpoints(cluster, ns, "sliced") is None
    with step(f"Then its name resolves to the slice's address {pods['member']}"):
        eventually(lambda: _dig(cluster, module_ns, fqdn("sliced", ns)), until=lambda a: a == [pods["member"]],
                   timeout=timeouts.controller_sync, desc="A sliced from the EndpointSlice")


@pytest.mark.claim("S002-201")
def test_coredns_caches_30_s_but_serves_cluster_records_fresh(module_ns, cluster, pods, timeouts, server_version):
    """kubeadm's Corefile: `cache 30` and `kubernetes ... { ttl 30 }`; since kubeadm 1.32 the cache block
    has `disable success cluster.local` / `disable denial cluster.local`: a recreated Service's new
    ClusterIP is answered by CoreDNS at once, not after a 30 s cache expiry."""
    corefile = cluster.core.read_namespaced_config_map("coredns", "kube-system").data["Corefile"]
    attach_text("Corefile", corefile)
    words = " ".join(corefile.split())
    with step("Then the Corefile caches 30 s and advertises TTL 30 for cluster records"):
        assert "cache 30" in words and "ttl 30" in words, corefile
    fresh = server_version >= (1, 32)
    with step(f"And cluster.local answers are {'not ' if fresh else ''}cached (kubeadm {server_version[:2]})"):
        assert ("disable success cluster.local" in words and "disable denial cluster.local" in words) == fresh, corefile
    ns, dns = module_ns.name, kube_dns_ip(cluster)
    name = fqdn("moving", ns)
    with step(f"Given Service moving, resolved once through CoreDNS ({dns}) so a cache would hold it"):
        module_ns.apply("networking/services/selectorless.yaml", name="moving")
        old = service(cluster, ns, "moving").cluster_ip
        eventually(lambda: _dig(cluster, module_ns, f"@{dns}", name), until=lambda a: a == [old], timeout=timeouts.controller_sync, desc="old IP")
    with step("When it is deleted and created again with a new ClusterIP"):
        cluster.core.delete_namespaced_service("moving", ns)
        eventually(lambda: _dig(cluster, module_ns, f"@{dns}", name), until=lambda a: a == [], timeout=timeouts.dns_record,
                   desc="no answer once deleted (a cached answer would stay 30 s)")
        module_ns.apply("networking/services/selectorless.yaml", name="moving")
        new = service(cluster, ns, "moving").cluster_ip
    with step(f"Then CoreDNS answers the new IP {new} within the dns_record budget, well before a 30 s cache would expire"):
        eventually(lambda: _dig(cluster, module_ns, f"@{dns}", name), until=lambda a: a == [new], timeout=timeouts.dns_record,
                   desc=f"new IP {new} (old {old})")
