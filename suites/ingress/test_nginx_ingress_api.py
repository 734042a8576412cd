"""The document's Ingress against today's API and ingress-nginx: the removed v1beta1 versions, what
networking.k8s.io/v1 requires, what the ALB-style path /* means to ingress-nginx, and the admission webhook that
checks rules before they are stored.

Source: 002_620e0a9d2c440bc2.txt 「Ingress」(YAML) and 「和Istio Ingressgateway的区别」(table).
Upstream: kubernetes.io/docs/reference/using-api/deprecation-guide/#ingress-v122,
kubernetes.github.io/ingress-nginx/deploy/#validating-webhook.
"""
from __future__ import annotations

import json

import pytest

from fixtures.addons import ingress_http as web
from fixtures.addons.ingress_nginx import WEBHOOK
from fixtures.api_calls import create_raw
from fixtures.manifests import render
from fixtures.reporting import step

pytestmark = [pytest.mark.area("ingress")]


@pytest.mark.claim("S002-212")
def test_the_documents_v1beta1_ingress_is_no_longer_served_from_kubernetes_1_22(ns, cluster, server_version):
    """The document's Ingress is extensions/v1beta1 (networking.k8s.io/v1beta1 alike); both were removed in 1.22,
    networking.k8s.io/v1 is served instead."""
    with step("When the document's Ingress is submitted as extensions/v1beta1 and as networking.k8s.io/v1beta1"):
        old = {v: create_raw(cluster, render("ingress/api/doc-ingress.yaml", api_version=v)[0], ns.name, dry_run=True)
               for v in ("extensions/v1beta1", "networking.k8s.io/v1beta1")}
        v1 = create_raw(cluster, render("ingress/api/v1-without-pathtype.yaml")[0], ns.name, dry_run=True)
    if server_version >= (1, 22, 0):
        with step("Then neither version is served (404), while networking.k8s.io/v1 is (it validates the body)"):
            assert {v: a.status for v, a in old.items()} == {"extensions/v1beta1": 404, "networking.k8s.io/v1beta1": 404}, \
                f"[behaviour-changed] {old}"
            assert v1.status != 404, v1
    else:
        with step("Then both are still served before 1.22"):
            assert all(a.status != 404 for a in old.values()), old


@pytest.mark.claim("S002-212")
def test_networking_v1_requires_a_path_type(ns, cluster):
    """networking.k8s.io/v1 requires pathType on every path (and backend.service.{name,port}): the document's rule
    without it is refused with 422 naming pathType."""
    with step("When the document's rule is submitted as networking.k8s.io/v1 without pathType"):
        answer = create_raw(cluster, render("ingress/api/v1-without-pathtype.yaml")[0], ns.name, dry_run=True)
    with step("Then it is refused as invalid, naming pathType"):
        assert answer.status == 422 and "pathType" in answer.message, answer


@pytest.mark.claim("S002-212")
@pytest.mark.requires(ingress=True, images=["nginx"])
def test_the_documents_star_path_is_a_literal_prefix_to_ingress_nginx(ns, cluster, ingress, timeouts):
    """/* is an ALB wildcard; converted to v1 (ImplementationSpecific) ingress-nginx treats it as a literal path
    element (location /*/ plus /* itself): /foo does not match it, /*/foo does."""
    host = f"star.{ns.name}.test"
    with step("Given the document's /* path for an echo backend"):
        web.deploy_echo(ns, cluster, timeouts, {"app": 1})
        ns.apply("ingress/api/star-path.yaml", host=host, backend="app")
        web.wait_routed(ingress, host, "/*/foo", "app", timeouts)
    with step("When /foo and /*/foo are requested"):
        plain, literal = web.get(ingress, host, "/foo"), web.get(ingress, host, "/*/foo")
    with step("Then only /*/foo reached the backend"):
        assert plain.pod is None and plain.status == 404, plain
        assert web.backend_of(literal.pod) == "app", literal


@pytest.mark.claim("S002-214")
@pytest.mark.requires(ingress=True, images=["nginx"])
def test_the_admission_webhook_refuses_a_duplicate_host_and_path_and_a_rule_nginx_cannot_load(ns, cluster, ingress, timeouts):
    """The document says nginx ingress does no rule checking; ingress-nginx's validating webhook refuses an Ingress
    whose host and path another Ingress already has, and one whose rendered configuration fails `nginx -t` (here a
    use-regex path that is not a regular expression), before either is stored."""
    host = f"dup.{ns.name}.test"

    def regex(name: str, path: str) -> dict:
        return render("ingress/api/regex-path.yaml", name=name, host=host, path=path, backend="app")[0]
    with step("Given an Ingress for dup.test/, served (so the controller, which runs the webhook, knows it)"):
        web.deploy_echo(ns, cluster, timeouts, {"app": 1})
        first = create_raw(cluster, render("ingress/api/simple.yaml", name="first", host=host, path="/", backend="app",
                                           annotations="{}")[0], ns.name)
        assert first.status == 201, first
        web.wait_routed(ingress, host, "/", "app", timeouts)
    with step("When a second Ingress for dup.test/, one with the regex path /foo([ and one with /foo(bar)? are submitted"):
        dup = create_raw(cluster, render("ingress/api/simple.yaml", name="second", host=host, path="/", backend="app",
                                         annotations="{}")[0], ns.name, dry_run=True)
        broken, valid = (create_raw(cluster, regex(n, p), ns.name, dry_run=True) for n, p in (("broken", "/foo(["), ("valid", "/foo(bar)?")))
    with step(f"Then the webhook {WEBHOOK} denied the first two, naming why, and admitted the valid one"):
        assert dup.status == 400 and "denied the request" in dup.message and "already defined" in dup.message, dup
        assert broken.status == 400 and "denied the request" in broken.message and "test failed" in broken.message, broken
        assert valid.status == 201, valid
