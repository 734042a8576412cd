"""Istio's CRDs, API versions, short names and control plane, as the documents use them (seeds 000 and 002).

The documents write networking.istio.io/v1alpha3 and talk to istio-pilot / Galley; today v1 is GA
(Istio 1.22), v1alpha3 is still served, and istiod is the one control-plane Deployment.
"""
import base64

import pytest
from kubernetes import client

from fixtures.addons.dry_run import dry_run_apply
from fixtures.addons.istio import NAMESPACE
from fixtures.polling import eventually, retry_not_found
from fixtures.reporting import step

pytestmark = [pytest.mark.area("istio"), pytest.mark.requires(istio=True)]


def _crd(cluster, name: str):
    return client.ApiextensionsV1Api(cluster.api).read_custom_resource_definition(name)


@pytest.mark.claim("S000-02")
@pytest.mark.parametrize("kind", ["virtualservices", "destinationrules", "gateways", "serviceentries"])
def test_networking_api_is_served_at_v1_and_still_at_v1alpha3_when_istio_crds_are_installed(cluster, istio, kind):
    """The document's v1alpha3 is still served beside v1 and v1beta1, none of them deprecated; v1 is stored."""
    with step(f"Given the CRD {kind}.networking.istio.io"):
        crd = _crd(cluster, f"{kind}.networking.istio.io")
        served = {v.name: v for v in crd.spec.versions if v.served}
    with step("Then v1, v1beta1 and v1alpha3 are served and not deprecated"):
        assert {"v1", "v1beta1", "v1alpha3"} <= set(served), sorted(served)
        assert not [n for n, v in served.items() if v.deprecated], {n: v.deprecated for n, v in served.items()}
    with step("And the storage version is v1 (since Istio 1.27; v1beta1 before)"):
        storage = [v.name for v in crd.spec.versions if v.storage]
        assert storage == (["v1"] if istio.minor >= (1, 27) else ["v1beta1"]), storage


@pytest.mark.claim("S000-02")
def test_v1alpha3_object_reads_back_as_v1_when_written_at_the_documents_version(mesh_ns, cluster):
    """An object written at v1alpha3 (the document's version) is the same object read at v1."""
    with step("When a VirtualService is applied at networking.istio.io/v1alpha3"):
        mesh_ns.apply("istio/validation/vs-v1alpha3.yaml", name="old-api")
    with step("Then reading it at v1 returns the same spec"):
        got = cluster.dynamic.resources.get(api_version="networking.istio.io/v1", kind="VirtualService").get(
            name="old-api", namespace=mesh_ns.name)
        assert got.apiVersion == "networking.istio.io/v1" and list(got.spec.hosts) == ["old-api"], got.to_dict()


@pytest.mark.claim("S000-03")
@pytest.mark.parametrize("short, plural", [("vs", "virtualservices"), ("dr", "destinationrules"),
                                            ("gw", "gateways"), ("se", "serviceentries")])
def test_short_name_resolves_to_the_istio_kind_when_used_with_kubectl(mesh_ns, cluster, short, plural):
    """kubectl short names vs, dr, gw and se resolve to Istio's networking CRDs."""
    with step(f"Given the CRD {plural}.networking.istio.io declares short name {short}"):
        assert short in (_crd(cluster, f"{plural}.networking.istio.io").spec.names.short_names or [])
    with step(f"Then `kubectl get {short}` resolves it (empty list, exit 0)"):
        out = cluster.kubectl("get", short, "-n", mesh_ns.name, "-o", "name", check=False)
        assert out.returncode == 0, out.stderr


@pytest.mark.claim("S002-251")
def test_invalid_virtualservice_is_denied_by_istiod_when_the_validation_webhook_serves(mesh_ns, cluster):
    """Galley's validation now lives in istiod: a schema-valid but semantically invalid VirtualService is denied."""
    with step("When a VirtualService with hosts ['*'] bound to the mesh is applied (server dry-run)"):
        got = dry_run_apply(cluster, "istio/validation/vs-wildcard-mesh.yaml", mesh_ns.name, name="wildcard")
    with step("Then istiod's validation webhook denies it, naming the rule"):
        assert not got.accepted and "validation.istio.io" in got.error and "wildcard host * is not allowed" in got.error, got


def test_port_level_mtls_without_selector_is_rejected_by_the_api_server_when_applied(mesh_ns, cluster):
    """PeerAuthentication portLevelMtls needs a workload selector: the CRD's CEL rule refuses it before any webhook.
    (An acceptance check of the API, no claim: S002-270's mTLS modes are proven by traffic in test_headless_mtls.)"""
    with step("When a namespace-wide PeerAuthentication with portLevelMtls is applied (server dry-run)"):
        got = dry_run_apply(cluster, "istio/validation/pa-portlevel-no-selector.yaml", mesh_ns.name, name="port-level")
    with step("Then the API server rejects it with the CRD's message"):
        assert not got.accepted and "portLevelMtls requires selector" in got.error, got


@pytest.mark.claim("S002-247", "S002-273")
def test_istiod_is_the_only_control_plane_deployment_when_istio_is_installed(cluster, istio):
    """Pilot, Citadel and Galley merged into istiod (1.5), Mixer is gone (1.8): no istio-pilot Service to port-forward."""
    with step("Given the control-plane namespace"):
        deployments = sorted(d.metadata.name for d in cluster.apps.list_namespaced_deployment(NAMESPACE).items)
        services = {s.metadata.name: s for s in cluster.core.list_namespaced_service(NAMESPACE).items}
    with step("Then istiod is there and none of istio-pilot, -citadel, -galley, -policy, -telemetry"):
        assert "istiod" in deployments if istio.revision == "default" else any(d.startswith("istiod") for d in deployments)
        legacy = {"istio-pilot", "istio-citadel", "istio-galley", "istio-policy", "istio-telemetry"}
        assert not legacy & (set(deployments) | set(services)), (deployments, sorted(services))
    with step("And the debug endpoints the document reached on istio-pilot are on Service istiod port 15014"):
        assert 15014 in [p.port for p in services["istiod"].spec.ports], services["istiod"].spec.ports


@pytest.mark.claim("S002-250")
def test_istiods_ca_root_is_published_into_every_namespace_when_istio_runs(mesh_ns, cluster, timeouts, istio):
    """Citadel's job is istiod's now: its CA root certificate is distributed as ConfigMap istio-ca-root-cert into each namespace."""
    with step("Given istiod's CA root: a plugged-in Secret cacerts, else its self-signed istio-ca-secret"):
        secrets = {s.metadata.name: s for s in cluster.core.list_namespaced_secret(NAMESPACE).items}
        source, key = ("cacerts", "root-cert.pem") if "cacerts" in secrets else ("istio-ca-secret", "ca-cert.pem")
        root = base64.b64decode(secrets[source].data[key]).decode()
    with step("Then a fresh namespace gets ConfigMap istio-ca-root-cert holding that same root"):
        cm = eventually(retry_not_found(lambda: cluster.core.read_namespaced_config_map("istio-ca-root-cert", mesh_ns.name)),
                        timeout=timeouts.controller_sync, desc="istio-ca-root-cert in the test namespace")
        assert (cm.data or {}).get("root-cert.pem", "").strip() == root.strip(), (cm.data or {}).keys()
