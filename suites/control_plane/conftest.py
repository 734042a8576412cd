"""Control-plane behaviours: a custom resource type of the test's own (the document's Network CRD)."""
import secrets
from dataclasses import dataclass

import pytest

from fixtures import apiserver
from fixtures.manifests import render
from fixtures.polling import eventually
from fixtures.reporting import step


@pytest.fixture
def network_crd(ns, cluster, cluster_objects, timeouts):
    """A factory: the document's Network CRD (as apiextensions.k8s.io/v1, versions v1 stored + v2 served) under a
    unique group, Established and served; returns a NetworkType. `category` puts it in a resource category."""

    def make(category: str = "kubeproof") -> NetworkType:
        group = f"kp{secrets.token_hex(3)}.samplecrd.example.com"  # *.k8s.io groups are protected
        with step(f"Given the Network CRD in group {group} (category {category}), Established"):
            ns.apply("control_plane/crds/network-crd.yaml", group=group, category=category)
            cluster_objects.track("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"networks.{group}")
            eventually(lambda: apiserver.crd_established(cluster, f"networks.{group}"), until=bool,
                       timeout=timeouts.controller_sync, desc="CRD Established")
            eventually(lambda: apiserver.get(cluster.api, f"/apis/{group}/v1/namespaces/{ns.name}/networks").status,
                       until=lambda s: s == 200, timeout=timeouts.apply, desc="networks served")
        return NetworkType(group)

    return make


@dataclass(frozen=True)
class NetworkType:
    group: str

    def object(self, version: str, name: str, cidr: str) -> dict:
        """The document's example Network object at `group/version`."""
        return render("control_plane/crds/network.yaml", group=self.group, version=version, name=name, cidr=cidr)[0]


@pytest.fixture
def manifest_file(ns, tmp_path):
    """A factory: manifests/<relpath> rendered (with the namespace and image roles filled in) to a file for kubectl -f."""
    import yaml

    def write(relpath: str, **params) -> str:
        defaults = {"namespace": ns.name, **{f"image_{role}": ref for role, ref in ns.images.items()}}
        path = tmp_path / relpath.replace("/", "_")
        path.write_text(yaml.safe_dump_all(render(relpath, **{**defaults, **params})))
        return str(path)

    return write
