"""Fixtures of the offline-cluster self-tests: real kind clusters from kubeproof/node, nothing pulled.

Opt-in (`make test-integration`, or `pytest tests/integration -m integration`): each test module
creates and deletes its own clusters, named kp-it-*, and never touches other clusters.
"""
from __future__ import annotations

import pytest
from kindcluster import (CLUSTER_DIR, CONFIGS, HOST_PORT, NET_NS, T, Cluster, NetPod, Tools, create_cluster,
                         delete_cluster, offline_images, run)

from fixtures.polling import eventually
from fixtures.versions import build_cache, offline_node_image


@pytest.fixture(scope="session")
def offline_tools() -> Tools:
    cache = build_cache()
    kind, kubectl, image = cache.tool("kind"), cache.tool("kubectl"), offline_node_image()
    missing = [str(p) for p in (kind, kubectl) if not p.exists()]
    if run("docker", "image", "inspect", image, check=False).returncode != 0:
        missing.append(f"docker image {image}")
    if missing:
        pytest.skip(f"offline cluster artefacts missing ({', '.join(missing)}): run `make cluster-image`")
    return Tools(str(kind), str(kubectl), image)


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def offline_cluster(request, offline_tools, tmp_path_factory) -> Cluster:
    """A three-node cluster per kube-proxy mode (tests run grouped by mode, one cluster at a time)."""
    mode = request.param
    c = create_cluster(offline_tools, f"kp-it-{mode}", CLUSTER_DIR / CONFIGS[mode], tmp_path_factory.mktemp(mode), 3)
    c.mode = mode
    yield c
    delete_cluster(c)


@pytest.fixture(scope="module")
def offline_netpods(offline_cluster) -> list[NetPod]:
    """agnhost netexec on every node, Ready, behind a NodePort Service and a hostPort."""
    offline_cluster.apply("netcheck.yaml", namespace=NET_NS, agnhost=offline_images()["agnhost"], host_port=HOST_PORT)

    def ready():
        ds = offline_cluster.get("ds", "-n", NET_NS, "netexec")["status"]
        assert ds.get("desiredNumberScheduled") == 3 and ds.get("numberReady") == 3, ds
        return offline_cluster.get("pods", "-n", NET_NS, "-l", "app=netexec")["items"]

    pods = eventually(ready, timeout=T.pod_start, desc="netexec Ready on all 3 nodes")
    return [NetPod(p["metadata"]["name"], p["status"]["podIP"], p["status"]["hostIP"], p["spec"]["nodeName"]) for p in pods]
