"""Traffic management by traffic: fault delay, route timeout, retries, abort, source-scoped faults
(seed 000 2021-02-01~07 「注入延迟」「请求延迟」「重试」「故障注入」; seed 002 「应用场景」 4 and 6).

Source: 000_b2af30f51f81eada.txt ## 2021-02-01~07 › ### (empty heading); 002_620e0a9d2c440bc2.txt 「应用场景」.
Upstream: istio.io/latest/docs/reference/config/networking/virtual-service/ (HTTPFaultInjection, HTTPRetry).

The documents' VirtualServices are applied as written where their hosts are short names (ratings, reviews,
httpbin: our Services carry those names); where they name another namespace (`*.prod`), ours keep their
values with our host. Faults are applied by the CLIENT's sidecar; the server (agnhost netexec) logs every
request it receives, so retries and aborts are counted where they land.
"""
import uuid

import pytest

from fixtures.addons import istio_proxies, mesh_http
from fixtures.pods import wait_ready
from fixtures.polling import eventually
from fixtures.reporting import attach_text, step

pytestmark = [pytest.mark.area("istio"), pytest.mark.requires(istio=True, istio_proxy=True, images=["agnhost"])]


def _mesh(ns, cluster, timeouts, app: str, *, clients=("client",), plain_client: bool = False):
    """Meshed server pod `<app>-v1` (version v1) behind Service `<app>` with subsets v1/v2, and meshed clients."""
    ns.apply("istio/mesh/server.yaml", name=f"{app}-v1", app=app, version="v1", inject="true")
    ns.apply("istio/mesh/service.yaml", name=app, app=app, port_name="http", cluster_ip="")
    ns.apply("istio/mesh/subsets.yaml", name=app, host=app)
    for c in clients:
        ns.apply("istio/mesh/client.yaml", name=c, env=c.rsplit("-", 1)[-1], inject="true")
    if plain_client:
        ns.apply("istio/mesh/client.yaml", name="outsider", env="none", inject="false")
    names = [f"{app}-v1", *clients, *(["outsider"] if plain_client else [])]
    wait_ready(cluster, ns.name, f"app in ({app}, {', '.join(names[1:])})", len(names), timeouts, budget="mesh_pod_start")
    return f"{app}.{ns.name}.svc.cluster.local"


def _get(cluster, ns, url, client="client") -> mesh_http.Reply:
    return mesh_http.get(cluster, ns.name, client, url)


def _until(cluster, ns, timeouts, url, ok, desc, client="client") -> mesh_http.Reply:
    return eventually(lambda: _get(cluster, ns, url, client), until=ok, timeout=timeouts.xds_push, desc=desc)


UPSTREAM_S = 3


@pytest.mark.claim("S000-08")
def test_fault_delay_of_2s_adds_2s_to_every_mesh_request_and_none_to_clients_without_sidecar(mesh_ns, cluster, timeouts):
    """The document's VirtualService (fault.delay percent: 100, fixedDelay: 2s on ratings v1) makes every request from a
    meshed client take 2 s longer, status unchanged; a client without sidecar is not delayed (the client proxy injects it)."""
    host = _mesh(mesh_ns, cluster, timeouts, "ratings", plain_client=True)
    url = mesh_http.echo_url(host, "rated")
    with step("Given requests answered in well under a second before any fault"):
        base = _until(cluster, mesh_ns, timeouts, url, lambda r: r.status == 200, "ratings answering")
        assert base.seconds < 2.0, base
    with step("When the document's fault-delay VirtualService is applied as written"):
        mesh_ns.apply("istio/documents/s000-ratings-fault-delay.yaml")
        _until(cluster, mesh_ns, timeouts, url, lambda r: r.seconds >= 2.0, "the delay to take effect")
    with step("Then five requests in a row each take 2 s more, and still answer 200"):
        timed = [_get(cluster, mesh_ns, url) for _ in range(5)]
        attach_text("timings", "\n".join(map(repr, timed)))
        assert all(r.status == 200 and 2.0 <= r.seconds < 4.0 for r in timed), timed
    with step("And a client without sidecar is not delayed"):
        plain = _get(cluster, mesh_ns, url, client="outsider")
        assert plain.status == 200 and plain.seconds < 2.0, plain


@pytest.mark.claim("S000-09", "S002-265")
def test_route_timeout_of_half_a_second_answers_504_for_a_slower_upstream(mesh_ns, cluster, timeouts):
    """The document's `timeout: 0.5s` on reviews v2: an upstream slower than that gets 504 `upstream request timeout`
    after ~0.5 s; fast requests are untouched; the same slow request succeeded before the route had a timeout."""
    host = _mesh(mesh_ns, cluster, timeouts, "reviews")
    mesh_ns.apply("istio/mesh/server.yaml", name="reviews-v2", app="reviews", version="v2", inject="true")
    wait_ready(cluster, mesh_ns.name, "app=reviews", 2, timeouts, budget="mesh_pod_start")
    slow = mesh_http.slow_url(host, UPSTREAM_S)  # far slower than 0.5 s: exec and proxy overheads cannot blur the two
    with step(f"Given a {UPSTREAM_S} s upstream answering 200 without any VirtualService (Istio disables Envoy's route timeout)"):
        before = _until(cluster, mesh_ns, timeouts, slow, lambda r: r.status == 200, "the slow request answering")
        assert before.seconds >= UPSTREAM_S, before
    with step("When the document's VirtualService (reviews v2, timeout 0.5s) is applied as written"):
        mesh_ns.apply("istio/documents/s000-reviews-timeout.yaml")
        got = _until(cluster, mesh_ns, timeouts, slow, lambda r: r.status == 504, "504 from the route timeout")
    with step(f"Then the 504 comes after 0.5 s, well before the upstream would have answered ({UPSTREAM_S} s), from Envoy"):
        assert 0.5 <= got.seconds < UPSTREAM_S, got
        assert got.body.strip() == "upstream request timeout", got
    with step("And a fast request still answers 200 (a fast answer: on a loaded node one may itself take > 0.5 s)"):
        _until(cluster, mesh_ns, timeouts, mesh_http.echo_url(host, "fast"), lambda r: r.status == 200 and r.seconds < 0.5,
               "a fast request answering 200 through the route with the timeout")


@pytest.mark.claim("S002-265")
@pytest.mark.slow
def test_request_longer_than_envoys_15s_default_succeeds_when_no_virtualservice_sets_a_timeout(mesh_ns, cluster, timeouts):
    """Without a VirtualService the HTTP route timeout is disabled (Istio sets 0 over Envoy's 15 s default): a 16 s
    request answers 200."""
    host = _mesh(mesh_ns, cluster, timeouts, "slowpoke")
    with step("When a request to an upstream that takes 16 s is sent through the sidecar"):
        got = mesh_http.get(cluster, mesh_ns.name, "client", mesh_http.slow_url(host, 16), max_time=30)
    with step("Then it answers 200 after 16 s"):
        assert got.status == 200 and got.seconds >= 16, got


@pytest.mark.claim("S000-10", "S002-265")
def test_retries_send_four_attempts_on_5xx_and_per_try_timeouts_when_attempts_is_3(mesh_ns, cluster, timeouts):
    """The document's retries (attempts 3, perTryTimeout 1s, retryOn 5xx): one failing call reaches the server 4 times and
    the client gets the final 500; an upstream slower than 1 s is tried 4 times, ~1 s each, then 504. Without the
    VirtualService a 500 is not retried at all."""
    host = _mesh(mesh_ns, cluster, timeouts, "httpbin")
    first = uuid.uuid4().hex[:8]
    with step("Given no VirtualService: a 500 reaches the server once (Istio's default policy does not retry 500)"):
        _until(cluster, mesh_ns, timeouts, mesh_http.echo_url(host, first, 500), lambda r: r.status == 500, "the 500 answer")
        assert mesh_http.settled_hits(cluster, mesh_ns.name, "httpbin-v1", first, at_least=1, timeouts=timeouts) == 1
    with step("When the document's retries VirtualService is applied as written"):
        mesh_ns.apply("istio/documents/s000-httpbin-retries.yaml")
        eventually(lambda: [p for p in istio_proxies.route_values(cluster, mesh_ns.name, "client", "retry_policy") if p.get("num_retries") == 3],
                   until=bool, timeout=timeouts.xds_push, desc="the 3-attempt retry policy in the client's routes")
    marker = uuid.uuid4().hex[:8]
    with step("Then one call answering 500 reaches the server 4 times, and the client sees 500"):
        got = _get(cluster, mesh_ns, mesh_http.echo_url(host, marker, 500))
        assert got.status == 500, got
        assert mesh_http.settled_hits(cluster, mesh_ns.name, "httpbin-v1", marker, at_least=4, timeouts=timeouts) == 4
    with step("And a 2 s upstream is cut at 1 s per try: 4 tries, 504 after ~4 s"):
        got = _get(cluster, mesh_ns, mesh_http.slow_url(host, 2))
        assert got.status == 504 and 4.0 <= got.seconds < 6.0, got
        assert mesh_http.server_log_count(cluster, mesh_ns.name, "httpbin-v1", "GET /shell?cmd=sleep 2") == 4


@pytest.mark.claim("S002-243")
def test_sidecar_retries_a_refused_connection_on_another_pod_where_kube_proxy_alone_fails(mesh_ns, cluster, timeouts):
    """kube-proxy does not try another pod: a Ready backend that refuses connections fails its share of a plain client's
    requests. Istio's default retry policy (2 retries on connect-failure, refused-stream, unavailable, cancelled, on
    another host) hides it from a meshed client. A 503 *answered* by the server is not retried by that default (no
    retriable status codes are listed): it reaches the server once."""
    host = _mesh(mesh_ns, cluster, timeouts, "flaky", plain_client=True)
    mesh_ns.apply("istio/mesh/server.yaml", name="flaky-v2", app="flaky", version="v2", inject="true")
    mesh_ns.apply("istio/mesh/server-refusing.yaml", name="flaky-refusing", app="flaky")
    wait_ready(cluster, mesh_ns.name, "app=flaky", 3, timeouts, budget="mesh_pod_start")
    url = f"http://{host}:8080/hostname"
    with step("Given 3 Ready endpoints, one refusing connections: a client without sidecar fails about a third of 30 calls"):
        plain = eventually(lambda: mesh_http.statuses(cluster, mesh_ns.name, "outsider", url, 30), until=lambda c: c["000"] > 0,
                           timeout=timeouts.xds_push, desc="the refusing endpoint in kube-proxy's rotation")
        assert set(plain) == {"200", "000"}, plain
    with step("Then the meshed client gets 200 for all 30: its sidecar retried on another pod"):
        assert mesh_http.statuses(cluster, mesh_ns.name, "client", url, 30) == {"200": 30}
    with step("And a 503 answered by the server reaches it once: the default policy does not retry response codes"):
        marker = uuid.uuid4().hex[:8]
        pods = ("flaky-v1", "flaky-v2")
        got = _get(cluster, mesh_ns, mesh_http.echo_url(host, marker, 503))
        assert got.status == 503, got
        hits = mesh_http.settled_hits(cluster, mesh_ns.name, pods, marker, at_least=1, timeouts=timeouts)
        assert hits == 1, f"[behaviour-changed] the document's notes expect 503 retried (3 hits), saw {hits}"


@pytest.mark.claim("S000-12", "S002-267")
def test_abort_fault_answers_without_reaching_the_server_and_its_percentage_is_a_percent(mesh_ns, cluster, timeouts):
    """An abort fault answers from the client's sidecar without reaching the upstream; `percentage.value` is a percentage:
    100 aborts all, 50 about half (400 requests: 40–60 %, > 4 standard deviations), and the document's 0.1 is
    programmed into Envoy as 1000 per million (0.1 %, one request in a thousand, not 10 %)."""
    host = _mesh(mesh_ns, cluster, timeouts, "ratings")
    marker = uuid.uuid4().hex[:8]
    url = mesh_http.echo_url(host, marker)
    _until(cluster, mesh_ns, timeouts, url, lambda r: r.status == 200, "ratings answering")
    with step("When 100 % of requests are aborted with 500"):
        mesh_ns.apply("istio/mesh/vs-abort.yaml", name="ratings", host=host, percent=100, status=500)
        _until(cluster, mesh_ns, timeouts, url, lambda r: r.status == 500, "the abort to take effect")
    with step("Then ten requests all get 500 and none reaches the server"):
        hits = mesh_http.settled_hits(cluster, mesh_ns.name, "ratings-v1", marker, at_least=1, timeouts=timeouts)
        assert mesh_http.statuses(cluster, mesh_ns.name, "client", url, 10) == {"500": 10}
        assert mesh_http.settled_hits(cluster, mesh_ns.name, "ratings-v1", marker, at_least=hits, timeouts=timeouts) == hits
    with step("When the abort is 50 % with the document's status 400"):
        mesh_ns.apply("istio/mesh/vs-abort.yaml", name="ratings", host=host, percent=50, status=400)
        eventually(lambda: mesh_http.statuses(cluster, mesh_ns.name, "client", url, 10), until=lambda c: "500" not in c,
                   timeout=timeouts.xds_push, desc="the 100 % abort replaced")
    with step("Then 400 requests are aborted 40–60 % of the time"):
        counts = mesh_http.statuses(cluster, mesh_ns.name, "client", url, 400, parallel=4)
        assert set(counts) <= {"200", "400"} and 160 <= counts["400"] <= 240, counts
    with step("When the document's percentage.value 0.1 is applied"):
        mesh_ns.apply("istio/mesh/vs-abort.yaml", name="ratings", host=host, percent=0.1, status=400)
    with step("Then Envoy's fault filter holds 1000 per MILLION (0.1 %)"):
        def aborts():
            return [a for a in istio_proxies.route_values(cluster, mesh_ns.name, "client", "abort") if a.get("http_status") == 400]

        got = eventually(aborts, until=lambda a: bool(a) and a[0].get("percentage") == {"numerator": 1000, "denominator": "MILLION"},
                         timeout=timeouts.xds_push, desc="the 0.1 % abort in the client's routes")
        attach_text("abort in the route", repr(got))


@pytest.mark.claim("S000-13")
def test_source_label_scoped_delay_applies_only_to_clients_with_that_label(mesh_ns, cluster, timeouts):
    """A fault matched on sourceLabels env: prod delays only requests from workloads labelled env=prod; another client
    of the same host is not delayed (the document's 0.1 % made 100 % so every request shows it)."""
    host = _mesh(mesh_ns, cluster, timeouts, "reviews", clients=("client-prod", "client-dev"))
    url = mesh_http.echo_url(host, "review")
    with step("When requests from env=prod are delayed 2 s by a sourceLabels match"):
        mesh_ns.apply("istio/mesh/vs-source-labels-delay.yaml", name="reviews", host=host, delay="2s")
    with step("Then the env=prod client waits 2 s more"):
        prod = _until(cluster, mesh_ns, timeouts, url, lambda r: r.status == 200 and r.seconds >= 2.0, "prod delayed", client="client-prod")
        assert prod.seconds < 4.0, prod
    with step("And the env=dev client is answered at once, by the same route table"):
        dev = [_get(cluster, mesh_ns, url, client="client-dev") for _ in range(3)]
        assert all(r.status == 200 and r.seconds < 2.0 for r in dev), dev
