"""NetworkPolicy: who enforces it, which pods a policy isolates, how `from` entries combine, ipBlock with
except, ports, and egress (DNS included). Enforced by the kube-router add-on (flannel enforces nothing).

Source: seed 002 「Pod中的网络隔离」. Upstream: kubernetes.io/docs/concepts/services-networking/network-policies/.
Every check is a new connection from a client pod (curl, 1 s to connect): a denied one is dropped.
kube-router runs only while a test runs (serial), then is removed with its rules: its firewall ACCEPTs pod
traffic ahead of kube-proxy's KUBE-SERVICES REJECTs (kube-router issue #1453).
"""
import pytest

from fixtures.network_policies import engine, reaches, resolves
from fixtures.nodes import wait_kubelet_nodes
from fixtures.polling import consistently, eventually
from fixtures.pods import view, wait_ready
from fixtures.reporting import step
from fixtures.services import kube_dns_ip
from fixtures.per_test import own_namespace

# serial: kube-router runs only inside these tests (it would bypass kube-proxy's REJECTs for everyone else)
pytestmark = [pytest.mark.area("networking"), pytest.mark.requires(images=["agnhost"], network_policy=True, multinode=True),
              pytest.mark.serial]


@pytest.fixture(scope="module")
def ns_a(request, cluster, images, kubeproof_settings):
    """A second namespace, labelled project=myproject (the document's namespaceSelector)."""
    yield from own_namespace(request, cluster, images, kubeproof_settings, {"project": "myproject"})


@pytest.fixture(scope="module")
def ns_b(request, cluster, images, kubeproof_settings):
    yield from own_namespace(request, cluster, images, kubeproof_settings)


@pytest.fixture(scope="module")
def pair(cluster, timeouts):
    """Node A (servers) and node B (clients)."""
    return wait_kubelet_nodes(cluster, 2, timeouts)[:2]


@pytest.fixture(scope="module")
def clients(module_ns, ns_a, ns_b, cluster, timeouts, pair):
    """Clients on node B: frontend and other in the policy namespace P, remote (other) and remote-frontend in
    namespace A (project=myproject), stranger in B. Returns name -> (namespace, pod IP)."""
    node = pair[1]
    layout = {"frontend": (module_ns, "frontend"), "other": (module_ns, "other"), "remote": (ns_a, "other"),
              "remote-frontend": (ns_a, "frontend"), "stranger": (ns_b, "other")}
    for name, (ns, role) in layout.items():
        ns.apply("networking/policy/client.yaml", name=name, role=role, node=node)
    for ns in (module_ns, ns_a, ns_b):
        wait_ready(cluster, ns.name, "kind=client", sum(1 for n, r in layout.values() if n is ns), timeouts)
    return {name: (ns.name, view(cluster, ns.name, name).ip) for name, (ns, _) in layout.items()}


def _server(ns, cluster, timeouts, name, node):
    """A server pod role=<name> on `node` (node A); returns its IP."""
    ns.apply("networking/policy/server.yaml", name=name, role=name, node=node)
    return wait_ready(cluster, ns.name, f"role={name}", 1, timeouts)[0].ip


def _matrix(cluster, clients, ip, port=6379) -> dict[str, bool]:
    return {name: reaches(cluster, ns, name, ip, port) for name, (ns, _) in clients.items()}


def _until_blocked(cluster, clients, who, ip, timeouts, port=6379):
    ns = clients[who][0]
    eventually(lambda: reaches(cluster, ns, who, ip, port), until=lambda ok: not ok, timeout=timeouts.network_programming,
               desc=f"{who} -> {ip}:{port} blocked by the policy")


@pytest.mark.claim("S002-121")
def test_a_policy_is_enforced_only_where_an_engine_implements_it(pair, module_ns, cluster, clients, timeouts):
    """NetworkPolicy is enforced only by a network plugin that implements it: flannel (this cluster's CNI) does
    not, so a policy admitting nobody changes nothing; once the kube-router add-on's firewall runs, the
    same policy drops the traffic, and deleting the policy lets it through again."""
    from fixtures.addons.kube_router import running

    ns = module_ns.name
    with step("Given the CNI is flannel, whose role cannot even read NetworkPolicies, and no engine runs"):
        role = cluster.dynamic.resources.get(api_version="rbac.authorization.k8s.io/v1", kind="ClusterRole").get(name="flannel")
        assert not any("networkpolicies" in (r.resources or []) for r in role.rules), role.rules
        assert engine(cluster) is None
    ip = _server(module_ns, cluster, timeouts, "guarded", pair[0])
    with step("When a policy selects the server for Ingress and admits nothing"):
        module_ns.apply("networking/policy/ingress-port.yaml", name="guarded-none", target="guarded", port=1)
    with step("Then, with flannel alone, the frontend still reaches the server"):
        consistently(lambda: reaches(cluster, ns, "frontend", ip, 6379), holds=bool, duration=timeouts.short_hold,
                     desc="frontend reaches the server despite the policy")
    with running(cluster, timeouts):
        with step("When kube-router's firewall runs, it drops the frontend's connections"):
            _until_blocked(cluster, clients, "frontend", ip, timeouts)
        with step("And when the policy is deleted, the frontend reaches the server again"):
            cluster.dynamic.resources.get(api_version="networking.k8s.io/v1", kind="NetworkPolicy").delete(name="guarded-none", namespace=ns)
            eventually(lambda: reaches(cluster, ns, "frontend", ip, 6379), until=bool, timeout=timeouts.network_programming,
                       desc="frontend reaches the server again")


@pytest.mark.claim("S002-122")
def test_an_empty_pod_selector_isolates_every_pod_of_its_namespace_only_for_its_policy_types(pair, network_policy_engine, ns, module_ns, cluster, clients, timeouts):
    """podSelector: {} selects every pod of the namespace; with policyTypes [Ingress] and no rule their ingress
    is denied while their egress stays open; adding Egress denies egress too (even DNS); pods in other
    namespaces, selected by no policy, stay open."""
    node = pair[0]
    ns.apply("networking/policy/server.yaml", name="iso-1", role="iso", node=node)
    ns.apply("networking/policy/client.yaml", name="iso-2", role="iso", node=node)
    wait_ready(cluster, ns.name, "role=iso", 2, timeouts)
    open_ip = _server(module_ns, cluster, timeouts, "open", pair[0])
    iso_ip = view(cluster, ns.name, "iso-1").ip
    dns = f"kubernetes.default.svc.cluster.local"
    with step("Given the frontend reaches iso-1, and iso-2 reaches the open server and resolves names"):
        assert reaches(cluster, module_ns.name, "frontend", iso_ip, 6379)
        assert reaches(cluster, ns.name, "iso-2", open_ip, 6379) and resolves(cluster, ns.name, "iso-2", dns)
    with step("When podSelector: {} isolates the namespace for Ingress, with no rule"):
        ns.apply("networking/policy/isolate-all.yaml", name="deny-ingress", types="[Ingress]")
    with step("Then ingress to iso-1 is dropped"):
        _until_blocked(cluster, {"frontend": clients["frontend"]}, "frontend", iso_ip, timeouts)
    with step("And iso-2's egress still works: it reaches the open server and resolves names"):
        assert reaches(cluster, ns.name, "iso-2", open_ip, 6379) and resolves(cluster, ns.name, "iso-2", dns)
    with step("And a pod in another namespace (no policy selects it) stays reachable"):
        assert reaches(cluster, module_ns.name, "frontend", open_ip, 6379)
    with step("When the policy also lists Egress"):
        ns.apply("networking/policy/isolate-all.yaml", name="deny-ingress", types="[Ingress, Egress]")
    with step("Then iso-2 can neither reach the open server nor resolve names"):
        eventually(lambda: reaches(cluster, ns.name, "iso-2", open_ip, 6379), until=lambda ok: not ok,
                   timeout=timeouts.network_programming, desc="iso-2 egress blocked")
        assert not resolves(cluster, ns.name, "iso-2", dns)


@pytest.mark.claim("S002-123")
def test_separate_from_entries_are_ored(pair, network_policy_engine, module_ns, cluster, clients, timeouts):
    """The document's form, two `from` entries: a pod of any namespace labelled project=myproject, OR a
    role=frontend pod of the policy's own namespace. namespaceSelector picks namespaces (all their pods)."""
    ip = _server(module_ns, cluster, timeouts, "db-or", pair[0])
    with step("Given every client reaches the server"):
        assert all(_matrix(cluster, clients, ip).values())
    with step("When the policy with two separate from entries selects it"):
        module_ns.apply("networking/policy/from-or.yaml", name="db-or", target="db-or")
        _until_blocked(cluster, clients, "other", ip, timeouts)
    with step("Then A's pods (any role) and P's frontend get in; P's other pod and B's pod do not"):
        want = {"frontend": True, "other": False, "remote": True, "remote-frontend": True, "stranger": False}
        assert _matrix(cluster, clients, ip) == want


@pytest.mark.claim("S002-123")
def test_namespace_and_pod_selectors_in_one_entry_are_anded(pair, network_policy_engine, module_ns, cluster, clients, timeouts):
    """namespaceSelector and podSelector in the same `from` entry: only role=frontend pods inside namespaces
    labelled project=myproject. (The document's comment reads the namespaceSelector as selecting Pods.)"""
    ip = _server(module_ns, cluster, timeouts, "db-and", pair[0])
    with step("When the policy with one combined entry selects the server"):
        module_ns.apply("networking/policy/from-and.yaml", name="db-and", target="db-and")
        _until_blocked(cluster, clients, "remote", ip, timeouts)
    with step("Then only A's frontend gets in"):
        want = {"frontend": False, "other": False, "remote": False, "remote-frontend": True, "stranger": False}
        assert _matrix(cluster, clients, ip) == want


@pytest.mark.claim("S002-124")
def test_ip_block_allows_the_cidr_minus_its_exception(pair, network_policy_engine, module_ns, cluster, clients, timeouts):
    """ipBlock {cidr, except} admits the CIDR without the excepted range. (ipBlock is meant for addresses
    outside the cluster; kube-router also matches pod IPs, as used here: pod traffic is not NATed.)"""
    ip = _server(module_ns, cluster, timeouts, "db-ip", pair[0])
    excepted = clients["other"][1]
    cidr = cluster.core.read_node(pair[1]).spec.pod_cidr
    with step(f"When only {cidr} (the clients' node podCIDR) except {excepted}/32 (client other) may connect"):
        module_ns.apply("networking/policy/ip-block.yaml", name="db-ip", target="db-ip", cidr=cidr, **{"except": f"{excepted}/32"})
        _until_blocked(cluster, clients, "other", ip, timeouts)
    with step("Then every client in the CIDR gets in but the excepted one"):
        want = {name: name != "other" for name in clients}
        assert _matrix(cluster, clients, ip) == want


@pytest.mark.claim("S002-125")
def test_ingress_ports_restrict_the_destination_port(pair, network_policy_engine, module_ns, cluster, clients, timeouts):
    """`ports` in an ingress rule restricts the destination port: 6379 admitted, 8080 on the same pod dropped."""
    ip = _server(module_ns, cluster, timeouts, "db-port", pair[0])
    ns = clients["frontend"][0]
    with step("Given the frontend reaches ports 6379 and 8080"):
        assert reaches(cluster, ns, "frontend", ip, 6379) and reaches(cluster, ns, "frontend", ip, 8080)
    with step("When ingress is allowed on 6379 only"):
        module_ns.apply("networking/policy/ingress-port.yaml", name="db-port", target="db-port", port=6379)
        _until_blocked(cluster, clients, "frontend", ip, timeouts, port=8080)
    with step("Then 6379 still answers"):
        assert reaches(cluster, ns, "frontend", ip, 6379)


@pytest.mark.claim("S002-125")
def test_egress_rules_restrict_destination_and_dns_must_be_allowed_explicitly(pair, network_policy_engine, ns, module_ns, cluster, timeouts):
    """An egress rule to <ip>/32 port 6379 lets the pod reach exactly that; everything else is dropped,
    DNS included, until a rule allows port 53 to the cluster DNS pods."""
    node = pair[1]
    ns.apply("networking/policy/client.yaml", name="egress", role="egress", node=node)
    wait_ready(cluster, ns.name, "role=egress", 1, timeouts)
    ip = _server(module_ns, cluster, timeouts, "db-egress", pair[0])
    name = "kubernetes.default.svc.cluster.local"
    with step("When egress is allowed only to the server's IP on 6379"):
        ns.apply("networking/policy/egress-only.yaml", name="egress-only", source="egress", ip=ip, port=6379)
        eventually(lambda: reaches(cluster, ns.name, "egress", ip, 8080), until=lambda ok: not ok,
                   timeout=timeouts.network_programming, desc="egress to 8080 blocked")
    with step("Then the pod reaches 6379, not 8080, and cannot resolve names"):
        assert reaches(cluster, ns.name, "egress", ip, 6379)
        assert not resolves(cluster, ns.name, "egress", name), f"DNS through {kube_dns_ip(cluster)} should be blocked"
    with step("When a second policy allows port 53 to the cluster DNS pods, names resolve again"):
        ns.apply("networking/policy/egress-dns.yaml", name="egress-dns", source="egress")
        eventually(lambda: resolves(cluster, ns.name, "egress", name), until=bool, timeout=timeouts.network_programming,
                   desc="DNS allowed")
