"""How the API server lays objects out in etcd: keys /registry/<resource>/<namespace>/<name> (no namespace for
cluster-scoped objects, the group in custom resources' keys), built-ins as protobuf and custom resources as
JSON, always in the resource's storage version whatever version the client wrote.

Read with etcdctl inside the etcd static pod (exec through the API, kubeadm's etcd client certificates).
Source: seed 002 «资源存储格式», «工作原理». Upstream: https://kubernetes.io/docs/tasks/administer-cluster/configure-upgrade-etcd/,
https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definition-versioning/
"""
import json

import pytest
from kubernetes import client

from fixtures import apiserver, etcd
from fixtures.manifests import render
from fixtures.reporting import step

pytestmark = [pytest.mark.area("control-plane")]


@pytest.mark.claim("S002-060")
@pytest.mark.requires(images=["agnhost"])
def test_objects_are_stored_under_registry_resource_namespace_name(ns, cluster, network_crd):
    """Key = /registry + / resource + / namespace + / name: a pod at /registry/pods/<ns>/<name>; a cluster-scoped
    namespace at /registry/namespaces/<name>; a custom resource at /registry/<group>/<plural>/<ns>/<name>.
    Built-ins are stored as protobuf (k8s\\0 prefix), custom resources as JSON."""
    crd = network_crd()
    with step("Given a pod and a Network in the test namespace"):
        ns.apply("control_plane/lifecycle/pod.yaml", name="foo", scheduler="kubeproof-nobody")
        assert apiserver.post(cluster.api, crd.object("v1", "foo", "10.0.0.0/8"), ns.name).status == 201
    with step("Then the pod is at /registry/pods/<ns>/foo, as protobuf naming it"):
        pod = etcd.stored(cluster, f"/registry/pods/{ns.name}/foo")
        assert pod is not None and pod.startswith(etcd.PROTOBUF_MAGIC) and b"foo" in pod, pod[:64] if pod else pod
        assert etcd.stored(cluster, "/registry/pods/foo") is None, "control: a key without the namespace holds nothing"
    with step("And the namespace (cluster-scoped) is at /registry/namespaces/<name>"):
        assert etcd.stored(cluster, f"/registry/namespaces/{ns.name}") is not None
    with step("And the custom resource is JSON at /registry/<group>/networks/<ns>/foo"):
        cr = etcd.stored(cluster, f"/registry/{crd.group}/networks/{ns.name}/foo")
        assert cr is not None and json.loads(cr)["spec"]["cidr"] == "10.0.0.0/8", cr


@pytest.mark.claim("S002-224")
def test_a_custom_resource_written_as_v2_is_stored_as_the_storage_version_v1(ns, cluster, network_crd):
    """One storage version per resource: a Network created through the served v2 is stored as v1 (the storage
    version); with conversion None reading it through either version only rewrites apiVersion;
    status.storedVersions lists v1 only."""
    crd = network_crd()
    with step("When a Network is created through v2"):
        assert apiserver.post(cluster.api, crd.object("v2", "via-v2", "10.0.0.0/8"), ns.name).status == 201
    with step("Then etcd holds it as v1"):
        stored = json.loads(etcd.stored(cluster, f"/registry/{crd.group}/networks/{ns.name}/via-v2"))
        assert stored["apiVersion"] == f"{crd.group}/v1", stored
    with step("And reading through v1 and v2 returns the same object under each apiVersion"):
        for version in ("v1", "v2"):
            got = apiserver.get(cluster.api, f"/apis/{crd.group}/{version}/namespaces/{ns.name}/networks/via-v2").json()
            assert got["apiVersion"] == f"{crd.group}/{version}" and got["spec"] == stored["spec"], got
    with step("And the CRD records v1 as the only stored version"):
        status = client.ApiextensionsV1Api(cluster.api).read_custom_resource_definition(f"networks.{crd.group}").status
        assert status.stored_versions == ["v1"], status.stored_versions


@pytest.mark.claim("S002-225")
def test_an_object_is_persisted_in_the_storage_version_not_the_version_the_client_sent(ns, cluster):
    """Claim: the API server converts the object back to the version the user submitted and stores that. Wrong:
    it stores the resource's storage version; an HPA posted as autoscaling/v1 is stored as autoscaling/v2."""
    with step("When an HPA is created through autoscaling/v1"):
        answer = apiserver.post(cluster.api, render("control_plane/crds/hpa-v1.yaml", name="scaler")[0], ns.name,
                                plural="horizontalpodautoscalers")
        assert answer.status == 201 and answer.json()["apiVersion"] == "autoscaling/v1", answer
    with step("Then etcd holds it as autoscaling/v2, not v1 (only managedFields remember the v1 request)"):
        raw = etcd.stored(cluster, f"/registry/horizontalpodautoscalers/{ns.name}/scaler")
        assert etcd.type_meta(raw) == ("autoscaling/v2", "HorizontalPodAutoscaler"), raw[:120]
