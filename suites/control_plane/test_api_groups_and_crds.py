"""The declarative API's shape: groups, versions and resource paths served (and removed), CustomResourceDefinitions
(v1 only, since 1.22), admission before persistence for custom resources, the `all` category, kubectl's
discovery cache.

Source: seed 002 «工作原理», «Operator 与 控制器原理», «Client-Go», «常用命令»; seed 001, 2021-04-05~11 › k8s get all.
Upstream: https://kubernetes.io/docs/reference/using-api/, https://kubernetes.io/docs/reference/using-api/deprecation-guide/
"""
import secrets
from pathlib import Path

import pytest

from fixtures import apiserver, auth
from fixtures.manifests import render
from fixtures.polling import eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("control-plane")]

# the built-in members of the `all` category, as discovery lists them
ALL_CATEGORY = {"pods", "replicationcontrollers", "services", "daemonsets.apps", "deployments.apps", "replicasets.apps",
                "statefulsets.apps", "horizontalpodautoscalers.autoscaling", "cronjobs.batch", "jobs.batch"}


@pytest.mark.claim("S002-165")
def test_the_documents_v1beta1_crd_is_refused_and_its_v1_form_serves_the_resource(ns, cluster, network_crd):
    """Claim: a CRD is written as apiextensions.k8s.io/v1beta1. Changed: v1beta1 was removed in 1.22; the same
    CRD in v1 (versions[], schema) serves /apis/<group>/v1/namespaces/*/networks once Established, and a Network
    whose apiVersion names a version the CRD does not define is refused (404). The document's group samplecrd.k8s.io
    is now protected (*.k8s.io needs the api-approved.kubernetes.io annotation), so the test uses its own group."""
    group = f"kp{secrets.token_hex(3)}.samplecrd.k8s.io"  # the document's group, under k8s.io
    with step("When the document's v1beta1 CRD is posted"):
        refused = apiserver.post(cluster.api, render("control_plane/crds/network-crd-v1beta1.yaml", group=group)[0])
    with step("Then apiextensions.k8s.io/v1beta1 does not exist (404), while v1 is served (control)"):
        assert refused.status == 404, refused
        assert apiserver.get(cluster.api, "/apis/apiextensions.k8s.io/v1beta1").status == 404
        assert apiserver.get(cluster.api, "/apis/apiextensions.k8s.io/v1").status == 200
    with step("And rewritten as v1 but kept in the document's *.k8s.io group it is refused: that group is protected"):
        protected = apiserver.post(cluster.api, render("control_plane/crds/network-crd.yaml", group=group, category="kubeproof")[0],
                                   query=[("dryRun", "All")])
        assert protected.status == 422 and "api-approved.kubernetes.io" in protected.body, protected
    with step("When the CRD is rewritten as v1 in a group of our own"):
        crd = network_crd()
        group = crd.group
    with step("Then the document's Network can be created and read at its path"):
        created = apiserver.post(cluster.api, crd.object("v1", "example-network", "192.168.0.0/16"), ns.name)
        assert created.status == 201, created
        assert apiserver.get(cluster.api, f"/apis/{group}/v1/namespaces/{ns.name}/networks/example-network").status == 200
    with step("And a Network naming an undefined version (v3) is refused with 404"):
        assert apiserver.post(cluster.api, crd.object("v3", "wrong", "10.0.0.0/8"), ns.name).status == 404


@pytest.mark.claim("S002-166")
@pytest.mark.requires(min_version="1.30")
def test_admission_refuses_a_custom_resource_inside_the_request_before_any_controller_sees_it(
        ns, cluster, cluster_objects, timeouts, network_crd):
    """Admission (mutating -> schema validation -> validating) runs synchronously in the API request: a Network
    refused by a validating policy is answered with the refusal and never stored, so no controller could see it."""
    crd = network_crd()
    group = crd.group
    policy = f"kp-network-cidr-{secrets.token_hex(3)}"
    bad = crd.object("v1", "outside", "192.168.0.0/16")
    with step("Given a ValidatingAdmissionPolicy admitting only 10.x CIDRs for networks in the test namespace"):
        ns.apply("control_plane/admission/validating-policy.yaml", name=policy, group=group, resource="networks",
                 expression="object.spec.cidr.startsWith('10.')")
        cluster_objects.track("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding", policy)
        cluster_objects.track("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", policy)
        eventually(lambda: apiserver.post(cluster.api, bad, ns.name, query=[("dryRun", "All")]).status,
                   until=lambda s: s in (403, 422), timeout=timeouts.controller_sync, desc="policy in force")
    with step("When a Network with 192.168.0.0/16 is created"):
        answer = apiserver.post(cluster.api, bad, ns.name)
    with step("Then the request itself is refused with the policy's message, and nothing is stored"):
        assert answer.status in (403, 422) and policy in answer.body, answer
        listed = apiserver.get(cluster.api, f"/apis/{group}/v1/namespaces/{ns.name}/networks").json()["items"]
        assert listed == [], listed
    with step("And a Network with 10.1.0.0/16 is admitted and stored (control)"):
        assert apiserver.post(cluster.api, crd.object("v1", "inside", "10.1.0.0/16"), ns.name).status == 201


@pytest.mark.claim("S002-223")
def test_resources_live_under_api_v1_or_apis_group_version_with_plural_names(ns, cluster):
    """Core resources are served under /api/v1 (the group-less core group), others under /apis/<group>/<version>,
    by plural resource name; discovery lists each group's preferred version. The document's /apis/app/v1 does not
    exist (the group is apps)."""
    with step("Then the core group is at /api with version v1, and apps prefers v1 in /apis"):
        assert apiserver.get(cluster.api, "/api").json()["versions"] == ["v1"]
        groups = {g["name"]: g for g in apiserver.get(cluster.api, "/apis").json()["groups"]}
        assert groups["apps"]["preferredVersion"]["groupVersion"] == "apps/v1", groups["apps"]
    with step("And apps/v1 lists the plural resource deployments, namespaced"):
        resources = {r["name"]: r for r in apiserver.get(cluster.api, "/apis/apps/v1").json()["resources"]}
        assert resources["deployments"]["namespaced"] and resources["deployments"]["kind"] == "Deployment"
    with step("And the paths answer: pods in the core group, deployments in apps, not the other way round"):
        assert apiserver.get(cluster.api, f"/api/v1/namespaces/{ns.name}/pods").status == 200
        assert apiserver.get(cluster.api, f"/apis/apps/v1/namespaces/{ns.name}/deployments").status == 200
        assert apiserver.get(cluster.api, f"/api/v1/namespaces/{ns.name}/deployments").status == 404
        assert apiserver.get(cluster.api, "/apis/app/v1").status == 404


@pytest.mark.claim("S002-226")
def test_cronjob_is_served_as_batch_v1_and_batch_v2alpha1_is_gone(ns, cluster):
    """Claim: CronJob is batch/v2alpha1. Changed: v2alpha1 was removed (1.21); CronJob is batch/v1 (GA 1.21)."""
    batch = apiserver.get(cluster.api, "/apis/batch").json()
    assert [v["version"] for v in batch["versions"]] == ["v1"], batch
    assert apiserver.get(cluster.api, "/apis/batch/v2alpha1").status == 404
    assert apiserver.get(cluster.api, f"/apis/batch/v2alpha1/namespaces/{ns.name}/cronjobs").status == 404
    assert apiserver.get(cluster.api, f"/apis/batch/v1/namespaces/{ns.name}/cronjobs").status == 200


def _all_category(cluster) -> set[str]:
    out = set()
    for gv in ["v1"] + [v["groupVersion"] for g in apiserver.get(cluster.api, "/apis").json()["groups"]
                        for v in g["versions"] if v["groupVersion"] == g["preferredVersion"]["groupVersion"]]:
        answer = apiserver.get(cluster.api, "/api/v1" if gv == "v1" else f"/apis/{gv}")
        if answer.status != 200:  # a group going away meanwhile (another test's CRD)
            continue
        doc = answer.json()
        group = gv.split("/")[0] if "/" in gv else ""
        out |= {r["name"] + (f".{group}" if group else "") for r in doc["resources"]
                if "all" in (r.get("categories") or []) and "/" not in r["name"]}
    return out


@pytest.mark.claim("S001-24", "S002-233")
@pytest.mark.requires(images=["agnhost"])
def test_get_all_means_the_all_category_which_a_crd_can_join(ns, cluster, network_crd, tmp_path):
    """`kubectl get all` shows the `all` category, not all resources: pods, services, replicationcontrollers,
    deployments, replicasets, statefulsets, daemonsets, jobs, cronjobs, HPAs. A CRD joins it with
    spec.names.categories: [all]; `delete all --all` leaves ConfigMaps, Secrets, PVCs, Ingresses, SAs, Roles."""
    crd = network_crd(category="all")
    group = crd.group
    with step("Then discovery lists exactly the ten built-in members of `all`, plus the CRD"):
        assert _all_category(cluster) - {f"networks.{group}"} == ALL_CATEGORY, _all_category(cluster)
        assert f"networks.{group}" in _all_category(cluster)
    with step("Given one object of kinds in and out of the category, and a Network"):
        ns.apply("control_plane/crds/all-kinds.yaml")
        assert apiserver.post(cluster.api, crd.object("v1", "net", "10.0.0.0/8"), ns.name).status == 201
    with step("When kubectl get all lists the namespace"):
        # a fresh discovery cache: a cached one predates the CRD and expands `all` without it
        listed = cluster.kubectl(f"--cache-dir={tmp_path}", "get", "all", "-n", ns.name, "-o", "name").stdout.split()
    with step("Then it shows the pod, service, deployment and the Network, and no configmap or secret"):
        assert {"pod/pod", "service/svc", "deployment.apps/deploy", f"network.{group}/net"} <= set(listed), listed
        assert not [n for n in listed if n.startswith(("configmap/", "secret/", "serviceaccount/", "persistentvolumeclaim/"))]
    with step("When kubectl delete all --all runs in the namespace"):
        # the same fresh cache: the default one may hold another run's CRDs (a reused or upgraded cluster
        # keeps its address), and kubectl fails on a member of `all` the server no longer has
        cluster.kubectl(f"--cache-dir={tmp_path}", "delete", "all", "--all", "-n", ns.name, "--wait=false")
    with step("Then the objects outside the category remain"):
        left = set(cluster.kubectl("get", "configmap/cm", "secret/secret", "serviceaccount/sa", "role/role",
                                   "persistentvolumeclaim/pvc", "ingress/ing", "-n", ns.name, "-o", "name").stdout.split())
        assert len(left) == 6, left
        assert auth.status_of(lambda: cluster.core.read_namespaced_service("svc", ns.name)) == 404


@pytest.mark.claim("S002-167")
def test_kubectl_caches_discovery_and_http_responses_in_its_cache_dir(cluster, tmp_path):
    """kubectl caches discovery documents under <cache-dir>/discovery/<host_port>/ (~/.kube/cache by default)
    and HTTP responses under <cache-dir>/http."""
    cache = tmp_path / "cache"
    with step("When kubectl lists the API resources with an empty cache directory"):
        cluster.kubectl(f"--cache-dir={cache}", "api-resources", "-o", "name")
    with step("Then discovery documents were written per server and group version"):
        servers = [p for p in (cache / "discovery").iterdir() if p.is_dir()]
        assert len(servers) == 1, list((cache / "discovery").iterdir())
        files = {str(p.relative_to(servers[0])) for p in servers[0].rglob("*.json")}
        assert "servergroups.json" in files and "apps/v1/serverresources.json" in files, sorted(files)[:20]
        host = cluster.api.configuration.host.split("//", 1)[1].replace(":", "_")
        assert servers[0].name == host, (servers[0].name, host)
    with step("And an http cache directory exists beside it"):
        assert Path(cache / "http").is_dir()
