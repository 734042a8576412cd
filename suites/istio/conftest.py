"""Istio behaviours: every test namespace here is labelled for injection by the Istio under test, and
every namespace with sidecars is checked for rejected xDS updates (NACKs) before it is deleted."""
import pytest

from fixtures.addons import istio as istio_addon
from fixtures.addons import istio_proxies
from fixtures.namespaces import this_workers_prefix


@pytest.fixture
def ns_labels(istio):
    """Injection labels for the installed revision (istio-injection=enabled for the default one)."""
    return istio.injection_labels()


@pytest.fixture
def mesh_ns(ns, istio, cluster):
    """The test namespace, checked to select an installed revision (else pods silently stay plain).
    Before it goes, no sidecar in it may have rejected Istio's configuration (the NACK guard)."""
    labels = cluster.core.read_namespace(ns.name).metadata.labels or {}
    istio_addon.check_namespace_labels(ns.name, labels, list(istio.revisions))
    yield ns
    istio_proxies.assert_no_rejections(cluster, [ns.name])


@pytest.fixture(scope="module")
def mesh_module_ns(module_ns, istio, cluster):
    """One injection-labelled namespace for a module's tests that observe the same meshed workloads;
    NACK-guarded after the module's last test."""
    cluster.core.patch_namespace(module_ns.name, {"metadata": {"labels": istio.injection_labels()}})
    yield module_ns
    istio_proxies.assert_no_rejections(cluster, [module_ns.name])


@pytest.fixture(scope="module", autouse=True)
def xds_sync_guard(request, cluster, timeouts, istio_addon):
    """After each Istio module that ran sidecars: istiod sees every proxy of this worker's namespaces (the module's)
    SYNCED, and none NACKed (ERROR)."""
    yield
    state = istio_addon
    ran_proxies = any(m.kwargs.get("istio_proxy") for item in request.session.items if item.module is request.module
                      for m in item.iter_markers("requires"))
    if state and not state.get("error") and ran_proxies:
        istio_proxies.assert_all_synced(cluster, timeouts, this_workers_prefix())
