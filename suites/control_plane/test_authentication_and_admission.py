"""The API server's request path: authentication (x509 client certificates, bearer tokens, anonymous), then
admission (mutating defaults, validating policies) before anything is persisted.

Source: seed 002 «流程» (认证, 准入控制). Upstream: https://kubernetes.io/docs/reference/access-authn-authz/authentication/,
https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/
"""
import secrets

import pytest
from kubernetes import client

from fixtures import apiserver, auth
from fixtures.manifests import render
from fixtures.polling import eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("control-plane")]


@pytest.mark.claim("S002-019")
def test_requests_are_authenticated_by_certificate_or_token_and_the_rest_are_anonymous(ns, cluster):
    """x509 client certificates and bearer tokens authenticate; a request with no credentials is
    system:anonymous: allowed the public info (/version, /healthz), refused resources with 403."""
    anonymous = auth.anonymous_client(cluster)
    with step("Given the admin kubeconfig (a client certificate) and a ServiceAccount token"):
        ns.apply("control_plane/tokens/service-account.yaml", name="caller")
        token = auth.request_token(cluster, ns.name, "caller")
    with step("Then the certificate authenticates as its CN, the token as the ServiceAccount"):
        assert auth.whoami(cluster.api).username == "kubernetes-admin"
        assert auth.whoami(auth.token_client(cluster, token)).username == f"system:serviceaccount:{ns.name}:caller"
    with step("And a request without credentials reaches the public endpoints as system:anonymous"):
        assert apiserver.get(anonymous, "/version").status == 200
        assert apiserver.get(anonymous, "/healthz").status == 200
    with step("And is refused resources with 403 naming system:anonymous (401 would mean anonymous auth is off)"):
        refused = apiserver.get(anonymous, f"/api/v1/namespaces/{ns.name}/pods")
        assert refused.status == 403 and "system:anonymous" in refused.body, refused
    with step("And a wrong token is not anonymous: 401 (control)"):
        assert apiserver.get(auth.token_client(cluster, "not-a-token"), "/version").status == 401


@pytest.mark.claim("S002-023")
def test_admission_defaults_the_pull_policy_and_always_pull_images_is_not_enabled(ns, cluster):
    """Admission runs before persistence; AlwaysPullImages is not among the enabled plugins, so a pod whose
    image has a tag keeps the defaulted imagePullPolicy IfNotPresent (an untagged image gets Always)."""
    core = cluster.core
    with step("Given the API server's enabled admission plugins"):
        plugins = apiserver.static_pod_flags(cluster, "kube-apiserver").get("--enable-admission-plugins", "")
        assert "AlwaysPullImages" not in plugins, plugins
    with step("When pods with image busybox:1.36 and with an untagged busybox are created (server dry run)"):
        tagged = core.create_namespaced_pod(ns.name, render("control_plane/admission/tagged-pod.yaml", name="tagged",
                                                            image="busybox:1.36")[0], dry_run="All")
        untagged = core.create_namespaced_pod(ns.name, render("control_plane/admission/tagged-pod.yaml", name="untagged",
                                                              image="busybox")[0], dry_run="All")
    with step("Then the tagged image keeps IfNotPresent, the untagged one Always (the defaulting is observable)"):
        assert tagged.spec.containers[0].image_pull_policy == "IfNotPresent", tagged.spec.containers[0]
        assert untagged.spec.containers[0].image_pull_policy == "Always", untagged.spec.containers[0]


@pytest.mark.claim("S002-023")
@pytest.mark.requires(min_version="1.30")
def test_an_object_refused_by_admission_is_never_persisted(ns, cluster, cluster_objects, timeouts):
    """A validating admission policy refuses the request inside the API call: the client gets the refusal and
    nothing is stored (a GET finds no object); an object the policy admits is stored (control)."""
    policy = f"kp-deny-label-{secrets.token_hex(3)}"
    core = cluster.core
    denied_body = render("control_plane/admission/labelled-configmap.yaml", name="denied", deny="yes")[0]
    with step("Given a ValidatingAdmissionPolicy refusing configmaps labelled kp-deny, bound to the test namespace"):
        ns.apply("control_plane/admission/validating-policy.yaml", name=policy, group="", resource="configmaps",
                 expression="!has(object.metadata.labels) || !('kp-deny' in object.metadata.labels)")
        cluster_objects.track("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding", policy)
        cluster_objects.track("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", policy)
        eventually(lambda: auth.status_of(lambda: core.create_namespaced_config_map(ns.name, denied_body, dry_run="All")),
                   until=lambda s: s in (403, 422), timeout=timeouts.controller_sync, desc="the policy is in force")
    with step("When a labelled configmap is created"):
        status = auth.status_of(lambda: core.create_namespaced_config_map(ns.name, denied_body))
    with step("Then the request is refused and no object was persisted"):
        assert status in (403, 422), status
        assert auth.status_of(lambda: core.read_namespaced_config_map("denied", ns.name)) == 404
    with step("And an unlabelled configmap is admitted and stored (control)"):
        ns.apply("control_plane/rbac/configmap.yaml", name="plain")
        assert auth.status_of(lambda: core.read_namespaced_config_map("plain", ns.name)) == 200
