"""Service account tokens: bound, projected TokenRequest tokens replaced the auto-created token Secrets
(1.22 / 1.24); they are JWTs verified with the issuer's public key; a ServiceAccount's identity and
(lack of) default permissions.

Source: seed 000, 2021-02-18~21 › kubernetes 中主要使用到的证书 (Service Account 证书); seed 001, 2021-03-15~21 ›
k8s 认证方式 (Token认证); seed 002 «RBAC». Upstream: https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/
"""
import base64
import json

import pytest
from kubernetes import client

from fixtures import apiserver, auth
from fixtures.certificates import node_file, node_has
from fixtures.nodes import control_plane
from fixtures.podexec import exec_in
from fixtures.tokens import claims_of
from fixtures.pods import is_ready, wait_pod
from fixtures.polling import consistently, eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("control-plane")]

TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"
TOKEN_SECONDS = 3607  # the projected token's expirationSeconds (3600 + 7 s to spot stale-token readers)
YEAR = 365 * 24 * 3600  # --service-account-extend-token-expiration (kubeadm default) extends it to a year


@pytest.fixture(scope="module")
def default_sa_pod(module_ns, cluster, timeouts):
    """Given a running pod that names no ServiceAccount: its spec and the token the kubelet mounted."""
    module_ns.apply("control_plane/tokens/pod.yaml", name="plain", service_account="default")
    wait_pod(cluster, module_ns.name, "plain", is_ready, timeouts)
    pod = cluster.core.read_namespaced_pod("plain", module_ns.name)
    token = exec_in(cluster, module_ns.name, "plain", "app", ["cat", TOKEN_PATH]).stdout.strip()
    return {"pod": pod, "token": token, "ns": module_ns.name}


def _token_secrets(cluster, namespace: str) -> list[str]:
    return [s.metadata.name for s in cluster.core.list_namespaced_secret(namespace).items
            if s.type == "kubernetes.io/service-account-token"]


@pytest.mark.claim("S000-32")
def test_pods_get_a_projected_bound_token_from_the_apiserver_not_a_secret(default_sa_pod, cluster):
    """Claim: kube-controller-manager generates SA tokens and they are mounted into pods from a Secret.
    Today (BoundServiceAccountTokenVolume GA 1.22, no auto token Secrets since 1.24) the pod gets a projected
    kube-api-access-* volume; its token is a TokenRequest JWT issued by kube-apiserver, bound to the pod."""
    pod, token = default_sa_pod["pod"], default_sa_pod["token"]
    with step("Then the pod's API credentials come from a projected volume, not from a Secret volume"):
        vols = {v.name: v for v in pod.spec.volumes}
        access = [v for name, v in vols.items() if name.startswith("kube-api-access-")]
        assert len(access) == 1 and not any(v.secret for v in vols.values()), f"[behaviour-changed] volumes: {list(vols)}"
        sources = access[0].projected.sources
        sat = next(s.service_account_token for s in sources if s.service_account_token)
        assert sat.expiration_seconds == TOKEN_SECONDS and sat.path == "token", sat
        assert any(s.config_map and s.config_map.name == "kube-root-ca.crt" for s in sources), sources
        assert any(s.downward_api for s in sources), sources
    with step("And the namespace holds no service-account-token Secret"):
        assert _token_secrets(cluster, default_sa_pod["ns"]) == []
    with step("And the mounted token is bound to this pod, issued by the API server's issuer"):
        claims = claims_of(token).raw
        bound = claims["kubernetes.io"]
        assert bound["pod"] == {"name": pod.metadata.name, "uid": pod.metadata.uid}, bound
        assert bound["serviceaccount"]["name"] == "default", bound
        issuer = apiserver.get(cluster.api, "/.well-known/openid-configuration").json()["issuer"]
        assert claims["iss"] == issuer, (claims["iss"], issuer)
    with step("And it expires after 3607 s, or after a year with a warnafter at 3607 s (extended expiration)"):
        lifetime = claims["exp"] - claims["iat"]
        assert lifetime == TOKEN_SECONDS or (lifetime == YEAR and bound["warnafter"] - claims["iat"] == TOKEN_SECONDS), claims


@pytest.mark.claim("S000-33")
def test_service_account_tokens_verify_with_the_issuers_public_key(default_sa_pod, cluster):
    """SA tokens are signed with a private key and verified with the public key alone: the API server publishes
    it (JWKS at /openid/v1/jwks, issuer at /.well-known/openid-configuration); no certificate is involved."""
    with step("Given the issuer's published keys and a token requested for the default ServiceAccount"):
        jwks = apiserver.get(cluster.api, "/openid/v1/jwks", accept="application/jwk-set+json").json()
        discovery = apiserver.get(cluster.api, "/.well-known/openid-configuration").json()
        requested = auth.request_token(cluster, default_sa_pod["ns"], "default")
    with step("Then both the pod's token and the requested one verify (RS256) with the published public key"):
        assert discovery["jwks_uri"].endswith("/openid/v1/jwks"), discovery
        for token in (default_sa_pod["token"], requested):
            assert auth.jwt_header(token)["alg"] == "RS256" and auth.jwt_verifies(token, jwks), auth.jwt_header(token)
            assert claims_of(token).raw["iss"] == discovery["issuer"]
    with step("And a token whose payload was altered does not verify (control)"):
        head, payload, sig = requested.split(".")
        forged = auth._b64url(payload).replace(b'"default"', b'"kube-proxy"')
        forged_token = ".".join([head, base64.urlsafe_b64encode(forged).decode().rstrip("="), sig])
        assert not auth.jwt_verifies(forged_token, jwks)
        assert auth.status_of(lambda: auth.whoami(auth.token_client(cluster, forged_token))) == 401


@pytest.mark.claim("S000-33")
@pytest.mark.requires(node_access=True)
def test_the_apiserver_verifies_tokens_with_a_bare_public_key_file(cluster):
    """The service-account key pair is a bare key pair (sa.key / sa.pub), not a certificate: the public key is
    all the API server needs to verify tokens."""
    cp = control_plane(cluster)
    flags = apiserver.static_pod_flags(cluster, "kube-apiserver")
    with step("Then kube-apiserver verifies with sa.pub and signs with sa.key, and sa.pub is a bare public key"):
        assert flags["--service-account-key-file"] == "/etc/kubernetes/pki/sa.pub", flags
        assert flags["--service-account-signing-key-file"] == "/etc/kubernetes/pki/sa.key", flags
        assert node_file(cluster, cp, "/etc/kubernetes/pki/sa.pub").startswith("-----BEGIN PUBLIC KEY-----")
        assert not node_has(cluster, cp, "/etc/kubernetes/pki/sa.crt")
        assert node_has(cluster, cp, "/etc/kubernetes/pki/sa.key"), "control: the probe sees existing files"


@pytest.mark.claim("S002-219")
def test_the_default_service_account_may_read_nothing_in_its_namespace(default_sa_pod, cluster):
    """Claim: a pod without an explicit ServiceAccount uses `default`, which has most permissions. Wrong:
    `default` has no RBAC grants beyond discovery and self-review."""
    api = auth.token_client(cluster, default_sa_pod["token"])
    core, namespace = client.CoreV1Api(api), default_sa_pod["ns"]
    with step("Then its token authenticates and may use discovery (control: the token is valid)"):
        assert auth.whoami(api).username == f"system:serviceaccount:{namespace}:default"
        assert apiserver.get(api, "/api").status == 200
    with step("And it may not list pods, secrets or configmaps even in its own namespace"):
        denied = {what: auth.status_of(call) for what, call in {
            "pods": lambda: core.list_namespaced_pod(namespace),
            "secrets": lambda: core.list_namespaced_secret(namespace),
            "configmaps": lambda: core.list_namespaced_config_map(namespace),
            "get own pod": lambda: core.read_namespaced_pod("plain", namespace)}.items()}
        assert set(denied.values()) == {403}, f"the default ServiceAccount was allowed: {denied}"


@pytest.mark.claim("S002-220")
def test_a_service_account_authenticates_as_system_serviceaccount_with_plural_groups(module_ns, cluster):
    """Username system:serviceaccount:<ns>:<name>; groups system:serviceaccounts and
    system:serviceaccounts:<ns> (plural, not the document's system:serviceaccount:<ns>), plus system:authenticated."""
    module_ns.apply("control_plane/tokens/service-account.yaml", name="who")
    who = auth.whoami(auth.token_client(cluster, auth.request_token(cluster, module_ns.name, "who")))
    with step("Then the user name and the groups are the plural forms"):
        assert who.username == f"system:serviceaccount:{module_ns.name}:who", who
        assert {"system:serviceaccounts", f"system:serviceaccounts:{module_ns.name}", "system:authenticated"} <= set(who.groups), who
        assert f"system:serviceaccount:{module_ns.name}" not in who.groups, who


@pytest.mark.claim("S001-27")
def test_the_documented_token_secret_lookup_finds_nothing_and_a_requested_token_works(module_ns, cluster, timeouts, tmp_path):
    """Claim: after creating a ServiceAccount its token is in the Secret named by .secrets[0]. Since 1.24 no
    Secret is generated: the document's jsonpath yields nothing, and `--serviceaccount=<name>` without a
    namespace is refused by kubectl. A TokenRequest token (`kubectl create token`) authenticates instead."""
    module_ns.apply("control_plane/tokens/service-account.yaml", name="test")
    with step("Then, however long we look, .secrets[0].name is empty"):
        lookup = lambda: cluster.kubectl("-n", module_ns.name, "get", "sa/test", "-o", "jsonpath={.secrets[0].name}").stdout
        consistently(lookup, holds=lambda out: out == "", duration=timeouts.short_hold, desc="no token Secret named")
    with step("And the document's --serviceaccount=test (no namespace) is refused by kubectl"):
        res = cluster.kubectl("create", "clusterrolebinding", "read-all-pods", "--clusterrole=view",
                              "--serviceaccount=test", "--dry-run=client", "-o", "name", check=False)
        assert res.returncode != 0 and "must be <namespace>:<name>" in res.stderr, res
    with step("When a token is requested with kubectl create token"):
        token = cluster.kubectl("-n", module_ns.name, "create", "token", "test", "--duration=10m").stdout.strip()
    with step("Then it authenticates as the ServiceAccount, and is forbidden to read pods before any binding"):
        api = auth.token_client(cluster, token)
        assert auth.whoami(api).username == f"system:serviceaccount:{module_ns.name}:test"
        assert auth.status_of(lambda: client.CoreV1Api(api).list_namespaced_pod(module_ns.name)) == 403
    with step("And after a RoleBinding to the view role reading pods is allowed"):
        module_ns.apply("control_plane/rbac/binding.yaml", name="test-view", role_kind="ClusterRole", role="view",
                        **auth.subject("ServiceAccount", "test"))
        eventually(lambda: auth.status_of(lambda: client.CoreV1Api(api).list_namespaced_pod(module_ns.name)),
                   until=lambda s: s == 200, timeout=timeouts.apply, desc="pods readable with the token")


@pytest.mark.claim("S002-218")
def test_a_service_account_gets_a_token_secret_only_when_one_is_created_by_hand(module_ns, cluster, timeouts):
    """Creating a ServiceAccount no longer creates a token Secret (1.24, GA 1.26); a Secret of type
    kubernetes.io/service-account-token annotated with the SA's name is filled by the token controller."""
    module_ns.apply("control_plane/tokens/service-account.yaml", name="robot")
    with step("Then no token Secret appears and sa.secrets stays empty"):
        consistently(lambda: (_token_secrets(cluster, module_ns.name),
                              cluster.core.read_namespaced_service_account("robot", module_ns.name).secrets),
                     holds=lambda o: not any("robot" in n for n in o[0]) and not o[1], duration=timeouts.short_hold,
                     desc="no auto-created token Secret")
    with step("When a service-account-token Secret naming it is created"):
        module_ns.apply("control_plane/tokens/token-secret.yaml", name="robot-token", service_account="robot")
    with step("Then the controller fills in a token that authenticates as the ServiceAccount"):
        data = eventually(lambda: cluster.core.read_namespaced_secret("robot-token", module_ns.name).data or {},
                          until=lambda d: "token" in d, timeout=timeouts.controller_sync, desc="token filled in")
        token = base64.b64decode(data["token"]).decode()
        assert auth.whoami(auth.token_client(cluster, token)).username == f"system:serviceaccount:{module_ns.name}:robot"
        assert "exp" not in claims_of(token).raw, f"a legacy Secret token does not expire: {json.dumps(claims_of(token).raw)}"
