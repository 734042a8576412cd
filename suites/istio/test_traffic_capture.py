"""Sidecar traffic capture: istio-init's iptables rules and the traffic they redirect (seed 000
「istio sidecar流量劫持」, 「istio网络问题」; seed 002 「ServiceMersh」「Istio」: envoy + iptables hijack the traffic).

Source: 000_b2af30f51f81eada.txt ## 2021-02-01~07 › ### istio sidecar流量劫持, ## 2021-02-18~21 › ### istio网络问题;
002_620e0a9d2c440bc2.txt 「ServiceMersh」. Upstream: istio.io/latest/docs/ops/deployment/application-requirements/.

istio-init (pilot-agent istio-iptables) writes the nat rules before any container starts: outbound TCP to
Envoy's 15001, inbound to 15006, traffic of UID 1337 (the proxy itself) and excluded ports untouched. The
signatures by traffic: a captured outbound call is counted by the client's Envoy and arrives over mTLS
(X-Forwarded-Client-Cert); a captured inbound connection reaches the app from 127.0.0.6, the address
Envoy's inbound passthrough binds; uncaptured calls show none of the outbound signatures.
"""
import re

import pytest

from fixtures.addons import istio_proxies, mesh_http
from fixtures.pods import wait_ready
from fixtures.polling import eventually
from fixtures.reporting import attach_text, step

pytestmark = [pytest.mark.area("istio"), pytest.mark.requires(istio=True, istio_proxy=True, images=["agnhost"])]
RULES = {
    "outbound TCP -> 15001": r"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001",
    "inbound TCP -> 15006": r"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006",
    "UID 1337 exempt": r"-A ISTIO_OUTPUT .*-m owner --uid-owner 1337 -j RETURN",
    "inbound captured from PREROUTING": r"-A PREROUTING -p tcp -j ISTIO_INBOUND",
    "outbound captured from OUTPUT": r"-A OUTPUT (-p tcp )?-j ISTIO_OUTPUT",
}


@pytest.fixture
def captured(mesh_ns, cluster, timeouts):
    ns = mesh_ns
    ns.apply("istio/mesh/server.yaml", name="server", app="server", version="v1", inject="true")
    ns.apply("istio/mesh/service.yaml", name="server", app="server", port_name="http", cluster_ip="")
    ns.apply("istio/mesh/service-alt-port.yaml", name="server-alt", app="server", port=9090)
    ns.apply("istio/mesh/capture-client.yaml", name="client", excluded=9090)
    wait_ready(cluster, ns.name, "app in (server, client)", 2, timeouts, budget="mesh_pod_start")
    eventually(lambda: _call(cluster, ns, "app", 8080).status, until=lambda s: s == 200, timeout=timeouts.xds_push, desc="mesh up")
    return ns


def _call(cluster, ns, container: str, port: int) -> mesh_http.Reply:
    svc = "server" if port == 8080 else "server-alt"
    return mesh_http.get(cluster, ns.name, "client", f"http://{svc}.{ns.name}.svc.cluster.local:{port}/header", container=container)


def _outbound_requests(cluster, ns) -> int:
    """Requests the client's Envoy sent to the server's outbound clusters (any port)."""
    return sum(istio_proxies.stats(cluster, ns.name, "client", "upstream_rq_total", match=rf"^cluster\.outbound\|\d+\|\|server(-alt)?\.{ns.name}\.").values())


def _source(cluster, ns, container: str, port: int) -> str:
    svc = "server" if port == 8080 else "server-alt"
    return mesh_http.get(cluster, ns.name, "client", f"http://{svc}.{ns.name}.svc.cluster.local:{port}/clientip", container=container).body


@pytest.mark.claim("S000-19", "S002-242", "S000-21")
def test_istio_init_writes_nat_rules_redirecting_outbound_to_15001_and_inbound_to_15006_except_uid_1337(captured, cluster):
    """The rules istio-init applied (its log lists them): the nat chains send outbound TCP to 15001 and inbound TCP to
    15006, with UID 1337 returned before the redirect."""
    with step("Then istio-init's log holds each rule"):
        log = cluster.core.read_namespaced_pod_log("client", captured.name, container="istio-init")
        attach_text("istio-init log", log)
        missing = [what for what, rule in RULES.items() if not re.search(rule, log)]
        assert not missing, f"rules not found: {missing}"


@pytest.mark.claim("S002-242", "S000-19", "S002-084")
def test_app_traffic_goes_through_envoy_both_ways_and_uid_1337_or_an_excluded_port_bypasses_it(captured, cluster):
    """The pod network that the init container istio-init configured (S002-084), at work. A root app's outbound
    call is captured (counted by its Envoy, mTLS: XFCC at the server), and the
    server app sees it arrive from 127.0.0.6 (inbound capture). The same call from UID 1337, or to an excluded port,
    leaves the client uncaptured: not counted, plaintext; the server's inbound capture still applies."""
    ns = captured
    with step("Then the app container's call goes through its Envoy (outbound counter +1), over mTLS, from 127.0.0.6"):
        before = _outbound_requests(cluster, ns)
        got = _call(cluster, ns, "app", 8080)
        assert _outbound_requests(cluster, ns) == before + 1, "the client's Envoy did not see the call"
        assert "x-forwarded-client-cert" in mesh_http.headers_seen(got), got
        assert _source(cluster, ns, "app", 8080).startswith("127.0.0.6:")
    for container, port, why in (("as-proxy", 8080, "UID 1337"), ("app", 9090, "excluded port 9090")):
        with step(f"And a call from {why} bypasses the client's Envoy: counter unchanged, plaintext at the server"):
            before = _outbound_requests(cluster, ns)
            got = _call(cluster, ns, container, port)
            assert got.status == 200 and _outbound_requests(cluster, ns) == before, got
            assert "x-forwarded-client-cert" not in mesh_http.headers_seen(got), got
        with step(f"And the server's inbound capture still hands it over from 127.0.0.6 ({why})"):
            assert _source(cluster, ns, container, port).startswith("127.0.0.6:")
