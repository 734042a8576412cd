"""ingress-nginx annotations the document uses: URL rewrite with capture groups and Basic Auth from an htpasswd Secret.

Source: 003_d8925e36aedd8024.txt 「Nginx Ingress Controller」 (URL rewrite, Basic Auth).
Upstream: kubernetes.github.io/ingress-nginx/examples/rewrite/ and examples/auth/basic/.
"""
from __future__ import annotations

import base64
import hashlib

import pytest

from fixtures.addons import ingress_http as web
from fixtures.reporting import step

pytestmark = [pytest.mark.area("ingress"), pytest.mark.requires(ingress=True, images=["nginx"])]


@pytest.fixture(scope="module")
def app(module_ns, ingress, cluster, timeouts):
    """Given an echo backend `app` (it answers with the URI it received)."""
    web.deploy_echo(module_ns, cluster, timeouts, {"app": 1})
    return module_ns


@pytest.mark.claim("S003-114")
def test_rewrite_target_with_capture_groups_strips_the_matched_prefix(app, ingress, timeouts):
    """rewrite-target /$2 with the use-regex path /something(/|$)(.*) sends /something/foo upstream as /foo."""
    host = f"rewrite.{app.name}.test"
    with step("Given the document's rewrite Ingress"):
        app.apply("ingress/annotations/rewrite.yaml", host=host, backend="app")
        web.wait_routed(ingress, host, "/something", "app", timeouts)
    with step("When /something/foo/bar?x=1, /something and /somethingelse are requested"):
        deep = web.get(ingress, host, "/something/foo/bar?x=1")
        bare = web.get(ingress, host, "/something")
        other = web.get(ingress, host, "/somethingelse")
    with step("Then the backend saw /foo/bar?x=1 and /, and /somethingelse matched no rule"):
        assert deep.echo.get("uri") == "/foo/bar?x=1", deep
        assert bare.echo.get("uri") == "/", bare
        assert other.pod is None and other.status == 404, other


def htpasswd_sha(user: str, password: str) -> str:
    """An htpasswd line in the {SHA} scheme (htpasswd -s), which nginx's auth_basic_user_file reads."""
    return f"{user}:{{SHA}}{base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()}\n"  # noqa: S324


@pytest.mark.claim("S003-115")
def test_basic_auth_answers_401_with_a_challenge_without_credentials_and_200_with_them(app, ingress, timeouts):
    """auth-type basic with auth-secret (key `auth`: an htpasswd file) and auth-realm: no credentials -> 401 and
    WWW-Authenticate: Basic realm=...; wrong ones -> 401; valid ones -> the backend answers."""
    host = f"auth.{app.name}.test"
    good = "Basic " + base64.b64encode(b"foo:bar").decode()
    bad = "Basic " + base64.b64encode(b"foo:wrong").decode()
    with step("Given an Ingress guarded by Basic Auth for user foo (password bar)"):
        app.apply("ingress/annotations/basic-auth.yaml", host=host, backend="app",
                  htpasswd_b64=base64.b64encode(htpasswd_sha("foo", "bar").encode()).decode())
        web.settled(lambda: web.get(ingress, host, "/"), lambda r: r.status == 401, timeouts, f"{host} challenging")
    with step("When it is requested without, with wrong and with valid credentials"):
        none = web.get(ingress, host, "/")
        wrong = web.get(ingress, host, "/", headers={"Authorization": bad})
        valid = web.get(ingress, host, "/", headers={"Authorization": good})
    with step("Then 401 with the realm's Basic challenge, 401, and the backend's answer"):
        assert none.status == 401 and none.headers.get("www-authenticate") == 'Basic realm="Authentication Required - foo"', none.headers
        assert wrong.status == 401 and wrong.pod is None, wrong
        assert valid.status == 200 and web.backend_of(valid.pod) == "app", valid
