"""Service-account tokens: the automatic mount and what the token in it is today.

Seed 002 › Pod中的Projected Volume › serviceAccountToken: "a special Secret ... the default Service Account
... mounted without being declared, at /var/run/secrets/kubernetes.io/serviceaccount with ca.crt, namespace,
token". The mount still holds; the token is no longer a Secret: since 1.22 it is a bound, time-limited JWT
from the TokenRequest API in a projected volume, and since 1.24 no token Secrets are generated.
Source: https://kubernetes.io/docs/concepts/security/service-accounts/,
https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/
"""
import pytest

from fixtures.podexec import exec_in, read_file
from fixtures.pods import is_ready, wait_pod
from fixtures.reporting import step
from fixtures.tokens import claims_of

pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(images=["busybox"]),
              pytest.mark.xdist_group("pods-service-account-tokens")]

MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_REQUEST_SECONDS = 3607  # what the API server's ServiceAccount admission asks the kubelet to request
ONE_YEAR = 365 * 24 * 3600  # --service-account-extend-token-expiration (default true) stretches 3607 s tokens to this


@pytest.fixture(scope="module")
def pods(module_ns, cluster, timeouts):
    with step("Given two pods naming no ServiceAccount, one with automountServiceAccountToken: false"):
        module_ns.apply("pods/service-account/pods.yaml")
        for name in ("defaults", "opted-out"):
            wait_pod(cluster, module_ns.name, name, is_ready, timeouts)
    return module_ns


def _api_access_volume(pod):
    return [v for v in pod.spec.volumes or [] if v.name.startswith("kube-api-access-")]


@pytest.mark.claim("S002-092")
def test_pod_gets_the_default_service_account_and_its_token_ca_and_namespace_without_declaring_them(pods, cluster):
    """A pod that declares nothing runs as ServiceAccount `default` and finds ca.crt, namespace and token under
    /var/run/secrets/kubernetes.io/serviceaccount, from a projected `kube-api-access-*` volume the API server added."""
    ns = pods.name
    pod = cluster.core.read_namespaced_pod("defaults", ns)
    with step("Then the API server set serviceAccountName: default (the namespace's own `default` account)"):
        assert pod.spec.service_account_name == "default"
        cluster.core.read_namespaced_service_account("default", ns)
    with step("And added a projected volume of a 3607 s token, the kube-root-ca.crt ConfigMap and the namespace"):
        volumes = _api_access_volume(pod)
        assert len(volumes) == 1, [v.name for v in pod.spec.volumes]
        sources = volumes[0].projected.sources
        token = [s.service_account_token for s in sources if s.service_account_token]
        assert [(t.path, t.expiration_seconds) for t in token] == [("token", DEFAULT_REQUEST_SECONDS)], token
        assert [s.config_map.name for s in sources if s.config_map] == ["kube-root-ca.crt"]
        assert [i.field_ref.field_path for s in sources if s.downward_api for i in s.downward_api.items] == ["metadata.namespace"]
        mounts = {m.mount_path: m.name for m in pod.spec.containers[0].volume_mounts}
        assert mounts.get(MOUNT) == volumes[0].name, mounts
    with step("And the container reads ca.crt, namespace and token there: the namespace file names its namespace"):
        out = exec_in(cluster, ns, "defaults", "app", ["ls", "-1", MOUNT])
        assert sorted(out.stdout.split()) == ["ca.crt", "namespace", "token"], out
        assert read_file(cluster, ns, "defaults", "app", f"{MOUNT}/namespace") == ns
        root_ca = cluster.core.read_namespaced_config_map("kube-root-ca.crt", ns).data["ca.crt"]
        assert read_file(cluster, ns, "defaults", "app", f"{MOUNT}/ca.crt") == root_ca


@pytest.mark.claim("S002-092")
def test_pod_with_automount_disabled_gets_no_token_volume(pods, cluster):
    """With automountServiceAccountToken: false the API server adds no volume and the path does not exist."""
    pod = cluster.core.read_namespaced_pod("opted-out", pods.name)
    with step("Then the opted-out pod has no kube-api-access volume and no serviceaccount directory"):
        assert _api_access_volume(pod) == [], [v.name for v in pod.spec.volumes or []]
        out = exec_in(cluster, pods.name, "opted-out", "app", ["ls", MOUNT])
        assert out.returncode != 0, f"{MOUNT} exists without automount: {out.stdout}"


@pytest.mark.claim("S002-093")
def test_mounted_token_is_a_jwt_bound_to_the_pod_and_the_api_server_audience(pods, cluster):
    """The document calls the token "a special Secret". Today the mounted token is a JWT issued by the
    TokenRequest API, bound to this pod (name and uid in its claims), for the API server's audience,
    with an expiry: requested for 3607 s, extended to a year with a warn-after mark at 3607 s."""
    ns = pods.name
    pod = cluster.core.read_namespaced_pod("defaults", ns)
    with step("When the app reads its token"):
        claims = claims_of(read_file(cluster, ns, "defaults", "app", f"{MOUNT}/token"))
    with step("Then its claims bind it to this pod, in this namespace, as ServiceAccount default"):
        assert claims.bound("pod") == {"name": "defaults", "uid": pod.metadata.uid}, claims.raw
        assert (claims.namespace, claims.service_account) == (ns, "default"), claims.raw
    with step("And its audience is the API server's own (the issuer), and it expires"):
        assert claims.raw["iss"] in claims.audiences, claims.raw
        assert claims.warn_after == DEFAULT_REQUEST_SECONDS, claims.raw
        assert claims.lifetime == ONE_YEAR, f"exp - iat = {claims.lifetime}: {claims.raw}"


@pytest.mark.claim("S002-093")
@pytest.mark.requires(min_version="1.24")
def test_no_token_secret_is_generated_for_a_service_account_since_1_24(pods, cluster):
    """Since 1.24 (LegacyServiceAccountTokenNoAutoGeneration) a ServiceAccount gets no token Secret: the
    mounted token is not a Secret at all."""
    ns = pods.name
    with step("Then the namespace holds no service-account-token Secret and `default` lists none"):
        secrets = cluster.core.list_namespaced_secret(ns, field_selector="type=kubernetes.io/service-account-token").items
        assert secrets == [], [s.metadata.name for s in secrets]
        assert not cluster.core.read_namespaced_service_account("default", ns).secrets


@pytest.mark.claim("S002-093")
def test_token_request_with_a_duration_gives_a_token_living_exactly_that_long(pods, cluster):
    """`kubectl create token default --duration=10m` (TokenRequest) returns a JWT with exp - iat == 600 s,
    for the ServiceAccount, not bound to any pod."""
    with step("When a 10-minute token is requested for `default`"):
        token = cluster.kubectl("create", "token", "default", "--duration=10m", "-n", pods.name).stdout
    with step("Then it lives exactly 600 s and names the ServiceAccount, with no pod binding"):
        claims = claims_of(token)
        assert claims.lifetime == 600 and claims.warn_after is None, claims.raw
        assert (claims.namespace, claims.service_account, claims.bound("pod")) == (pods.name, "default", {}), claims.raw
