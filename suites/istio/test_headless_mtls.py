"""Headless Service + mTLS, by traffic (seed 000 「istio 无头服务问题」; seed 002 「应用场景」 9, Part C G-02).

Source: 000_b2af30f51f81eada.txt ## 2021-02-18~21 › ### istio 无头服务问题 (问题1, 问题2);
002_620e0a9d2c440bc2.txt 「应用场景」 9. Upstream: istio.io/latest/docs/concepts/security/#auto-mutual-tls.

The document: before Istio 1.6 a sidecar client spoke mTLS to a plain-TCP server without a sidecar behind
a headless Service and failed; the workaround was a DestinationRule disabling TLS. Today auto-mTLS uses
mTLS only towards endpoints that have a sidecar, so no DestinationRule is needed; forcing ISTIO_MUTUAL
reproduces the failure. mTLS is asserted as Istio's own tests do: the server app receives
X-Forwarded-Client-Cert naming the client's SPIFFE id; plaintext arrives without it.
"""
import pytest

from fixtures.addons import istio_proxies, mesh_http
from fixtures.pods import wait_ready
from fixtures.polling import eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("istio"), pytest.mark.requires(istio=True, istio_proxy=True, images=["agnhost", "busybox"])]
XFCC = "x-forwarded-client-cert"


def _host(ns, svc: str) -> str:
    return f"{svc}.{ns.name}.svc.cluster.local"


def _spiffe(ns, sa: str) -> str:
    return f"spiffe://cluster.local/ns/{ns.name}/sa/{sa}"


def _workloads(ns, cluster, timeouts, *, server_sidecar: bool, plain_client: bool = False):
    """Server pod `server` (sidecar or not) behind headless `server-h` and ClusterIP `server-vip`, and
    a meshed client `client` (plus a client without sidecar, `outsider`, when asked); all Ready."""
    ns.apply("istio/mesh/server.yaml", name="server", app="server", version="v1", inject=str(server_sidecar).lower())
    ns.apply("istio/mesh/service.yaml", name="server-h", app="server", port_name="http", cluster_ip="None")
    ns.apply("istio/mesh/service.yaml", name="server-vip", app="server", port_name="http", cluster_ip="")
    ns.apply("istio/mesh/client.yaml", name="client", env="test", inject="true")
    if plain_client:
        ns.apply("istio/mesh/client.yaml", name="outsider", env="test", inject="false")
    wait_ready(cluster, ns.name, "app in (server, client, outsider)", 3 if plain_client else 2, timeouts, budget="mesh_pod_start")


def _header_reply(cluster, ns, client: str, svc: str) -> mesh_http.Reply:
    return mesh_http.get(cluster, ns.name, client, f"http://{_host(ns, svc)}:8080/header")


def _until(cluster, ns, timeouts, client: str, svc: str, ok, desc: str) -> mesh_http.Reply:
    """Poll until the reply satisfies `ok`: pushed config takes effect within the xDS push time."""
    return eventually(lambda: _header_reply(cluster, ns, client, svc), until=ok, timeout=timeouts.xds_push, desc=desc)


def _xfcc(reply: mesh_http.Reply) -> str:
    return " ".join(mesh_http.headers_seen(reply).get(XFCC, [])) if reply.status == 200 else ""


@pytest.mark.claim("S000-27")
def test_sidecar_client_reaches_a_server_without_sidecar_behind_a_headless_service_when_no_destinationrule_exists(mesh_ns, cluster, timeouts):
    """Auto-mTLS sends plaintext to an endpoint without a sidecar: the document's failure is gone, no DestinationRule needed."""
    with step("Given a server without sidecar behind a headless Service, and a sidecar client"):
        _workloads(mesh_ns, cluster, timeouts, server_sidecar=False)
    with step("Then the client gets 200, and the server saw plaintext: no X-Forwarded-Client-Cert"):
        got = _until(cluster, mesh_ns, timeouts, "client", "server-h", lambda r: r.status == 200, "200 through the headless Service")
        assert _xfcc(got) == "", f"plaintext expected towards a server without sidecar: {mesh_http.headers_seen(got)}"
    with step("And the request did go through the client's sidecar (Envoy answered: x-envoy-upstream-service-time)"):
        assert "x-envoy-upstream-service-time" in got.headers, got


@pytest.mark.claim("S000-27")
@pytest.mark.parametrize("protocol", ["http", "tcp"])
def test_istio_mutual_fails_and_tls_disable_restores_a_server_without_sidecar_behind_a_headless_service(mesh_ns, cluster, timeouts, protocol):
    """Forcing ISTIO_MUTUAL towards a server without sidecar reproduces the document's failure (HTTP: 503; plain TCP
    like the document's redis: the connection is closed without data); tls DISABLE, the document's workaround, fixes it."""
    host = _host(mesh_ns, "server-h" if protocol == "http" else "server")
    with step(f"Given a working sidecar client and a {protocol} server without sidecar behind a headless Service"):
        if protocol == "http":
            _workloads(mesh_ns, cluster, timeouts, server_sidecar=False)
            probe = lambda: _header_reply(cluster, mesh_ns, "client", "server-h").status  # noqa: E731
            ok, broken = 200, 503
        else:
            mesh_ns.apply("istio/headless-mtls/server.yaml", server="server")  # agnhost serve-hostname --tcp, headless `server`
            mesh_ns.apply("istio/headless-mtls/client.yaml", name="client", target=host)
            wait_ready(cluster, mesh_ns.name, "app in (server, client)", 2, timeouts, budget="mesh_pod_start")
            probe = lambda: cluster.core.read_namespaced_pod_log("client", mesh_ns.name, container="client", tail_lines=1).strip()  # noqa: E731
            ok, broken = "reply: server", "reply:"
        eventually(probe, until=lambda got: got == ok, timeout=timeouts.xds_push, desc="the server answering first")
    with step("When a DestinationRule forces ISTIO_MUTUAL for the headless host"):
        mesh_ns.apply("istio/mesh/destinationrule-tls.yaml", name="server", host=host, mode="ISTIO_MUTUAL")
    with step(f"Then the client fails: {broken!r}"):
        eventually(probe, until=lambda got: got == broken, timeout=timeouts.xds_push, desc="the ISTIO_MUTUAL failure")
    with step("When the DestinationRule is switched to tls DISABLE (the document's workaround)"):
        mesh_ns.apply("istio/mesh/destinationrule-tls.yaml", name="server", host=host, mode="DISABLE")
    with step(f"Then the server answers again: {ok!r}"):
        eventually(probe, until=lambda got: got == ok, timeout=timeouts.xds_push, desc="DISABLE restoring traffic")


@pytest.mark.claim("S002-270", "S000-27")
def test_meshed_server_gets_mtls_from_meshed_clients_and_plaintext_from_others_when_permissive(mesh_ns, cluster, timeouts):
    """No PeerAuthentication = PERMISSIVE: a meshed client's requests arrive over mTLS (XFCC with its SPIFFE id), through
    the headless and the ClusterIP Service alike, while a client without sidecar still gets through in plaintext."""
    with step("Given a server with sidecar behind a headless and a ClusterIP Service, a meshed and an outside client"):
        _workloads(mesh_ns, cluster, timeouts, server_sidecar=True, plain_client=True)
    for svc in ("server-h", "server-vip"):
        with step(f"Then via {svc} the server sees the meshed client's SPIFFE id in X-Forwarded-Client-Cert"):
            got = _until(cluster, mesh_ns, timeouts, "client", svc, lambda r: r.status == 200, f"200 via {svc}")
            assert f"URI={_spiffe(mesh_ns, 'client')}" in _xfcc(got), mesh_http.headers_seen(got)
            assert f"By={_spiffe(mesh_ns, 'server')}" in _xfcc(got), mesh_http.headers_seen(got)
        with step(f"And via {svc} the outside client gets 200 in plaintext (no XFCC)"):
            plain = _until(cluster, mesh_ns, timeouts, "outsider", svc, lambda r: r.status == 200, f"plaintext 200 via {svc}")
            assert _xfcc(plain) == "", mesh_http.headers_seen(plain)


@pytest.mark.claim("S002-270", "S000-27")
def test_strict_peerauthentication_refuses_plaintext_and_keeps_mtls_clients_working(mesh_ns, cluster, timeouts):
    """PeerAuthentication STRICT: plaintext from a client without sidecar is refused (connection reset, no HTTP
    status), through the headless and the ClusterIP Service; the meshed client keeps getting 200 over mTLS."""
    with step("Given the meshed server, a meshed client and an outside client, both answered under PERMISSIVE"):
        _workloads(mesh_ns, cluster, timeouts, server_sidecar=True, plain_client=True)
        for client in ("client", "outsider"):
            _until(cluster, mesh_ns, timeouts, client, "server-vip", lambda r: r.status == 200, f"{client} answered before STRICT")
    with step("When the namespace's PeerAuthentication is STRICT"):
        mesh_ns.apply("istio/mesh/peerauthentication.yaml", name="default", mode="STRICT")
    for svc in ("server-h", "server-vip"):
        with step(f"Then via {svc} the outside client gets no HTTP response (reset)"):
            refused = _until(cluster, mesh_ns, timeouts, "outsider", svc, lambda r: r.status == 0, f"plaintext refused via {svc}")
            assert refused.curl_exit in (52, 56), refused  # empty reply / connection reset by peer
        with step(f"And via {svc} the meshed client still gets 200 with its SPIFFE id in XFCC"):
            got = _header_reply(cluster, mesh_ns, "client", svc)
            assert got.status == 200 and f"URI={_spiffe(mesh_ns, 'client')}" in _xfcc(got), got


@pytest.mark.claim("S002-270")
def test_destinationrule_disable_against_a_strict_server_fails_and_istio_mutual_restores_it(mesh_ns, cluster, timeouts):
    """An explicit DestinationRule overrides auto-mTLS: DISABLE sends plaintext, which a STRICT server refuses (503);
    ISTIO_MUTUAL brings back 200 over mTLS."""
    host = _host(mesh_ns, "server-vip")
    with step("Given a STRICT meshed server answering the meshed client"):
        _workloads(mesh_ns, cluster, timeouts, server_sidecar=True)
        mesh_ns.apply("istio/mesh/peerauthentication.yaml", name="default", mode="STRICT")
        _until(cluster, mesh_ns, timeouts, "client", "server-vip", lambda r: r.status == 200, "200 under STRICT")
    with step("When a DestinationRule sets tls DISABLE for the server"):
        mesh_ns.apply("istio/mesh/destinationrule-tls.yaml", name="server", host=host, mode="DISABLE")
    with step("Then the client gets 503 from its own sidecar"):
        _until(cluster, mesh_ns, timeouts, "client", "server-vip", lambda r: r.status == 503, "503 with DISABLE against STRICT")
    with step("When it is switched to ISTIO_MUTUAL"):
        mesh_ns.apply("istio/mesh/destinationrule-tls.yaml", name="server", host=host, mode="ISTIO_MUTUAL")
    with step("Then 200 again, with XFCC"):
        got = _until(cluster, mesh_ns, timeouts, "client", "server-vip", lambda r: r.status == 200, "200 with ISTIO_MUTUAL")
        assert f"URI={_spiffe(mesh_ns, 'client')}" in _xfcc(got), got


@pytest.mark.claim("S000-28")
def test_client_proxy_cluster_is_original_dst_for_a_headless_service_and_eds_for_a_clusterip_service(mesh_ns, cluster, timeouts):
    """In the client's Envoy (its config dump), the headless Service's outbound cluster is ORIGINAL_DST, the ClusterIP
    Service's is EDS, and traffic to unknown addresses goes to PassthroughCluster (ORIGINAL_DST): "ORIGINAL_DST by
    default" holds only for headless and passthrough traffic."""
    with step("Given the server behind both Services and a sidecar client that reached both"):
        _workloads(mesh_ns, cluster, timeouts, server_sidecar=False)
        for svc in ("server-h", "server-vip"):
            _until(cluster, mesh_ns, timeouts, "client", svc, lambda r: r.status == 200, f"200 via {svc}")
    with step("Then the client's dynamic clusters have those types"):
        want = {f"outbound|8080||{_host(mesh_ns, 'server-h')}": "ORIGINAL_DST",
                f"outbound|8080||{_host(mesh_ns, 'server-vip')}": "EDS", "PassthroughCluster": "ORIGINAL_DST"}
        clusters = istio_proxies.dynamic_clusters(cluster, mesh_ns.name, "client")
        got = {name: istio_proxies.cluster_type(clusters[name]) if name in clusters else "absent" for name in want}
        assert got == want, got
