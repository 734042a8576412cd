"""Self-tests of the Istio installer's pure logic: versions, pins, detection facts, bad input."""
from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from fixtures.addons import istio
from fixtures.addons.istio import IstioError, Pinned, parse_version

PINS = {"ISTIO_VERSION": "1.31-dev", "ISTIO_PSEUDO_VERSION": "v0.0.0-20260423205519-b01690e6db7d",
        "ISTIO_LOCAL_HUB": "kubeproof", "ISTIO_ONLINE_HUB": "docker.io/istio", "ISTIO_ONLINE_TAG": "1.31.0"}


@pytest.fixture
def pinned() -> Pinned:
    return Pinned.from_pins(PINS)


@pytest.mark.parametrize("text, want", [
    ("1.31.0", (1, 31, 0, "")), ("1.31-dev", (1, 31, None, "dev")), ("v1.28.1", (1, 28, 1, "")),
    ("1.28.0-distroless", (1, 28, 0, "")), ("1.30.0-alpha.1", (1, 30, 0, "alpha.1")),
])
def test_parse_version_accepts_release_branch_and_image_tags(text, want):
    v = parse_version(text)
    assert (v.major, v.minor, v.patch, v.pre) == want


@pytest.mark.parametrize("text", ["", "latest", "1", "one.two", "1.31.0+meta", "1.x"])
def test_parse_version_names_the_bad_input(text):
    with pytest.raises(IstioError, match="is not an Istio version"):
        parse_version(text)


def test_pins_give_offline_and_online_hub_tag(pinned):
    assert pinned.hub_tag("offline") == ("kubeproof", "1.31-dev")
    assert pinned.hub_tag("online") == ("docker.io/istio", "1.31.0")
    assert pinned.commit == "b01690e6db7d"
    with pytest.raises(IstioError, match="unknown Istio image mode"):
        pinned.hub_tag("somewhere")


def test_pins_missing_or_inconsistent_are_rejected():
    with pytest.raises(IstioError, match="lacks ISTIO_ONLINE_TAG"):
        Pinned.from_pins({k: v for k, v in PINS.items() if k != "ISTIO_ONLINE_TAG"})
    with pytest.raises(IstioError, match="different Istio minors"):
        Pinned.from_pins({**PINS, "ISTIO_ONLINE_TAG": "1.28.0"})


def test_repo_pins_parse():
    Pinned.from_pins()  # hack/versions.env as committed


def test_unknown_requested_version_is_a_clear_error(pinned):
    with pytest.raises(IstioError, match=r"Istio 1\.99\.0 is unknown to this checkout: it pins 1\.31-dev"):
        istio.check_requested("1.99.0", pinned)
    with pytest.raises(IstioError, match="is not an Istio version"):
        istio.check_requested("banana", pinned)
    istio.check_requested("1.31.0", pinned)
    istio.check_requested(None, pinned)


def _deployment(image: str, labels: dict | None = None, env: dict | None = None):
    container = NS(image=image, env=[NS(name=k, value=v) for k, v in (env or {}).items()])
    return NS(metadata=NS(labels=labels), spec=NS(template=NS(spec=NS(containers=[container]))))


def test_describe_istiod_reads_tag_revision_and_env():
    d = _deployment("kubeproof/pilot:1.31-dev", {"istio.io/rev": "default", "operator.istio.io/version": "1.31-dev"},
                    {"PILOT_ENABLE_X": "true"})
    got = istio.describe_istiod(d)
    assert (got.version, got.revision, got.installed_by, got.env) == ("1.31-dev", "default", "1.31-dev", {"PILOT_ENABLE_X": "true"})
    assert istio.describe_istiod(_deployment("localhost:5000/istio/pilot")).version == "latest"


def test_installed_at_another_version_is_a_clear_error(pinned):
    other = istio.Installed(version="1.28.0", revision="default", image="docker.io/istio/pilot:1.28.0")
    with pytest.raises(IstioError, match=r"Istio 1\.28\.0 .* is installed, but this checkout pins 1\.31-dev / 1\.31\.0"):
        istio.check_installed(other, pinned)
    istio.check_installed(istio.Installed(version="1.31.0-distroless", revision="default", image="x"), pinned)


def test_namespace_for_another_revision_is_a_clear_error():
    with pytest.raises(IstioError, match="labelled for Istio revision 'canary', which is not installed"):
        istio.check_namespace_labels("ns1", {"istio.io/rev": "canary"}, ["default"])
    with pytest.raises(IstioError, match="both istio-injection=enabled and istio.io/rev=canary"):
        istio.check_namespace_labels("ns1", {"istio-injection": "enabled", "istio.io/rev": "canary"}, ["canary", "default"])
    istio.check_namespace_labels("ns1", {"istio-injection": "enabled"}, ["default"])
    istio.check_namespace_labels("ns1", {}, [])


def test_injection_labels_per_revision():
    assert istio.injection_labels("default") == {"istio-injection": "enabled"}
    assert istio.injection_labels("canary") == {"istio.io/rev": "canary"}


@pytest.mark.parametrize("env, version, kubelets, want", [
    ({}, "1.31-dev", ["v1.34.4"] * 3, True),           # auto, every kubelet >= 1.33
    ({}, "1.31-dev", ["v1.34.4", "v1.32.9"], False),    # auto, one old node
    ({}, "1.26.0", ["v1.34.4"], False),                 # before auto became the default
    ({"ENABLE_NATIVE_SIDECARS": "false"}, "1.31.0", ["v1.34.4"], False),
    ({"ENABLE_NATIVE_SIDECARS": "true"}, "1.26.0", ["v1.30.0"], True),
    ({"ENABLE_NATIVE_SIDECARS": "bogus"}, "1.31.0", ["v1.34.4"], False),  # unknown means disabled
    ({}, "1.31.0", [], False),
])
def test_native_sidecars_follow_env_version_and_kubelets(env, version, kubelets, want):
    assert istio.native_sidecars(env, version, kubelets) is want


def test_preflight_refuses_an_unknown_requested_version_before_any_cluster_work(monkeypatch):
    from fixtures.addon_registry import AddonError
    from fixtures.addons import istio_fixtures

    monkeypatch.setitem(istio_fixtures._REQUESTED, "version", "1.27.3")
    monkeypatch.setitem(istio_fixtures._REQUESTED, "install", False)
    settings = NS(provider="kind", images="offline")
    with pytest.raises(AddonError, match=r"Istio 1\.27\.3 is unknown to this checkout"):
        istio_fixtures.preflight(settings)


def test_preflight_names_the_build_target_when_istioctl_is_missing(monkeypatch, tmp_path):
    from fixtures.addons import istio_fixtures

    monkeypatch.setenv("KUBEPROOF_CACHE", str(tmp_path))
    monkeypatch.setitem(istio_fixtures._REQUESTED, "version", None)
    monkeypatch.setitem(istio_fixtures._REQUESTED, "install", True)  # --with-istio
    with pytest.raises(IstioError, match=r"istioctl for Istio .* is not built .*: run `make istio-image`"):
        istio_fixtures.preflight(NS(provider="kind", images="offline"))


def test_release_leaves_istio_alone_unless_this_run_installed_it_on_a_surviving_cluster(monkeypatch):
    from fixtures.addons import istio_fixtures, istio_install

    calls = []
    monkeypatch.setattr(istio_install, "uninstall", lambda *a: calls.append(a))
    for state, deleted, want in [({"installed_by_run": False}, False, 0), ({"installed_by_run": True}, True, 0),
                                 (None, False, 0), ({"installed_by_run": True}, False, 1)]:
        calls.clear()
        monkeypatch.setattr(istio_fixtures.runstate, "read", lambda name, s=state: s)
        istio_fixtures.release("cluster", NS(), NS(), deleted)
        assert len(calls) == want, (state, deleted)


def test_digest_pinned_and_unversioned_istiod_images_are_read_and_refused(pinned):
    got = istio.describe_istiod(_deployment("docker.io/istio/pilot:1.28.0@sha256:abcdef"))
    assert got.version == "1.28.0"
    latest = istio.describe_istiod(_deployment("registry.istio.io/testing/pilot"))
    with pytest.raises(IstioError, match="Istio latest .* is installed, but this checkout pins"):
        istio.check_installed(latest, pinned)


def test_proxy_is_runnable_only_when_on_a_node_or_from_an_upstream_hub():
    from fixtures.addons.istio_fixtures import proxy_runnable

    assert not proxy_runnable("kubeproof/proxyv2:1.31-dev", ["docker.io/kubeproof/pilot:1.31-dev"])
    assert proxy_runnable("kubeproof/proxyv2:1.31-dev", ["docker.io/kubeproof/proxyv2:1.31-dev"])
    assert proxy_runnable("docker.io/istio/proxyv2:1.31.0", [])


def _pod_waiting(reason: str):
    st = NS(name="discovery", image="docker.io/istio/pilot:1.31.0", state=NS(waiting=NS(reason=reason, message="no registry")))
    return NS(metadata=NS(name="istiod-x"), status=NS(init_container_statuses=None, container_statuses=[st]))


def test_install_ends_at_once_and_kills_istioctl_when_istiod_cannot_pull_its_image(tmp_path):
    """No hang: istioctl would wait for readiness for minutes; an ErrImagePull ends the install within seconds."""
    import time

    from fixtures.addons import istio_client, istio_install
    from fixtures.timeouts import Timeouts

    fake = tmp_path / "istioctl"
    fake.write_text("#!/bin/sh\nexec sleep 300\n")
    fake.chmod(0o755)
    core = NS(list_namespaced_pod=lambda ns: NS(items=[_pod_waiting("ErrImagePull")]))
    cluster = NS(kubeconfig=tmp_path / "kc", context=None, core=core)
    t0 = time.monotonic()
    with pytest.raises(IstioError, match=r"istiod cannot start: istiod-x/discovery image docker.io/istio/pilot:1.31.0: ErrImagePull"):
        istio_install.run_install(istio_client.Tools(fake, ""), cluster, ["install"], Timeouts().with_addon_budgets(istio.BUDGETS))
    assert time.monotonic() - t0 < 10
