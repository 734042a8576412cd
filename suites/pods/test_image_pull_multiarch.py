"""containerd's pull of a multi-platform image: the index is resolved, only the node's platform is fetched.

Seed 001 2021-05-17~23 › containerd 镜像下载的过程: containerd resolves the tag to a manifest list (index),
"picks the image manifest for the host's platform (linux here)", then fetches its config and layers.
Holds. The cluster has no registry, so the test serves one: an OCI index with linux/amd64 and
linux/arm64 images, as static files behind nginx on the node's loopback (fixtures/registry.py); each
image prints the platform it was built for. The registry's access log shows what containerd fetched.
Source: https://github.com/opencontainers/image-spec/blob/main/image-index.md ;
https://kubernetes.io/docs/concepts/containers/images/#container-image-index
"""
import pytest

from fixtures.nodes import workers
from fixtures.pods import is_ready, phase_is, wait_pod
from fixtures.polling import eventually
from fixtures.registry import served_index
from fixtures.reporting import step

pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(node_access=True, images=["busybox", "nginx"])]

PORT = 5123  # on the node's loopback only; nothing else listens there on a kind node
REPOSITORY = "kubeproof/multiarch"


@pytest.mark.claim("S001-20")
def test_containerd_resolves_an_index_and_pulls_only_the_nodes_platform(ns, cluster, images, timeouts):
    """Tag -> index -> the manifest of the node's platform -> its config and layers; the other platform is never fetched."""
    node = workers(cluster)[-1]
    arch = cluster.core.read_node(node).status.node_info.architecture
    with served_index(cluster, node, PORT, REPOSITORY, "1", images["busybox"], nonce=ns.name) as index:
        with step(f"Given an index {index.ref} with linux/amd64 and linux/arm64 images, served on {node}'s loopback"):
            ns.apply("pods/images/registry.yaml", name="registry", node=node, root=index.root)
            wait_pod(cluster, ns.name, "registry", is_ready, timeouts)
        with step(f"When a pod on {node} (architecture {arch}) runs {index.ref}"):
            ns.apply("pods/images/pinned.yaml", name="multiarch", node=node, image=index.ref)
            pod = wait_pod(cluster, ns.name, "multiarch", phase_is("Succeeded", "Failed"), timeouts)
        with step(f"Then the container ran the linux/{arch} image"):
            out = cluster.core.read_namespaced_pod_log("multiarch", ns.name, container="app")
            assert pod.phase == "Succeeded" and out.strip() == f"linux/{arch}", (pod, out)
        with step("And the recorded imageID is the index's digest (the repo digest), not the platform manifest's"):
            assert pod.container("app").image_id == f"{index.repository}@{index.index_digest}", (pod.container("app"), index)
        with step("And the registry served the tag, then only this platform's manifest, never the other's"):
            other = next(d for p, d in index.manifests.items() if p != f"linux/{arch}")
            log = eventually(lambda: cluster.core.read_namespaced_pod_log("registry", ns.name, container="nginx"),
                             until=lambda text: index.manifests[f"linux/{arch}"] in text, timeout=timeouts.apply,
                             desc="the platform manifest in the access log")
            assert f"/v2/{REPOSITORY}/manifests/1 " in log and other not in log, log
