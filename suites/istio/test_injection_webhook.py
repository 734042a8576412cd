"""Sidecar injection is a synchronous mutating admission webhook (seed 002 「sidecar injector」, 「自动注入实现」).

Seed 002 describes injection by an Initializer (envoy-initializer, a controller looping over new pods);
Initializers were removed in Kubernetes 1.14 and Istio injects inside the create request instead.
"""
import pytest
import yaml
from kubernetes.client import ApiException

from fixtures.addons.istio import INJECTION_LABEL, NAMESPACE
from fixtures.addons.istio_client import client_tools, istioctl
from fixtures.addons.istio_layout import layout
from fixtures.manifests import render
from fixtures.polling import consistently
from fixtures.reporting import step

pytestmark = [pytest.mark.area("istio"), pytest.mark.requires(istio=True, images=["busybox"])]


@pytest.mark.claim("S002-255", "S002-252")
def test_create_response_already_carries_the_sidecar_when_the_namespace_is_labelled(mesh_ns, cluster):
    """The POST that creates a pod returns it already injected: a webhook, not an initializer loop, does it."""
    with step("Given the injection webhook configuration and no Initializer API"):
        webhooks = cluster.kubectl("get", "mutatingwebhookconfigurations", "-o", "name").stdout.split()
        assert "mutatingwebhookconfiguration.admissionregistration.k8s.io/istio-revision-tag-default" in webhooks, webhooks
        resources = cluster.kubectl("api-resources", "--api-group=admissionregistration.k8s.io", "-o", "name").stdout.split()
        assert not [r for r in resources if r.startswith("initializerconfigurations")], resources
    with step("When a pod is created in the labelled namespace"):
        created = mesh_ns.apply("istio/injection/pod.yaml", name="sync")[0].to_dict()
    with step("Then the create response itself contains istio-proxy and the injection status annotation"):
        got = layout(created)
        assert got.proxy_where != "absent", got
        assert got.status.get("revision"), got.annotations
    with step("And the template the webhook renders lives in ConfigMap istio-system/istio-sidecar-injector"):
        cm = cluster.core.read_namespaced_config_map("istio-sidecar-injector", NAMESPACE)
        assert {"config", "values"} <= set(cm.data or {}), sorted(cm.data or {})


@pytest.mark.claim("S002-252")
@pytest.mark.parametrize("form", ["label", "annotation"])
def test_pod_is_not_injected_when_marked_sidecar_inject_false(mesh_ns, form):
    """sidecar.istio.io/inject: "false" opts a pod out inside an injected namespace: as a label (preferred) or, still, as an annotation."""
    manifest = "pod-opt-out.yaml" if form == "label" else "pod-opt-out-annotation.yaml"
    with step(f"Given an injection-labelled namespace, when a pod with the inject=false {form} is created"):
        got = layout(mesh_ns.apply(f"istio/injection/{manifest}", name=f"optout-{form}")[0].to_dict())
    with step("Then it has no istio-proxy and no traffic-capture init container"):
        assert got.proxy_where == "absent" and got.init == [] and not got.status, got


@pytest.mark.claim("S002-252")
def test_existing_pod_is_not_mutated_when_its_namespace_is_labelled_later(mesh_ns, cluster, timeouts):
    """Injection happens only at pod creation: labelling a namespace leaves running pods plain until recreated."""
    with step("Given a namespace without the injection label and a pod created there"):
        cluster.core.patch_namespace(mesh_ns.name, {"metadata": {"labels": {INJECTION_LABEL: None}}})
        pod = layout(mesh_ns.apply("istio/injection/pod.yaml", name="before")[0].to_dict())
        assert pod.proxy_where == "absent", pod
    with step("When the namespace is labelled istio-injection=enabled"):
        cluster.core.patch_namespace(mesh_ns.name, {"metadata": {"labels": {INJECTION_LABEL: "enabled"}}})
    with step("Then the existing pod stays without a sidecar"):
        consistently(lambda: layout(cluster.core.read_namespaced_pod("before", mesh_ns.name)).proxy_where,
                     holds=lambda where: where == "absent", duration=timeouts.short_hold,
                     desc="pre-existing pod stays uninjected")
    with step("And a pod created now is injected"):
        assert layout(mesh_ns.apply("istio/injection/pod.yaml", name="after")[0].to_dict()).proxy_where != "absent"


@pytest.mark.claim("S002-252")
def test_pod_is_refused_at_admission_when_its_interception_mode_annotation_is_invalid(mesh_ns):
    """The injector validates its annotations: an unknown interception mode makes the webhook deny the pod."""
    with step("When a pod annotated sidecar.istio.io/interceptionMode: BOGUS is created"):
        with pytest.raises(ApiException) as denied:
            mesh_ns.apply("istio/injection/pod-bad-annotation.yaml", name="bogus", mode="BOGUS")
    with step("Then the API server answers with the webhook's denial naming the annotation"):
        body = str(denied.value.body)
        assert "sidecar-injector.istio.io" in body and "interceptionMode" in body, body[:800]


@pytest.mark.claim("S000-04")
def test_kube_inject_by_hand_gives_the_webhooks_layout_when_run_against_the_cluster(mesh_ns, cluster, images, tmp_path, timeouts):
    """`istioctl kube-inject` renders the same template and mesh config as the webhook: the same containers, in the same places."""
    with step("Given the same plain pod, injected once by hand with istioctl kube-inject"):
        pod = render("istio/injection/pod.yaml", name="by-hand", **{f"image_{r}": ref for r, ref in images.items()})[0]
        pod["metadata"]["namespace"] = mesh_ns.name
        (tmp_path / "pod.yaml").write_text(yaml.safe_dump(pod))
        out = istioctl(client_tools(), cluster, "kube-inject", "-f", str(tmp_path / "pod.yaml"), timeout=timeouts.controller_sync).stdout
        by_hand = layout(next(d for d in yaml.safe_load_all(out) if d))
    with step("And once by the webhook, at creation"):
        by_webhook = layout(mesh_ns.apply("istio/injection/pod.yaml", name="by-webhook")[0].to_dict())
    with step("Then both put istio-proxy and the init containers in the same places"):
        assert (by_hand.init, by_hand.containers, by_hand.proxy_where) == (by_webhook.init, by_webhook.containers, by_webhook.proxy_where), \
            (by_hand, by_webhook)
