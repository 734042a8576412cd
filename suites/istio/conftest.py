"""Istio behaviours: every test namespace here is labelled for injection by the Istio under test."""
import pytest

from fixtures.addons import istio as istio_addon


@pytest.fixture
def ns_labels(istio):
    """Injection labels for the installed revision (istio-injection=enabled for the default one)."""
    return istio.injection_labels()


@pytest.fixture
def mesh_ns(ns, istio, cluster):
    """The test namespace, checked to select an installed revision (else pods silently stay plain)."""
    labels = cluster.core.read_namespace(ns.name).metadata.labels or {}
    istio_addon.check_namespace_labels(ns.name, labels, list(istio.revisions))
    return ns
