"""Markers, claim ids and the capability gate: what runs, what skips and why."""
import pytest

from fixtures import claims
from fixtures.capabilities import Capabilities, unmet, version_tuple
from fixtures.markers import Needs


def caps(**kw):
    base = dict(server_version="v1.34.4", nodes=3, schedulable_nodes=2, kube_proxy_mode="iptables", cni="kindnet",
                node_access=True, images={"agnhost": "kubeproof/agnhost:2.57"})
    return Capabilities(**{**base, **kw})


@pytest.mark.parametrize("needs,found,reason", [
    (Needs(multinode=True), caps(schedulable_nodes=1), "needs >= 2 schedulable nodes; the cluster has 1"),
    (Needs(kube_proxy_mode="nftables"), caps(), "needs kube-proxy mode nftables; the cluster runs iptables"),
    (Needs(min_version="1.35"), caps(), "needs Kubernetes >= 1.35; the server is v1.34.4"),
    (Needs(max_version="1.24"), caps(), "needs Kubernetes <= 1.24; the server is v1.34.4"),
    (Needs(node_access=True), caps(node_access=False), "needs a shell on the nodes"),
    (Needs(istio=True), caps(), "needs Istio: no istiod Deployment in istio-system"),
    (Needs(istio_proxy=True), caps(istio_version="1.30", istio_proxy_image="kubeproof/proxyv2:1.31-dev"), "needs the Istio proxy image kubeproof/proxyv2:1.31-dev (Envoy)"),
    (Needs(images=("nginx",)), caps(), "needs workload image role(s) ['nginx']"),
    (Needs(metrics=True), caps(metrics_error="image kubeproof/metrics-server:v0.9.0 is not on this host: build it with hack/build-addons.sh "
                                             "and hack/build-images.sh (make cluster-image)"),
     "needs the resource metrics API (metrics.k8s.io): the metrics-server add-on could not be set up (image "
     "kubeproof/metrics-server:v0.9.0 is not on this host: build it with hack/build-addons.sh and hack/build-images.sh (make cluster-image))"),
])
def test_an_unmet_need_skips_with_its_exact_reason(needs, found, reason):
    assert unmet(needs, found).startswith(reason)


def test_met_needs_let_the_test_run():
    assert unmet(Needs(multinode=True, node_access=True, kube_proxy_mode="iptables", min_version="1.33",
                       images=("agnhost",), metrics=True), caps(metrics_api="metrics-server v0.9.0 (installed by this run)")) is None


@pytest.mark.parametrize("text,expected", [("v1.34.4", (1, 34, 4)), ("1.25", (1, 25, 0)), ("v1.35.0-rc.1", (1, 35, 0))])
def test_versions_compare_as_tuples(text, expected):
    assert version_tuple(text) == expected


def test_claim_ids_come_from_the_catalogue():
    known = claims.catalogue()
    assert {"S000-24", "S001-11", "S002-252", "S003-065"} <= set(known) and len(known) > 400


@pytest.mark.parametrize("ids,message", [
    (("S999-99",), "not in the catalogue"),
    (("S0-1",), "malformed claim id"),
    ((), "needs at least one claim id"),
])
def test_bad_claim_ids_are_rejected_with_the_reason(ids, message):
    with pytest.raises(claims.UnknownClaim, match=message):
        claims.validate(ids)
