"""Markers, claim ids and the capability gate: what runs, what skips and why."""
import json
from types import SimpleNamespace

import pytest

from fixtures import addon_registry, claims
from fixtures.addons import istio_fixtures, metrics_server
from fixtures.capabilities import Capabilities, unmet, version_tuple
from fixtures.markers import MarkerError, Needs, needs_of

# the add-ons' own checks, as the gate gets them from the registry (fixtures/per_test.py addon_gates)
GATES = {r.key: r.unmet for r in (*istio_fixtures.REQUIREMENTS, *metrics_server.REQUIREMENTS)}


def caps(addon_facts=None, **kw):
    base = dict(server_version="v1.34.4", nodes=3, schedulable_nodes=2, kube_proxy_mode="iptables", cni="kindnet",
                node_access=True, images={"agnhost": "kubeproof/agnhost:2.57"})
    return Capabilities(**{**base, **kw}, addon_facts=addon_facts or {})


@pytest.mark.parametrize("needs,found,reason", [
    (Needs(multinode=True), caps(schedulable_nodes=1), "needs >= 2 schedulable nodes; the cluster has 1"),
    (Needs(kube_proxy_mode="nftables"), caps(), "needs kube-proxy mode nftables; the cluster runs iptables"),
    (Needs(min_version="1.35"), caps(), "needs Kubernetes >= 1.35; the server is v1.34.4"),
    (Needs(max_version="1.24"), caps(), "needs Kubernetes <= 1.24; the server is v1.34.4"),
    (Needs(node_access=True), caps(node_access=False), "needs a shell on the nodes"),
    (Needs(addons={"istio": True}), caps(), "needs Istio: no istiod Deployment in istio-system"),
    (Needs(addons={"istio_proxy": True}), caps({"istio": {"istio_version": "1.30", "istio_proxy_image": "kubeproof/proxyv2:1.31-dev"}}),
     "needs the Istio proxy image kubeproof/proxyv2:1.31-dev (Envoy)"),
    (Needs(images=("nginx",)), caps(), "needs workload image role(s) ['nginx']"),
    (Needs(addons={"metrics": True}), caps({"metrics-server": {"metrics_error": "image kubeproof/metrics-server:v0.9.0 is not on this host: "
                                                                                "build it with hack/build-addons.sh and hack/build-images.sh (make cluster-image)"}}),
     "needs the resource metrics API (metrics.k8s.io): the metrics-server add-on could not be set up (image "
     "kubeproof/metrics-server:v0.9.0 is not on this host: build it with hack/build-addons.sh and hack/build-images.sh (make cluster-image))"),
])
def test_an_unmet_need_skips_with_its_exact_reason(needs, found, reason):
    assert unmet(needs, found, GATES).startswith(reason)


def test_met_needs_let_the_test_run():
    assert unmet(Needs(multinode=True, node_access=True, kube_proxy_mode="iptables", min_version="1.33",
                       images=("agnhost",), addons={"metrics": True}),
                 caps({"metrics-server": {"metrics_api": "metrics-server v0.9.0 (installed by this run)"}}), GATES) is None


def _config_with(*addons):
    config = SimpleNamespace(stash={}, addinivalue_line=lambda *a: None)
    for addon in addons:
        addon_registry.register(config, addon)
    return config


def _item(config, **requires):
    return SimpleNamespace(config=config, iter_markers=lambda name: [pytest.mark.requires(**requires).mark] if name == "requires" else [])


def _skip_unless_gizmo(c):
    return None if c.facts("gizmo").get("gizmo_version") else "needs the gizmo: none found (install it with --with-gizmo)"


GIZMO = addon_registry.Addon(name="gizmo", fixture="gizmo_addon", requirements=(
    addon_registry.Requirement("gizmo", "a gizmo installed", _skip_unless_gizmo),))


def test_a_requires_key_an_addon_registers_is_accepted_beside_the_core_keys():
    needs = needs_of(_item(_config_with(GIZMO), gizmo=True, multinode=True))
    assert needs.multinode and needs.wants("gizmo") is True and needs.addons == {"gizmo": True}


def test_an_unknown_requires_key_is_rejected_naming_the_known_core_and_addon_keys():
    with pytest.raises(MarkerError, match=r"unknown requirement\(s\) \['gizmoo'\] in requires\(\); core keys: .*'multinode'.*"
                                          r"add-on keys: gizmo: \['gizmo'\]"):
        needs_of(_item(_config_with(GIZMO), gizmoo=True))
    with pytest.raises(MarkerError, match=r"add-on keys: none \(no add-on plugin loaded\)"):
        needs_of(_item(_config_with(), gizmo=True))


def test_an_addon_may_not_take_a_core_key():
    bad = addon_registry.Addon(name="bad", fixture="x", requirements=(addon_registry.Requirement("multinode", "x", lambda c: None),))
    with pytest.raises(MarkerError, match=r"clash with the core's requires keys: multinode \(bad\)"):
        needs_of(_item(_config_with(bad)))


def test_an_addons_skip_text_is_the_reason_when_its_fact_is_missing_and_silent_once_it_is_there():
    gates = {"gizmo": _skip_unless_gizmo}
    assert unmet(Needs(addons={"gizmo": True}), caps(), gates) == "needs the gizmo: none found (install it with --with-gizmo)"
    assert unmet(Needs(addons={"gizmo": True}), caps({"gizmo": {"gizmo_version": "1.0"}}), gates) is None
    assert unmet(Needs(addons={"gizmo": False}), caps(), gates) is None


def test_addon_facts_are_environment_properties_under_their_own_names():
    props = caps({"istio": {"istio_version": "1.31.0", "native_sidecars": True, "istio_error": None}}).as_properties()
    assert props["istio_version"] == "1.31.0" and props["native_sidecars"] == "True" and "istio_error" not in props
    assert "addon_facts" not in props


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


def test_published_capabilities_keep_the_addon_facts_other_workers_published(monkeypatch, tmp_path):
    from fixtures import capabilities, runstate

    monkeypatch.setattr(runstate, "run_dir", lambda: tmp_path)
    monkeypatch.setattr(runstate, "read", lambda name: {"image": "kubeproof/node:v1.34.4"})
    kind = SimpleNamespace(provider="kind")
    capabilities.publish(caps({"istio": {"istio_version": "1.31.0"}}), kind)  # one worker ran the Istio tests
    capabilities.publish(caps({"ingress-nginx": {"ingress_nginx_version": "v1.15.1 (official image)"}}), kind)  # another
    props = json.loads((tmp_path / "capabilities.json").read_text())
    assert props["istio_version"] == "1.31.0" and props["ingress_nginx_version"] == "v1.15.1 (official image)"
    assert props["node_image"] == "kubeproof/node:v1.34.4" and props["server_version"] == "v1.34.4"
