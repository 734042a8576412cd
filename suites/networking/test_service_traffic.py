"""ClusterIP traffic: L4 forwarding of TCP and UDP, how a backend is chosen, session affinity, what the
backend sees as source, and what a Service without endpoints does to a connection.

Source: seed 002 「Service」, 「Service的实现」. Upstream: kubernetes.io/docs/reference/networking/virtual-ips/
(iptables mode picks a backend at random per connection; Services without endpoints are REJECTed).
"""
import pytest

from fixtures.extra_clusters import KUBE_PROXY_MODES
from fixtures.nodes import kubelet_nodes
from fixtures.podexec import exec_in
from fixtures.pods import view, wait_ready
from fixtures.polling import eventually
from fixtures.reporting import step
from fixtures.services import service

pytestmark = [pytest.mark.area("networking"), pytest.mark.requires(images=["agnhost"]),
              pytest.mark.xdist_group("networking-traffic"),
              pytest.mark.parametrize("kube_proxy_mode", KUBE_PROXY_MODES, scope="module")]

WEB, CLIENT = "web", "client"
# new connections sampled to tell random from round-robin: P(perfect alternation | random) = 2^-(N-1)
SAMPLES = 40
REFUSED = "failed: Connection refused"  # curl -v, once the kernel answers a SYN with a reset or ICMP port unreachable


@pytest.fixture(scope="module")
def web(kube_proxy_module_ns, timeouts):
    """2 netexec backends behind Service web and a client pod; the client sees the ClusterIP programmed."""
    module_ns, cluster = kube_proxy_module_ns, kube_proxy_module_ns.cluster
    module_ns.apply("networking/services/backends.yaml", name=WEB, replicas=2)
    module_ns.apply("networking/services/client.yaml", name=CLIENT, node=kubelet_nodes(cluster)[0])
    backends = {p.name for p in wait_ready(cluster, module_ns.name, f"app={WEB}", 2, timeouts)}
    wait_ready(cluster, module_ns.name, "role=client", 1, timeouts)
    ip = service(cluster, module_ns.name, WEB).cluster_ip
    seen: set = set()
    eventually(lambda: seen.update(_hostnames(cluster, module_ns.name, f"http://{ip}/hostname", 4)) or seen,
               until=lambda s: backends <= s, timeout=timeouts.network_programming, desc="both backends answer on the ClusterIP")
    return backends


def _sh(cluster, namespace: str, script: str, timeout: float = 30):
    return exec_in(cluster, namespace, CLIENT, "client", ["bash", "-c", script], timeout=timeout)


def _hostnames(cluster, namespace: str, url: str, n: int) -> list[str]:
    """n requests in a row, each with its own curl process (a new TCP connection); the answers in order."""
    res = _sh(cluster, namespace, f'for i in $(seq {n}); do curl -sS -m 2 "{url}"; echo; done')
    return [line for line in res.stdout.splitlines() if line]


@pytest.mark.claim("S002-173")
def test_cluster_ip_forwards_tcp_and_udp_at_layer_4(kube_proxy_module_ns, web, timeouts):
    """A ClusterIP Service forwards TCP and UDP; it does not look at HTTP: any Host header, and bytes
    that are not HTTP at all, reach a backend unchanged."""
    module_ns, cluster = kube_proxy_module_ns, kube_proxy_module_ns.cluster
    ns, ip = module_ns.name, service(cluster, module_ns.name, WEB).cluster_ip
    with step(f"When the client sends an HTTP request over TCP to {ip}:80 with a Host header no one serves"):
        res = _sh(cluster, ns, f'curl -sS -m 2 -H "Host: nobody.example" http://{ip}/hostname')
    with step("Then a backend answers it"):
        assert res.returncode == 0 and res.stdout.strip() in web, f"TCP via ClusterIP: {res}"
    with step(f"When the client sends the UDP datagram 'hostname' to {ip}:8081"):
        udp = eventually(lambda: _sh(cluster, ns, f"echo hostname | nc -u -w 1 {ip} 8081").stdout.strip(),
                         until=lambda out: out in web, timeout=timeouts.network_programming, desc="UDP answer via ClusterIP")
    with step(f"Then a backend answers over UDP ({udp})"):
        assert udp in web
    with step("And bytes that are not HTTP are delivered to the backend as they are (it answers 400)"):
        raw = _sh(cluster, ns, f"printf 'NOT-HTTP\\r\\n\\r\\n' | nc -w 2 {ip} 80 | head -n 1")
        assert raw.stdout.startswith("HTTP/1.1 400"), f"raw TCP via ClusterIP: {raw}"


@pytest.mark.claim("S002-177")
def test_backends_are_chosen_at_random_per_connection_not_round_robin(kube_proxy_module_ns, kube_proxy_mode, web):
    """The document says RoundRobin is the default. In iptables and nftables mode each new connection
    picks a backend at random (statistic / numgen): over 40 connections both backends answer, in an order
    that is not a strict alternation (which random choice produces with probability 2^-39). Only IPVS mode
    balances round-robin (its default scheduler rr)."""
    module_ns, cluster = kube_proxy_module_ns, kube_proxy_module_ns.cluster
    ip = service(cluster, module_ns.name, WEB).cluster_ip
    with step(f"When one client makes {SAMPLES} new connections to {ip} (kube-proxy {kube_proxy_mode})"):
        answers = _hostnames(cluster, module_ns.name, f"http://{ip}/hostname", SAMPLES)
    with step("Then both backends answer"):
        assert len(answers) == SAMPLES and set(answers) == web, f"answers: {answers}"
    round_robin = kube_proxy_mode == "ipvs"
    with step(f"And the order is {'' if round_robin else 'not '}a strict alternation (round-robin)"):
        alternating = all(a != b for a, b in zip(answers, answers[1:]))
        assert alternating == round_robin, f"[behaviour-changed] kube-proxy {kube_proxy_mode}, alternating={alternating}: {answers}"


@pytest.mark.claim("S002-177")
def test_session_affinity_client_ip_pins_one_client_to_one_backend(kube_proxy_module_ns, web, timeouts):
    """sessionAffinity: ClientIP pins every connection of a client IP to one backend; the stickiness
    timeout defaults to 10800 s. The same client's connections to Service web (no affinity) spread."""
    module_ns, cluster = kube_proxy_module_ns, kube_proxy_module_ns.cluster
    ns = module_ns.name
    with step("Given Service sticky (sessionAffinity: ClientIP) over the same backends"):
        module_ns.apply("networking/services/sticky.yaml", name="sticky", app=WEB)
        sticky = service(cluster, ns, "sticky")
        assert sticky.spec["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"] == 10800, sticky.spec
    with step(f"When the client makes {SAMPLES} new connections to it"):
        answers = eventually(lambda: _hostnames(cluster, ns, f"http://{sticky.cluster_ip}/hostname", SAMPLES),
                             until=lambda a: len(a) == SAMPLES, timeout=timeouts.network_programming, desc="sticky answers")
    with step("Then one backend answers them all"):
        assert len(set(answers)) == 1 and answers[0] in web, f"answers with ClientIP affinity: {answers}"


@pytest.mark.claim("S002-185")
def test_a_pod_reaches_a_service_by_name_and_the_backend_sees_the_pod_ip(kube_proxy_module_ns, web):
    """A pod resolving `svc.ns` gets the ClusterIP, its connection reaches a backend, and the backend sees
    the client pod's own IP as source: in-cluster ClusterIP traffic is not SNATed."""
    module_ns, cluster = kube_proxy_module_ns, kube_proxy_module_ns.cluster
    ns = module_ns.name
    ip = service(cluster, ns, WEB).cluster_ip
    client_ip = view(cluster, ns, CLIENT).ip
    with step(f"When the client requests http://{WEB}.{ns}/clientip"):
        res = _sh(cluster, ns, f"curl -sS -m 2 -w '\\n%{{remote_ip}}' http://{WEB}.{ns}/clientip")
        assert res.returncode == 0, f"curl: {res}"
        seen_source, connected_to = res.stdout.split()
    with step(f"Then the name resolved to the ClusterIP {ip}"):
        assert connected_to == ip, f"curl connected to {connected_to}"
    with step(f"And the backend saw the client's pod IP {client_ip} as source"):
        assert seen_source.rsplit(":", 1)[0] == client_ip, f"backend saw {seen_source}, client pod is {client_ip}"


@pytest.mark.claim("S002-186")
def test_a_service_without_endpoints_refuses_connections_at_once(kube_proxy_module_ns, web, timeouts):
    """The document: requests to a Service without pods are dropped. kube-proxy REJECTs them instead
    (ICMP port unreachable): the client gets "connection refused" at once, not a timeout."""
    module_ns, cluster = kube_proxy_module_ns, kube_proxy_module_ns.cluster
    ns = module_ns.name
    module_ns.apply("networking/services/selector-nothing.yaml", name="empty")
    empty, served = service(cluster, ns, "empty").cluster_ip, service(cluster, ns, WEB).cluster_ip
    # timed by the client process itself (curl's time_total), not by the shell around it: on a loaded 2-core node
    # starting a process can take a second
    probe = "curl -v -sS -o /dev/null --connect-timeout 5 -w 'rc=%{{exitcode}} s=%{{time_total}}\\n' http://{ip}:80/ 2>&1"
    with step(f"Given the same probe connects to Service web at {served}:80 (negative control)"):
        ok = _sh(cluster, ns, probe.format(ip=served)).stdout
        assert "rc=0" in ok, f"curl to {served}: {ok}"
    with step(f"And kube-proxy has programmed Service empty at {empty}:80 (its selector matches no pod): a connection is refused"):
        # until then its ClusterIP is unallocated to kube-proxy, whose packets nftables mode drops (a SYN retry later)
        eventually(lambda: _sh(cluster, ns, probe.format(ip=empty)).stdout, until=lambda o: REFUSED in o,
                   timeout=timeouts.network_programming, desc="REJECT rule for empty programmed")
    with step(f"When the client opens a new connection to {empty}:80"):
        out = _sh(cluster, ns, probe.format(ip=empty)).stdout
    with step("Then the connection is refused within a second, not left to time out"):
        ms = round(float(out.rsplit("s=", 1)[1]) * 1000)
        assert REFUSED in out and "rc=7" in out and ms < 1000, f"[behaviour-changed] refusal took {ms} ms: {out}"
