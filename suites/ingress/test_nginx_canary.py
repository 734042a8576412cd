"""Canary releases with ingress-nginx: a canary Ingress beside the primary one for the same host and path, chosen
by header (value, pattern), cookie or weight, in that order of precedence.

Source: 003_d8925e36aedd8024.txt 「灰度发布」; 002_620e0a9d2c440bc2.txt 「和Istio Ingressgateway的区别」(table).
Upstream: kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/annotations/#canary. The canary decision
is the controller's own Lua (balancer.lua) in the offline build too; only the round-robin inside a backend is a shim.
"""
from __future__ import annotations

import json

import pytest

from fixtures.addons import ingress_http as web
from fixtures.reporting import step

pytestmark = [pytest.mark.area("ingress"), pytest.mark.requires(ingress=True, images=["nginx"])]
CANARY = "nginx.ingress.kubernetes.io/canary"


@pytest.fixture(scope="module")
def backends(module_ns, ingress, cluster, timeouts):
    """Given the echo backends main, canary and canary2 (one pod each)."""
    web.deploy_echo(module_ns, cluster, timeouts, {"main": 1, "canary": 1, "canary2": 1})
    return module_ns


def canary_pair(ns, ingress, timeouts, name: str, annotations: dict[str, str], *, probe: dict[str, str] | None = None) -> str:
    """Primary Ingress <name> -> main and its canary -> canary for host <name>.<ns>.test; served once the pair answers
    and, when `probe` (headers) is given, once that request reaches the canary. Returns the host."""
    host = f"{name}.{ns.name}.test"
    anns = {f"nginx.ingress.kubernetes.io/{k}": v for k, v in annotations.items()}
    ns.apply("ingress/canary/pair.yaml", name=name, host=host, canary="canary", annotations=json.dumps({CANARY: "true", **anns}))
    # by this pair's backends: another test's catch-all Ingress answers 200 for a host not served yet
    web.settled(lambda: web.get(ingress, host, "/"), lambda r: r.status == 200 and web.backend_of(r.pod) in ("main", "canary"),
                timeouts, f"{host} served by main or canary")
    if probe:
        web.wait_routed(ingress, host, "/", "canary", timeouts, headers=probe)
    return host


def share(counts, backend: str = "canary") -> float:
    return counts.get(backend, 0) / sum(counts.values())


@pytest.mark.claim("S003-116")
def test_canary_by_header_always_and_never_override_the_weight_and_other_values_fall_through(backends, ingress, timeouts):
    """With canary-by-header X-Canary and canary-weight 50: `always` sends every request to the canary, `never`
    none (despite the weight), any other value is ignored and the weight decides (~50 %)."""
    host = canary_pair(backends, ingress, timeouts, "byheader", {"canary-by-header": "X-Canary", "canary-weight": "50"},
                       probe={"X-Canary": "always"})
    with step("When 40 requests carry X-Canary: always, 40 X-Canary: never and 200 X-Canary: maybe"):
        always = web.backends_answering(ingress, host, "/", 40, headers={"X-Canary": "always"})
        never = web.backends_answering(ingress, host, "/", 40, headers={"X-Canary": "never"})
        other = web.backends_answering(ingress, host, "/", 200, headers={"X-Canary": "maybe"})
    with step("Then always -> 100 % canary, never -> 0 %, maybe -> the weight's 50 % (± 15 points)"):
        assert always == {"canary": 40}, always
        assert never == {"main": 40}, never
        assert set(other) == {"main", "canary"} and 0.35 <= share(other) <= 0.65, other


@pytest.mark.claim("S003-117")
def test_canary_by_header_value_routes_only_that_value_and_is_ignored_without_the_header_annotation(backends, ingress, timeouts):
    """canary-by-header-value v2 (with canary-by-header X-Canary): only X-Canary: v2 reaches the canary and `always`
    is no longer special; canary-by-header-value without canary-by-header is ignored."""
    host = canary_pair(backends, ingress, timeouts, "byvalue", {"canary-by-header": "X-Canary", "canary-by-header-value": "v2"},
                       probe={"X-Canary": "v2"})
    lone = canary_pair(backends, ingress, timeouts, "valueonly", {"canary-by-header-value": "v2"})
    with step("When X-Canary: v2, X-Canary: always and no header are sent, to both hosts"):
        seen = {h: web.backends_answering(ingress, host, "/", 20, headers=h and {"X-Canary": h}) for h in ("v2", "always", "")}
        alone = web.backends_answering(ingress, lone, "/", 20, headers={"X-Canary": "v2"})
    with step("Then only v2 went to the canary; without canary-by-header, v2 stayed on main"):
        assert seen == {"v2": {"canary": 20}, "always": {"main": 20}, "": {"main": 20}}, seen
        assert alone == {"main": 20}, alone


@pytest.mark.claim("S003-118")
def test_canary_weight_sends_that_share_of_requests_out_of_canary_weight_total(backends, ingress, timeouts):
    """canary-weight 0 sends no request to the canary, 100 all of them, 30 about 30 %; the range is
    canary-weight-total (default 100): weight 500 of total 1000 is about half. A total below 100 is ignored
    (balancer.lua uses it only when > 100): weight 1 of total 2 stays about 1 %."""
    hosts = {w: canary_pair(backends, ingress, timeouts, f"weight{w}", {"canary-weight": str(w)}) for w in (0, 30, 100)}
    half = canary_pair(backends, ingress, timeouts, "weight500of1000", {"canary-weight": "500", "canary-weight-total": "1000"})
    small = canary_pair(backends, ingress, timeouts, "weight1of2", {"canary-weight": "1", "canary-weight-total": "2"})
    web.wait_routed(ingress, hosts[100], "/", "canary", timeouts)
    with step("When 200 requests go to the weight-0 and weight-100 hosts and 400 to weight 30, 500/1000 and 1/2"):
        zero, full = (web.backends_answering(ingress, hosts[w], "/", 200) for w in (0, 100))
        thirty, halves, tiny = (web.backends_answering(ingress, h, "/", 400) for h in (hosts[30], half, small))
    with step("Then 0/200 and 200/200 reached the canary, 30 % and 50 % (± 8 points), and 1 of 2 stayed under 5 %"):
        assert zero == {"main": 200}, zero
        assert full == {"canary": 200}, full
        assert 0.22 <= share(thirty) <= 0.38, thirty
        assert 0.42 <= share(halves) <= 0.58, halves
        assert share(tiny) <= 0.05, tiny


@pytest.mark.claim("S003-119")
def test_canary_by_cookie_always_and_never_decide_and_other_values_are_ignored(backends, ingress, timeouts):
    """canary-by-cookie canary_v: cookie value `always` -> canary, `never` -> main, any other value is ignored
    (weight 0 here, so main)."""
    host = canary_pair(backends, ingress, timeouts, "bycookie", {"canary-by-cookie": "canary_v"},
                       probe={"Cookie": "canary_v=always"})
    with step("When requests carry canary_v=always, canary_v=never and canary_v=maybe"):
        seen = {v: web.backends_answering(ingress, host, "/", 20, headers={"Cookie": f"canary_v={v}"}) for v in ("always", "never", "maybe")}
    with step("Then always -> canary only, never and maybe -> main only"):
        assert seen == {"always": {"canary": 20}, "never": {"main": 20}, "maybe": {"main": 20}}, seen


@pytest.mark.claim("S003-120")
def test_header_beats_cookie_beats_weight_and_only_one_canary_per_host_and_path_is_honoured(backends, ingress, timeouts, cluster):
    """Precedence canary-by-header -> canary-by-cookie -> canary-weight: header never + cookie always -> main; no
    header + cookie always + weight 0 -> canary; header always + cookie never -> canary. A second canary Ingress for
    the same host and path is not honoured."""
    host = canary_pair(backends, ingress, timeouts, "precedence",
                       {"canary-by-header": "X-Canary", "canary-by-cookie": "canary_v", "canary-weight": "0"},
                       probe={"X-Canary": "always"})
    cases = {"header never + cookie always": {"X-Canary": "never", "Cookie": "canary_v=always"},
             "no header + cookie always": {"Cookie": "canary_v=always"},
             "header always + cookie never": {"X-Canary": "always", "Cookie": "canary_v=never"},
             "neither (weight 0)": {}}
    with step("When each combination is sent 20 times"):
        seen = {k: web.backends_answering(ingress, host, "/", 20, headers=h) for k, h in cases.items()}
    with step("Then the header decided over the cookie, the cookie over the weight"):
        assert seen == {"header never + cookie always": {"main": 20}, "no header + cookie always": {"canary": 20},
                        "header always + cookie never": {"canary": 20}, "neither (weight 0)": {"main": 20}}, seen
    with step("When a second canary Ingress (-> canary2, canary-by-header X-Second) is added for the same host and path"):
        backends.apply("ingress/canary/extra.yaml", name="precedence-second", host=host, canary="canary2",
                       annotations=json.dumps({CANARY: "true", "nginx.ingress.kubernetes.io/canary-by-header": "X-Second"}))
        web.wait_routed(ingress, host, "/", "canary", timeouts, headers={"X-Canary": "always"})
    with step("Then X-Second: always never reaches canary2: the first canary alone is honoured"):
        second = web.backends_answering(ingress, host, "/", 20, headers={"X-Second": "always"})
        assert second == {"main": 20}, second


@pytest.mark.claim("S002-213")
def test_header_regex_and_weight_route_together_which_the_document_says_nginx_cannot(backends, ingress, timeouts):
    """The document's table says the Nginx ingress controller cannot route by header, by header regex, by weight,
    or by header and weight combined; ingress-nginx does all four: canary-by-header-pattern ^v2-.* with
    canary-weight 30."""
    host = canary_pair(backends, ingress, timeouts, "pattern",
                       {"canary-by-header": "X-Canary", "canary-by-header-pattern": "^v2-.*", "canary-weight": "30"},
                       probe={"X-Canary": "v2-beta"})
    with step("When X-Canary: v2-beta, X-Canary: v1-beta and no header are sent"):
        match = web.backends_answering(ingress, host, "/", 20, headers={"X-Canary": "v2-beta"})
        miss = web.backends_answering(ingress, host, "/", 400, headers={"X-Canary": "v1-beta"})
    with step("Then the matching header always reached the canary, the other fell to the weight's 30 % ± 8 points"):
        assert match == {"canary": 20}, match
        assert 0.22 <= share(miss) <= 0.38, miss
