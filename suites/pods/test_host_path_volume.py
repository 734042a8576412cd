"""hostPath volumes: two containers mounting the same node directory share its files.

Seed 002 › 挂载宿主机上的目录: "nginx-container can read, from /usr/share/nginx/html, the index.html that
debian-container generated". The behaviour holds once the document's manifest is repaired (its
command/args sit under volumeMounts[0], and its redirect target has a stray space; see
test_pod_manifests_as_printed.py for the manifest as printed). The files live on the node: they outlive
the pod, so the test removes its directory afterwards.
Source: https://kubernetes.io/docs/concepts/storage/volumes/#hostpath
"""
import pytest

from fixtures import node_files
from fixtures.podexec import exec_in
from fixtures.pods import is_ready, wait_pod
from fixtures.polling import eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(images=["busybox", "nginx"], node_access=True)]

GREETING = "Hello from the debian container"


@pytest.fixture
def host_dir(ns, cluster):
    """A per-test directory on whichever node the pod lands; removed from every node afterwards."""
    path = f"/tmp/kubeproof-{ns.name}"
    yield path
    for node in [n.metadata.name for n in cluster.core.list_node().items]:
        node_files.remove(cluster, node, path)


@pytest.mark.claim("S002-094")
def test_nginx_serves_the_file_the_other_container_wrote_into_the_shared_host_path(ns, cluster, timeouts, host_dir):
    """With the manifest repaired, nginx serves the index.html the other container wrote into the hostPath
    directory, and the file is on the node itself."""
    with step("Given the document's two-containers pod, repaired, sharing a hostPath directory"):
        ns.apply("pods/host-path/two-containers-fixed.yaml", host_path=host_dir)
        pod = wait_pod(cluster, ns.name, "two-containers", is_ready, timeouts)
    with step("When nginx is asked for / from inside the pod"):
        body = eventually(lambda: exec_in(cluster, ns.name, "two-containers", "debian-container",
                                          ["wget", "-qO-", "http://127.0.0.1/"]).stdout,
                          until=lambda text: GREETING in text, timeout=timeouts.apply, desc="nginx serves the greeting")
    with step("Then it answers with what the other container wrote"):
        assert body.strip() == GREETING, body
    with step("And the file is in the node's directory, outside any container"):
        assert node_files.read(cluster, pod.node, f"{host_dir}/index.html").strip() == GREETING
