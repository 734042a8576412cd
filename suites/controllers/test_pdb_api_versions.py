"""The document's PodDisruptionBudget manifest (示例二) against today's API (seed 000, 2021-02-18~21).

The document writes `apiVersion: policy/v1beta1`; that version was removed in Kubernetes 1.25
(policy/v1 is GA since 1.21). Source: kubernetes.io/docs/reference/using-api/deprecation-guide/#v1-25"""
import pytest

from fixtures.api_calls import create_raw
from fixtures.manifests import render
from fixtures.reporting import step

pytestmark = [pytest.mark.area("controllers")]


@pytest.mark.claim("S000-50")
def test_documented_policy_v1beta1_pdb_is_rejected_from_kubernetes_1_25(ns, cluster, server_version):
    """The document's policy/v1beta1 PDB manifest is served before 1.25 and rejected (404) from 1.25 on."""
    doc = render("controllers/pdb-eviction/pdb-doc-v1beta1.yaml")[0]
    with step("When the document's policy/v1beta1 PDB is submitted verbatim"):
        answer = create_raw(cluster, doc, ns.name)
    if server_version >= (1, 25, 0):
        with step("Then the server does not serve policy/v1beta1 (removed in 1.25)"):
            assert answer.status == 404, f"[behaviour-changed] policy/v1beta1 PDB accepted on {server_version}: {answer}"
    else:
        with step("Then the server accepts it (policy/v1beta1 is still served before 1.25)"):
            assert answer.status == 201, f"policy/v1beta1 PDB refused on {server_version}: {answer}"


@pytest.mark.claim("S000-50")
def test_documented_pdb_spec_is_accepted_under_policy_v1(ns, cluster):
    """The same PDB spec with apiVersion policy/v1 is accepted and keeps the document's maxUnavailable: 1."""
    doc = render("controllers/pdb-eviction/pdb-doc-v1.yaml")[0]
    with step("When the document's PDB is submitted as policy/v1"):
        answer = create_raw(cluster, doc, ns.name)
    with step("Then it is created with maxUnavailable 1 and the document's selector"):
        assert answer.status == 201, f"policy/v1 PDB refused: {answer}"
        live = cluster.policy.read_namespaced_pod_disruption_budget("zk-pdb", ns.name)
        assert (live.spec.max_unavailable, live.spec.selector.match_labels) == (1, {"app": "zookeeper"}), live.spec
