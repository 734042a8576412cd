"""Static pods: run by a node's kubelet from a manifest file, shown in the API as a mirror pod.

Seed 002 › Pod (quoted): static pods "cannot be managed through the API server, cannot be associated with
a ReplicationController, Deployment or DaemonSet, and the kubelet cannot health-check them". Seed 003 ›
静态pod: "managed directly by the kubelet of a node ... the kubelet creates a mirror pod for each ... but
it cannot be controlled through the API server (e.g. cannot be deleted)"; "kubelet
--pod-manifest-path=<dir> ... scans the directory periodically".
Today: probes DO run on static pods (restarts show in the mirror pod); deleting the mirror pod through
the API succeeds and the kubelet recreates it (new UID) without restarting the containers; the pod goes
when its file goes. The directory is the kubelet config's staticPodPath (the flag is deprecated).
The manifest is written into a worker's /etc/kubernetes/manifests and always removed again.
Source: https://kubernetes.io/docs/tasks/configure-pod-container/static-pod/
"""
from dataclasses import dataclass

import pytest

from fixtures import node_files
from fixtures.manifests import render
from fixtures.nodes import kubelet_config, workers
from fixtures.podexec import exec_in
from fixtures.polling import eventually
from fixtures.pods import container_is, events_of, restarted_at_least, view, wait_gone, wait_pod
from fixtures.reporting import step

pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(images=["busybox"], node_access=True),
              pytest.mark.xdist_group("pods-static-pods")]

NAME = "static-web"


@dataclass(frozen=True)
class Static:
    namespace: object  # the module's Namespace (the static pod's metadata.namespace)
    node: str
    mirror: str  # the mirror pod's name: <name>-<node>
    path: str  # the manifest file on the node

    @property
    def ns(self) -> str:
        return self.namespace.name


@pytest.fixture(scope="module")
def static(module_ns, cluster, images, timeouts):
    """The static pod on the first worker (its file and mirror pod removed afterwards)."""
    node = workers(cluster)[0]
    mirror = f"{NAME}-{node}"
    docs = render("pods/static-pod/liveness.yaml", name=NAME, namespace=module_ns.name,
                  **{f"image_{r}": i for r, i in images.items()})
    with step(f"Given a static pod manifest written into {node}'s staticPodPath"):
        with node_files.static_pod(cluster, node, f"{module_ns.name}-{NAME}.yaml", docs) as path:
            wait_pod(cluster, module_ns.name, mirror, container_is("app", "running"), timeouts)
            yield Static(module_ns, node, mirror, path)
        wait_gone(cluster, module_ns.name, mirror, timeouts)


@pytest.mark.claim("S003-026", "S002-071")
def test_kubelet_runs_a_static_pod_from_its_manifest_and_publishes_a_mirror_pod_owned_by_the_node(static, cluster):
    """The kubelet runs the file's pod and creates a mirror pod `<name>-<node>` in the API, annotated
    kubernetes.io/config.mirror and owned by the Node (not by any controller)."""
    ns, node, mirror = static.ns, static.node, static.mirror
    pod = cluster.core.read_namespaced_pod(mirror, ns)
    with step("Then the mirror pod runs on that node and says it mirrors a file"):
        assert pod.spec.node_name == node and pod.status.phase == "Running", (pod.spec.node_name, pod.status.phase)
        annotations = pod.metadata.annotations or {}
        assert "kubernetes.io/config.mirror" in annotations and annotations.get("kubernetes.io/config.source") == "file", annotations
    with step("And its only owner is the Node, as controller"):
        owners = [(o.kind, o.name, o.controller) for o in pod.metadata.owner_references or []]
        assert owners == [("Node", node, True)], owners


@pytest.mark.claim("S003-026", "S002-071")
def test_liveness_probe_of_a_static_pod_runs_and_restarts_its_container(static, cluster, timeouts):
    """The documents say the kubelet cannot health-check static pods. Wrong: a failing liveness probe
    restarts the static pod's container, and the restart shows in the mirror pod."""
    ns, mirror = static.ns, static.mirror
    before = view(cluster, ns, mirror).container("app").restarts
    with step("When the static pod's app turns unhealthy"):
        assert exec_in(cluster, ns, mirror, "app", ["rm", "/tmp/ok"]).returncode == 0
    with step("Then its container is restarted for the failed liveness probe"):
        wait_pod(cluster, ns, mirror, restarted_at_least("app", before + 1), timeouts)
        killing = [e.message for e in events_of(cluster, ns, mirror) if e.reason == "Killing"]
        assert any("failed liveness probe" in m for m in killing), (
            f"[behaviour-changed] no liveness kill event: {events_of(cluster, ns, mirror)}")


@pytest.mark.claim("S003-026")
def test_deleting_the_mirror_pod_succeeds_and_the_kubelet_recreates_it_without_restarting_the_container(static, cluster, timeouts):
    """The document says the mirror pod cannot be deleted through the API server. The delete succeeds;
    the kubelet then creates a new mirror (new UID) for the same running container: at once before 1.37,
    from 1.37 on at the pod's next periodic sync (about a minute; the mirror stays Terminating meanwhile)."""
    ns, mirror = static.ns, static.mirror
    before = wait_pod(cluster, ns, mirror, container_is("app", "running"), timeouts)
    with step("When the mirror pod is deleted through the API"):
        cluster.core.delete_namespaced_pod(mirror, ns)
    with step("Then a new mirror pod appears, with a new UID"):
        after = wait_pod(cluster, ns, mirror, lambda p: p.uid != before.uid and container_is("app", "running")(p),
                         timeouts, budget="kubelet_resync", desc="mirror pod recreated")
    with step("And the container behind it is the same one, not restarted"):
        old, new = before.container("app"), after.container("app")
        assert (new.container_id, new.restarts) == (old.container_id, old.restarts), (old, new)


@pytest.mark.claim("S003-027")
def test_kubelet_reads_static_pods_from_its_configured_static_pod_path(static, cluster):
    """The manifest directory is the kubelet config's staticPodPath (the --pod-manifest-path flag is
    deprecated), re-scanned every fileCheckFrequency (20 s default) besides watching it."""
    node = static.node
    config = kubelet_config(cluster, node)
    with step("Then the kubelet's running config names /etc/kubernetes/manifests and a 20 s re-scan"):
        assert (config.get("staticPodPath"), config.get("fileCheckFrequency")) == ("/etc/kubernetes/manifests", "20s"), config


@pytest.mark.claim("S003-027")
def test_static_pod_referencing_a_configmap_is_refused_by_the_kubelet(static, cluster, images, timeouts, server_version):
    """Static pods may not reference API objects. Since 1.34 the kubelet refuses a manifest with a ConfigMap volume
    ("static pods may not reference configmaps") and runs nothing; before, it took the file but the API server
    (NodeRestriction) forbade its mirror pod ("can not create pods that reference configmaps"). Either way no mirror
    pod is published, while the static pod beside it runs (the control)."""
    ns, node, name = static.ns, static.node, "static-cm"
    by_kubelet = server_version >= (1, 34)  # pkg/kubelet/config/common.go, 1.34
    static.namespace.apply("pods/static-pod/configmap.yaml", name="conf")
    docs = render("pods/static-pod/configmap-volume.yaml", name=name, namespace=ns, configmap="conf",
                  **{f"image_{r}": i for r, i in images.items()})
    with step("When a static pod with a ConfigMap volume is written beside the running one"):
        with node_files.static_pod(cluster, node, f"{ns}-{name}.yaml", docs) as path:
            who, mentions, says = (("the kubelet refusing the manifest", path, "static pods may not reference configmaps") if by_kubelet else
                                   ("the API server refusing its mirror pod", f"{name}-{node}", "can not create pods that reference configmaps"))
            refusal = eventually(lambda: [line for line in node_files.kubelet_log(cluster, node, since="-5min").splitlines()
                                          if mentions in line and says in line],
                                 until=bool, timeout=timeouts.pod_start, desc=f"{who} (Kubernetes {server_version})")
            pods = {p.metadata.name for p in cluster.core.list_namespaced_pod(ns).items}
    with step(f"Then the kubelet log shows {who}, and only the control static pod has a mirror"):
        assert refusal and f"{name}-{node}" not in pods and static.mirror in pods, (refusal, pods)


@pytest.mark.claim("S003-026")
def test_removing_the_manifest_file_stops_the_static_pod_and_its_mirror(static, cluster, timeouts):
    """The pod lives as long as its file: once the manifest is removed from the directory, the kubelet
    stops the pod and deletes its mirror. (Runs last in this module: it ends the shared static pod.)"""
    with step("When the static pod's manifest file is removed from the node"):
        node_files.remove(cluster, static.node, static.path)
    with step("Then the mirror pod is deleted by the kubelet"):
        wait_gone(cluster, static.ns, static.mirror, timeouts)
