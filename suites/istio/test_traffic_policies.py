"""DestinationRule and VirtualService policies by traffic: circuit breaking, outlier detection, load
balancing, protocol by port name, weighted and header routing, routing to another Service, mirroring
(seed 000 2021-02-01~07 「熔断」「流量镜像」; seed 002 「核心CRD」, 「应用场景」 1, 5, 7).

Source: 000_b2af30f51f81eada.txt ## 2021-02-01~07 › ### (empty heading); 002_620e0a9d2c440bc2.txt 「核心CRD」「应用场景」.
Upstream: istio.io/latest/docs/reference/config/networking/destination-rule/.
"""
import re

import pytest

from fixtures.addons import istio_proxies, mesh_http
from fixtures.pods import wait_ready
from fixtures.polling import eventually
from fixtures.reporting import attach_text, step

pytestmark = [pytest.mark.area("istio"), pytest.mark.requires(istio=True, istio_proxy=True, images=["agnhost", "nginx"])]


def _servers(ns, cluster, timeouts, app: str, versions=("v1",), *, port_name="http", plain_client=False):
    for v in versions:
        ns.apply("istio/mesh/server.yaml", name=f"{app}-{v}", app=app, version=v, inject="true")
    ns.apply("istio/mesh/service.yaml", name=app, app=app, port_name=port_name, cluster_ip="")
    ns.apply("istio/mesh/client.yaml", name="client", env="test", inject="true")
    if plain_client:
        ns.apply("istio/mesh/client.yaml", name="outsider", env="none", inject="false")
    wait_ready(cluster, ns.name, f"app in ({app}, client, outsider)", len(versions) + 1 + plain_client, timeouts, budget="mesh_pod_start")
    return f"{app}.{ns.name}.svc.cluster.local"


def _addresses(seen_line: str) -> list[str]:
    """The X-Forwarded-For addresses of an nginx `seen` log line (nginx logs "-" when there is none)."""
    value = seen_line.split('xff="', 1)[1].rstrip('"')
    return [] if value == "-" else [a.strip() for a in value.split(",")]


def _cluster_of(cluster, ns, host: str) -> dict:
    return istio_proxies.dynamic_clusters(cluster, ns.name, "client").get(f"outbound|8080||{host}", {})


@pytest.mark.claim("S000-11", "S002-266")
def test_tiny_connection_pool_answers_503_overloaded_beyond_one_concurrent_request(mesh_ns, cluster, timeouts):
    """The document's DestinationRule (maxConnections 1, http1MaxPendingRequests 1, maxRequestsPerConnection 1): with
    4 concurrent slow requests, the ones beyond one in flight and one queued get 503 with x-envoy-overloaded (flag UO)
    and the client proxy counts upstream_rq_pending_overflow; one at a time, none overflows."""
    host = _servers(mesh_ns, cluster, timeouts, "httpbin")
    slow = mesh_http.slow_url(host, 0.5)
    with step("Given the document's circuit-breaker DestinationRule, as written, in the client's config"):
        mesh_ns.apply("istio/documents/s000-httpbin-circuit-breaker.yaml")
        thresholds = eventually(lambda: _cluster_of(cluster, mesh_ns, host).get("circuit_breakers", {}).get("thresholds", [{}])[0],
                                until=lambda t: t.get("max_connections") == 1, timeout=timeouts.xds_push, desc="circuit breaker thresholds")
        assert thresholds.get("max_pending_requests") == 1, thresholds
    with step("When 8 slow requests are sent one at a time: no overflow"):
        assert mesh_http.statuses(cluster, mesh_ns.name, "client", slow, 8, parallel=1) == {"200": 8}
    with step("When 12 slow requests are sent 4 at a time"):
        got = mesh_http.statuses(cluster, mesh_ns.name, "client", slow, 12, parallel=4, header="x-envoy-overloaded")
        attach_text("status x-envoy-overloaded", repr(got))
    with step("Then some get 503 marked x-envoy-overloaded: true, the others 200, and the overflow is counted"):
        assert got["503 true"] >= 1 and set(got) <= {"200", "503 true"}, got
        overflow = istio_proxies.stats(cluster, mesh_ns.name, "client", "upstream_rq_pending_overflow", match=rf"outbound\|8080\|\|{re.escape(host)};?\.")  # Istio names the stats "<cluster>;.<stat>"
        assert sum(overflow.values()) >= got["503 true"], overflow


@pytest.mark.claim("S002-266", "S002-254")
def test_outlier_detection_ejects_the_failing_endpoint_after_one_5xx(mesh_ns, cluster, timeouts):
    """Outlier detection is passive (no active health checks in the cluster): after a 5xx, the failing endpoint is
    ejected and every request goes to the healthy one; without it, the failing endpoint keeps getting its share."""
    host = _servers(mesh_ns, cluster, timeouts, "httpbin")
    mesh_ns.apply("istio/mesh/nginx-logger.yaml", name="httpbin-bad", app="httpbin", version="bad", status=500)
    wait_ready(cluster, mesh_ns.name, "app=httpbin", 2, timeouts, budget="mesh_pod_start")
    url = mesh_http.echo_url(host, "od")
    with step("Given no outlier detection: the failing endpoint keeps answering 500 to some of 20 requests"):
        got = eventually(lambda: mesh_http.statuses(cluster, mesh_ns.name, "client", url, 20), until=lambda c: c["500"] > 0,
                         timeout=timeouts.xds_push, desc="both endpoints in rotation")
        assert set(got) == {"200", "500"}, got
        assert "health_checks" not in _cluster_of(cluster, mesh_ns, host), "an active health check was configured"
    with step("When outlier detection ejects after one 5xx for 3 minutes"):
        mesh_ns.apply("istio/mesh/destinationrule-outlier.yaml", name="httpbin", host=host)
        eventually(lambda: _cluster_of(cluster, mesh_ns, host).get("outlier_detection"), until=bool,
                   timeout=timeouts.xds_push, desc="outlier detection in the client's cluster")
    with step("Then after the first 500, 20 requests in a row all answer 200"):
        eventually(lambda: mesh_http.statuses(cluster, mesh_ns.name, "client", url, 20), until=lambda c: c == {"200": 20},
                   timeout=timeouts.xds_push, desc="the failing endpoint ejected")


@pytest.mark.claim("S002-257")
def test_default_load_balancer_is_least_request_and_a_destinationrule_changes_it(mesh_ns, cluster, timeouts):
    """The document says the default is random; the client's Envoy cluster has lb_policy LEAST_REQUEST (Istio >= 1.14)
    until a DestinationRule sets another algorithm (RANDOM here)."""
    host = _servers(mesh_ns, cluster, timeouts, "lb")
    with step("Then without a DestinationRule the cluster's lb_policy is LEAST_REQUEST"):
        got = eventually(lambda: _cluster_of(cluster, mesh_ns, host), until=bool, timeout=timeouts.xds_push, desc="the cluster")
        assert got.get("lb_policy") == "LEAST_REQUEST", f"[behaviour-changed] not random: {got.get('lb_policy')}"
    with step("When a DestinationRule sets simple: RANDOM, it becomes RANDOM"):
        mesh_ns.apply("istio/mesh/destinationrule-lb.yaml", name="lb", host=host, algorithm="RANDOM")
        eventually(lambda: _cluster_of(cluster, mesh_ns, host).get("lb_policy"), until=lambda p: p == "RANDOM",
                   timeout=timeouts.xds_push, desc="lb_policy RANDOM")


@pytest.mark.claim("S002-260")
@pytest.mark.parametrize("port_name, expected", [("http-web", 500), ("tcp-web", 200)])
def test_http_fault_applies_only_when_the_service_port_name_declares_http(mesh_ns, cluster, timeouts, port_name, expected):
    """The Service port name picks the protocol: `http-web` is proxied as HTTP (an HTTP abort fault answers 500),
    `tcp-web` as opaque TCP (the VirtualService's http rules do not apply: 200 from the server)."""
    host = _servers(mesh_ns, cluster, timeouts, "web", port_name=port_name)
    url = mesh_http.echo_url(host, "proto")
    eventually(lambda: mesh_http.get(cluster, mesh_ns.name, "client", url).status, until=lambda s: s == 200,
               timeout=timeouts.xds_push, desc="the server answering")
    with step(f"When a VirtualService aborts every HTTP request to the Service (port named {port_name})"):
        mesh_ns.apply("istio/mesh/vs-abort-any.yaml", name="web", host=host)
        if expected == 500:
            eventually(lambda: istio_proxies.route_values(cluster, mesh_ns.name, "client", "abort"), until=bool,
                       timeout=timeouts.xds_push, desc="the abort in the client's routes")
    with step(f"Then requests answer {expected}"):
        eventually(lambda: mesh_http.statuses(cluster, mesh_ns.name, "client", url, 5), until=lambda c: c == {str(expected): 5},
                   timeout=timeouts.xds_push, desc=f"{expected} for {port_name}")


@pytest.mark.claim("S002-262")
def test_header_match_wins_first_and_weights_split_90_10_per_request(mesh_ns, cluster, timeouts):
    """The first matching rule wins (x-user: tester -> v2, every time); other requests split by weight 90/10: over 1000
    requests v2 gets 10 % ± 4 % (more than 4 standard deviations)."""
    host = _servers(mesh_ns, cluster, timeouts, "shop", versions=("v1", "v2"))
    mesh_ns.apply("istio/mesh/subsets.yaml", name="shop", host=host)
    mesh_ns.apply("istio/mesh/vs-split.yaml", name="shop", host=host)
    url = f"http://{host}:8080/hostname"
    with step("Then requests with x-user: tester all reach v2"):
        got = eventually(lambda: mesh_http.statuses(cluster, mesh_ns.name, "client", url, 20, headers={"x-user": "tester"}),
                         until=lambda c: c == {"200": 20}, timeout=timeouts.xds_push, desc="header route")
        bodies = {mesh_http.get(cluster, mesh_ns.name, "client", url, headers={"x-user": "tester"}).body.strip() for _ in range(5)}
        assert bodies == {"shop-v2"}, bodies
    with step("And 1000 requests without it split about 90/10"):
        counts = mesh_http.bodies(cluster, mesh_ns.name, "client", url, 1000, parallel=4)
        attach_text("split", repr(counts))
        assert sum(counts.values()) == 1000 and set(counts) == {"shop-v1", "shop-v2"} and 60 <= counts["shop-v2"] <= 140, counts


@pytest.mark.claim("S002-256")
def test_virtualservice_sends_mesh_clients_of_one_service_to_another_and_leaves_other_clients_alone(mesh_ns, cluster, timeouts):
    """A VirtualService for host `reviews` routing to Service `reviews-next` decouples the address from the workload:
    meshed clients calling reviews get reviews-next; a client without sidecar still gets reviews."""
    host = _servers(mesh_ns, cluster, timeouts, "reviews", plain_client=True)
    mesh_ns.apply("istio/mesh/server.yaml", name="reviews-next", app="reviews-next", version="v1", inject="true")
    mesh_ns.apply("istio/mesh/service.yaml", name="reviews-next", app="reviews-next", port_name="http", cluster_ip="")
    wait_ready(cluster, mesh_ns.name, "app=reviews-next", 1, timeouts, budget="mesh_pod_start")
    url = f"http://{host}:8080/hostname"
    with step("When the VirtualService for reviews routes to reviews-next"):
        mesh_ns.apply("istio/mesh/vs-redirect-host.yaml", name="reviews", host=host, target=f"reviews-next.{mesh_ns.name}.svc.cluster.local")
    with step("Then the meshed client gets reviews-next's pod"):
        eventually(lambda: mesh_http.get(cluster, mesh_ns.name, "client", url).body.strip(), until=lambda b: b == "reviews-next",
                   timeout=timeouts.xds_push, desc="meshed client rerouted")
    with step("And the client without sidecar still gets reviews' pod"):
        assert mesh_http.get(cluster, mesh_ns.name, "outsider", url).body.strip() == "reviews-v1"


@pytest.mark.claim("S000-06", "S000-07", "S002-268")
def test_mirror_copies_each_request_to_v2_whose_answers_are_discarded(mesh_ns, cluster, timeouts, istio):
    """Mirroring (route v1, mirror v2, 100 %): every request also reaches v2 and the client only ever sees v1's answer.
    The documents: the mirror's Host carries a `-shadow` suffix (true up to Istio 1.27; from 1.28 DISABLE_SHADOW_HOST_SUFFIX
    defaults to true: same Host) and one more X-Forwarded-For address than the original (the mirroring proxy's pod IP)."""
    host = f"mirror.{mesh_ns.name}.svc.cluster.local"
    for name, version in (("mirror-v1", "v1"), ("mirror-v2", "v2")):
        mesh_ns.apply("istio/mesh/nginx-logger.yaml", name=name, app="mirror", version=version, status=200)
    mesh_ns.apply("istio/mesh/service.yaml", name="mirror", app="mirror", port_name="http", cluster_ip="")
    mesh_ns.apply("istio/mesh/subsets.yaml", name="mirror", host=host)
    mesh_ns.apply("istio/mesh/client.yaml", name="client", env="test", inject="true")
    wait_ready(cluster, mesh_ns.name, "app in (mirror, client)", 3, timeouts, budget="mesh_pod_start")
    with step("When v1 gets the traffic and v2 a 100 % mirror"):
        mesh_ns.apply("istio/mesh/vs-mirror.yaml", name="mirror", host=host, percent=100)
        eventually(lambda: istio_proxies.route_values(cluster, mesh_ns.name, "client", "request_mirror_policies"), until=bool,
                   timeout=timeouts.xds_push, desc="the mirror policy in the client's routes")
    with step("Then 10 requests all answer from v1"):
        bodies = [mesh_http.get(cluster, mesh_ns.name, "client", f"http://{host}:8080/m{i}").body.strip() for i in range(10)]
        assert bodies == ["mirror-v1"] * 10, bodies

    def seen(pod):
        return {line.split()[1]: line for line in cluster.core.read_namespaced_pod_log(pod, mesh_ns.name, container="server").splitlines()
                if line.startswith("seen uri=/m")}

    with step("And v2 received a copy of each, with the Host the Istio version gives it"):
        copies = eventually(lambda: seen("mirror-v2"), until=lambda s: len(s) == 10, timeout=timeouts.xds_push, desc="10 mirrored copies")
        originals = seen("mirror-v1")
        attach_text("v1 / v2 logs", "\n".join(originals.values()) + "\n---\n" + "\n".join(copies.values()))
        want = f"host={host}:8080" if istio.minor >= (1, 28) else f"host={host}-shadow:8080"
        assert all(want in line for line in copies.values()), f"[behaviour-changed] expected {want}: {copies}"
    with step("And the copy carries one more X-Forwarded-For address than the original: the mirroring proxy's pod"):
        client_ip = cluster.core.read_namespaced_pod("client", mesh_ns.name).status.pod_ip
        xff = {u: (_addresses(originals[u]), _addresses(copies[u])) for u in originals}
        assert all(copy == orig + [client_ip] for orig, copy in xff.values()), (client_ip, xff)
