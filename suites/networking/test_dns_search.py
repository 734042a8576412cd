"""The search path at work: which names a pod's resolver asks for, in which order, for short names, names
with a namespace, names with fewer than ndots dots, and fully qualified names.

Observed on the wire: the pod's only nameserver is a CoreDNS (the cluster's own image) that logs every
query and forwards cluster.local to the cluster DNS; the resolver is glibc's (getent in agnhost's Debian base).
Source: seed 002 「DNS服务」. Upstream: resolv.conf(5) (ndots, search), glibc res_search.
"""
import pytest

from fixtures.podexec import exec_in
from fixtures.polling import eventually
from fixtures.pods import view, wait_ready
from fixtures.reporting import step
from fixtures.services import kube_dns_ip, service

pytestmark = [pytest.mark.area("networking"), pytest.mark.requires(images=["agnhost"]),
              pytest.mark.xdist_group("networking-dns-search")]

LOGGER, CLIENT, WEB = "query-log", "resolver", "web"


@pytest.fixture(scope="module")
def resolver(module_ns, cluster, timeouts):
    """The logging DNS server, a client that uses only it (ClusterFirst's search path, ndots:5), and Service web."""
    ns = module_ns.name
    coredns_image = cluster.apps.read_namespaced_deployment("coredns", "kube-system").spec.template.spec.containers[0].image
    module_ns.apply("networking/dns/query-logger.yaml", name=LOGGER, image_coredns=coredns_image, cluster_dns=kube_dns_ip(cluster))
    module_ns.apply("networking/services/selectorless.yaml", name=WEB)
    wait_ready(cluster, ns, "role=query-logger", 1, timeouts)
    module_ns.apply("networking/dns/resolver-client.yaml", name=CLIENT, dns_ip=view(cluster, ns, LOGGER).ip)
    eventually(lambda: view(cluster, ns, CLIENT), until=lambda p: p.phase == "Running", timeout=timeouts.pod_start, desc="client running")
    return ns


def _queries(cluster, ns) -> list[str]:
    """The logger's query lines so far: 'A name. RCODE'."""
    log = cluster.core.read_namespaced_pod_log(LOGGER, ns, container="coredns")
    return [line.split("] ", 1)[1] for line in log.splitlines() if line.startswith("[INFO] ") and line.count(" ") == 3]


def _lookup(cluster, ns, name: str, expect: int, timeouts) -> tuple[str, list[str]]:
    """getent ahostsv4 <name> in the client (A queries only): its output, and the queries it caused in order
    (all were answered before getent returned; the wait is only for the logger's output to reach its log)."""
    before = len(_queries(cluster, ns))
    res = exec_in(cluster, ns, CLIENT, "client", ["getent", "ahostsv4", name])
    asked = eventually(lambda: _queries(cluster, ns)[before:], until=lambda q: len(q) >= expect, timeout=timeouts.apply,
                       desc=f"{expect} queries for {name} logged")
    return res.stdout, asked


@pytest.mark.claim("S002-204")
def test_a_name_with_fewer_than_ndots_dots_tries_every_search_suffix_first(module_ns, cluster, resolver, timeouts):
    """With ndots:5, cn.bing.com (2 dots) is tried with each search suffix in order, then as it is."""
    ns = resolver
    with step("When the client resolves cn.bing.com"):
        _, asked = _lookup(cluster, ns, "cn.bing.com", 4, timeouts)
    with step("Then the resolver asked for cn.bing.com.<ns>.svc.cluster.local, .svc.cluster.local, .cluster.local, then cn.bing.com."):
        want = [f"A cn.bing.com.{ns}.svc.cluster.local.", "A cn.bing.com.svc.cluster.local.", "A cn.bing.com.cluster.local.", "A cn.bing.com."]
        assert [q.rsplit(" ", 1)[0] for q in asked] == want, f"queries: {asked}"


@pytest.mark.claim("S002-204")
def test_a_name_with_a_trailing_dot_is_asked_once_and_never_searched(module_ns, cluster, resolver, timeouts):
    """The document: with a trailing dot the name is queried once, "and only if that fails the search list
    is used". A fully qualified name is asked exactly once, and the search list is never tried, even
    when the answer is NXDOMAIN."""
    ns = resolver
    with step("When the client resolves cn.bing.com. (which does not exist here)"):
        out, asked = _lookup(cluster, ns, "cn.bing.com.", 1, timeouts)
    with step("Then exactly one query went out, for cn.bing.com., answered NXDOMAIN, and no search suffix followed"):
        assert asked == ["A cn.bing.com. NXDOMAIN"] and not out, f"[behaviour-changed] queries: {asked}"


@pytest.mark.claim("S002-205")
def test_a_short_service_name_resolves_in_one_query_and_svc_dot_ns_in_two(module_ns, cluster, resolver, timeouts):
    """`svc` is found on the first search suffix (one query); `svc.ns` first tries svc.ns.<ns>.svc.cluster.local
    (NXDOMAIN), then svc.ns.svc.cluster.local: one query more."""
    ns = resolver
    ip = service(cluster, ns, WEB).cluster_ip
    with step(f"When the client resolves {WEB}"):
        out, asked = _lookup(cluster, ns, WEB, 1, timeouts)
    with step(f"Then one query, {WEB}.{ns}.svc.cluster.local., answered it with {ip}"):
        assert asked == [f"A {WEB}.{ns}.svc.cluster.local. NOERROR"] and ip in out, f"queries: {asked}; answer: {out}"
    with step(f"When the client resolves {WEB}.{ns}"):
        out, asked = _lookup(cluster, ns, f"{WEB}.{ns}", 2, timeouts)
    with step("Then two queries: the first suffix (NXDOMAIN), then svc.cluster.local"):
        # the order follows from the answers: a search stops at the first name that exists, so the NXDOMAIN was asked first
        assert sorted(asked) == sorted([f"A {WEB}.{ns}.{ns}.svc.cluster.local. NXDOMAIN", f"A {WEB}.{ns}.svc.cluster.local. NOERROR"]) \
            and ip in out, f"queries: {asked}; answer: {out}"
