"""The client address the backend learns through ingress-nginx: X-Real-IP and X-Forwarded-For by default, with
use-forwarded-headers and compute-full-forwarded-for, with the document's http-snippet, and the client's own
X-Forwarded-For passed on as X-Original-Forwarded-For.

Source: 000_b2af30f51f81eada.txt 「Ingress获取真实IP」 §1-§3. Upstream: kubernetes.github.io/ingress-nginx/
user-guide/nginx-configuration/configmap/#use-forwarded-headers and the template's proxy_set_header lines.
The client here is this host (kind's network gateway) reaching the node's port 80; the backend echoes the headers.
"""
from __future__ import annotations

import re

import pytest

from fixtures.addons import ingress_http as web
from fixtures.reporting import step

pytestmark = [pytest.mark.area("ingress"), pytest.mark.requires(ingress=True, images=["nginx"])]
CLAIMED = "203.0.113.7"  # what the client claims in X-Forwarded-For (TEST-NET-3)


@pytest.fixture(scope="module")
def site(module_ns, ingress, cluster, timeouts):
    """Given an echo backend behind an Ingress for fwd.<ns>.test, served; returns (host, the client's address C)."""
    web.deploy_echo(module_ns, cluster, timeouts, {"app": 1})
    host = f"fwd.{module_ns.name}.test"
    module_ns.apply("ingress/routing/classed.yaml", name="fwd", class_name="nginx", host=host, backend="app", service_upstream="false")
    plain = web.wait_routed(ingress, host, "/", "app", timeouts)
    client = plain.echo["x_real_ip"]
    assert client and client != CLAIMED, plain
    return host, client


def seen(ingress, host: str, xff: str | None = CLAIMED) -> dict:
    echo = web.get(ingress, host, "/", headers={"X-Forwarded-For": xff} if xff else None).echo
    return {k: echo.get(k) for k in ("x_real_ip", "x_forwarded_for", "x_original_forwarded_for")}


@pytest.mark.serial
@pytest.mark.claim("S000-58")
def test_use_forwarded_headers_trusts_the_clients_x_forwarded_for_and_compute_full_appends_the_peer(site, ingress, cluster, timeouts):
    """use-forwarded-headers and compute-full-forwarded-for decide the client address passed upstream: by default the
    peer C replaces the client's X-Forwarded-For; use-forwarded-headers trusts it (X-Real-IP and X-Forwarded-For become
    the claimed address); with compute-full-forwarded-for too, C is appended; compute-full-forwarded-for alone changes
    nothing (nginx reloaded with it: a new configuration checksum)."""
    host, client = site
    with step(f"Then by default the backend sees the peer {client} in X-Real-IP and X-Forwarded-For"):
        default = seen(ingress, host)
        assert (default["x_real_ip"], default["x_forwarded_for"]) == (client, client), default
    old = re.search(r"Configuration checksum: (\d+)", web.nginx_conf(cluster)).group(1)
    variants = {"use-forwarded-headers": ({"use-forwarded-headers": "true"}, r"set_real_ip_from\s+0\.0\.0\.0/0;"),
                "both": ({"use-forwarded-headers": "true", "compute-full-forwarded-for": "true"}, r"X-Forwarded-For\s+\$full_x_forwarded_for;"),
                "compute-full-forwarded-for alone": ({"compute-full-forwarded-for": "true"}, rf"Configuration checksum: (?!{old}\b)\d+")}
    found = {}
    for name, (settings, rendered) in variants.items():
        with step(f"When the ConfigMap sets {settings}"):
            with web.configured(cluster, timeouts, settings, rendered=rendered):
                web.wait_routed(ingress, host, "/", "app", timeouts)  # the reload settled
                found[name] = {k: v for k, v in seen(ingress, host).items() if k != "x_original_forwarded_for"}
    with step(f"Then the claimed {CLAIMED} is trusted, then extended by {client}, and compute alone changed nothing"):
        assert found == {"use-forwarded-headers": {"x_real_ip": CLAIMED, "x_forwarded_for": CLAIMED},
                         "both": {"x_real_ip": CLAIMED, "x_forwarded_for": f"{CLAIMED}, {client}"},
                         "compute-full-forwarded-for alone": {"x_real_ip": client, "x_forwarded_for": client}}, found


@pytest.mark.serial
@pytest.mark.claim("S000-59")
def test_the_documents_real_ip_header_snippet_alone_trusts_no_proxy_so_x_real_ip_stays_the_peer(site, ingress, cluster, timeouts):
    """The document's http-snippet `real_ip_header X-Forwarded-For;` is said to recover the real IP; on its own no
    set_real_ip_from is rendered (use-forwarded-headers, use-proxy-protocol and enable-real-ip are off), so the realip
    module trusts nobody and X-Real-IP stays the peer."""
    host, client = site
    with step("When the ConfigMap's http-snippet is `real_ip_header X-Forwarded-For;`"):
        with web.configured(cluster, timeouts, {"http-snippet": "real_ip_header X-Forwarded-For;"},
                            rendered=r"real_ip_header X-Forwarded-For;") as conf:
            web.wait_routed(ingress, host, "/", "app", timeouts)
            got = seen(ingress, host)
    with step(f"Then nginx.conf has the snippet but no set_real_ip_from, and X-Real-IP is still {client}"):
        assert "set_real_ip_from" not in conf
        assert (got["x_real_ip"], got["x_forwarded_for"]) == (client, client), got


@pytest.mark.claim("S000-60")
def test_the_clients_x_forwarded_for_is_passed_on_as_x_original_forwarded_for(site, ingress):
    """ingress-nginx puts the X-Forwarded-For the client sent into X-Original-Forwarded-For (whatever the client
    claims: not "the real IP"); without one the header is absent."""
    host, _ = site
    with step(f"When one request carries X-Forwarded-For: {CLAIMED} and one none"):
        claimed, bare = seen(ingress, host), seen(ingress, host, None)
    with step("Then the backend got X-Original-Forwarded-For equal to the claim, and none without it"):
        assert claimed["x_original_forwarded_for"] == CLAIMED, claimed
        assert bare["x_original_forwarded_for"] == "", bare
