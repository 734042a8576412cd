"""Everyday kubectl commands whose behaviour is observable on the cluster, run with the pinned kubectl: the
default container, `run --rm`, node labels, drain (server dry run: no node is touched), cp, and the finalize
escape hatch for stuck namespaces.

Source: seed 002 «常用命令»; seed 001, 2021-04-05~11 › k8s 指定用于输出日志的容器. Upstream:
https://kubernetes.io/docs/reference/kubectl/, https://kubernetes.io/docs/reference/labels-annotations-taints/
"""
import secrets

import pytest

from fixtures import apiserver
from fixtures.nodes import workers
from fixtures.pods import held, is_ready, wait_pod
from fixtures.polling import eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("control-plane")]


@pytest.mark.claim("S001-23")
@pytest.mark.requires(images=["busybox"])
def test_kubectl_defaults_to_the_first_container_or_the_default_container_annotation(ns, cluster, timeouts):
    """Claim: `kubectl logs` on a multi-container pod errors, and kubectl.kubernetes.io/default-logs-container picks
    the default. Changed: kubectl defaults to the first container (saying so); kubectl.kubernetes.io/default-container
    (1.21) chooses it for logs and exec; default-logs-container is ignored (support removed in kubectl 1.25)."""
    pods = {"plain": "kp.example/none", "annotated": "kubectl.kubernetes.io/default-container",
            "old-annotation": "kubectl.kubernetes.io/default-logs-container"}
    with step("Given three pods with containers app and sidecar: no annotation, default-container, default-logs-container"):
        for name, annotation in pods.items():
            ns.apply("control_plane/kubectl/two-containers.yaml", name=name, annotation=annotation)
        for name in pods:
            wait_pod(cluster, ns.name, name, is_ready, timeouts)

    def logs(pod):
        return eventually(lambda: cluster.kubectl("-n", ns.name, "logs", pod), until=lambda r: r.stdout.strip(),
                          timeout=timeouts.apply, desc=f"logs of {pod}")

    with step("Then without an annotation kubectl logs shows the first container, and says so"):
        plain = logs("plain")
        assert plain.stdout.strip() == "line-from-app", plain
        assert 'Defaulted container "app" out of: app, sidecar' in plain.stderr, plain.stderr
    with step("And default-container: sidecar switches logs and exec to the sidecar"):
        assert logs("annotated").stdout.strip() == "line-from-sidecar"
        assert cluster.kubectl("-n", ns.name, "exec", "annotated", "--", "sh", "-c", "echo $WHO").stdout.strip() == "sidecar"
    with step("And the document's default-logs-container is ignored"):
        assert logs("old-annotation").stdout.strip() == "line-from-app", "[behaviour-changed] default-logs-container honoured"


@pytest.mark.claim("S002-234")
@pytest.mark.requires(images=["busybox"])
def test_kubectl_run_rm_attaches_to_a_bare_pod_and_deletes_it_on_exit(ns, cluster, images):
    """`kubectl run -i --rm --restart=Never` creates a bare pod, attaches to it, and deletes it when it exits."""
    with step("When a one-shot pod is run with --rm -i"):
        run = cluster.kubectl("-n", ns.name, "run", "oneshot", "--rm", "-i", "--restart=Never", f"--image={images['busybox']}",
                              "--image-pull-policy=IfNotPresent", "--", "echo", "ok-from-pod", timeout=90)
    with step("Then its output came back over the attachment, and the pod is gone"):
        assert "ok-from-pod" in run.stdout, run
        assert 'pod "oneshot" deleted' in run.stdout + run.stderr, run
        assert cluster.kubectl("-n", ns.name, "get", "pod", "oneshot", check=False).returncode != 0


@pytest.mark.claim("S002-235")
@pytest.mark.requires(multinode=True)
def test_nodes_carry_well_known_labels_and_relabelling_needs_overwrite(cluster):
    """Nodes carry kubernetes.io/hostname, /os, /arch (and the control-plane role label on the control plane);
    `kubectl label` adds a label, but changing an existing value needs --overwrite. Run as server dry runs: no
    node is changed."""
    node = workers(cluster)[0]
    labels = {n.metadata.name: n.metadata.labels for n in cluster.core.list_node().items}
    with step("Then every node has hostname, os and arch labels, and one has the control-plane role"):
        for name, lab in labels.items():
            assert lab["kubernetes.io/hostname"] == name and lab["kubernetes.io/os"] == "linux" and "kubernetes.io/arch" in lab
        assert [n for n, lab in labels.items() if "node-role.kubernetes.io/control-plane" in lab]
    with step("When a new label is added (server dry run)"):
        added = cluster.kubectl("label", "node", node, "disktype=ssd", "--dry-run=server", "-o", "jsonpath={.metadata.labels.disktype}")
        assert added.stdout == "ssd", added
    with step("Then changing an existing label without --overwrite is refused, with it accepted"):
        refused = cluster.kubectl("label", "node", node, "kubernetes.io/os=plan9", "--dry-run=server", check=False)
        assert refused.returncode != 0 and "--overwrite is false" in refused.stderr, refused
        forced = cluster.kubectl("label", "node", node, "kubernetes.io/os=plan9", "--overwrite", "--dry-run=server",
                                 "-o", "jsonpath={.metadata.labels.kubernetes\\.io/os}")
        assert forced.stdout == "plan9", forced
    with step("And the node itself is unchanged"):
        assert cluster.core.read_node(node).metadata.labels == labels[node]


@pytest.mark.claim("S002-236")
@pytest.mark.requires(multinode=True, images=["agnhost"])
def test_drain_evicts_through_the_eviction_api_and_needs_force_and_emptydir_flags(ns, cluster, timeouts):
    """`kubectl drain` cordons, then evicts pods through the Eviction API (a PDB makes it retry on 429);
    --force is needed for pods without a controller, --delete-emptydir-data for emptyDir pods; the document's
    --delete-local-data no longer exists (removed in kubectl 1.31). Drains run as server dry runs."""
    node, label = workers(cluster)[0], f"kp-{secrets.token_hex(3)}"
    drain = lambda *flags: cluster.kubectl("drain", node, f"--pod-selector=drain={label}", "--dry-run=server",  # noqa: E731
                                           "--ignore-daemonsets", *flags, check=False, timeout=timeouts.drain)
    with step("Then the document's --delete-local-data flag is unknown"):
        old = cluster.kubectl("drain", node, "--delete-local-data", "--dry-run=server", check=False)
        assert old.returncode != 0 and "unknown flag: --delete-local-data" in old.stderr, old.stderr
    with step(f"Given on {node}: a bare pod, an emptyDir pod, and 2 replicas guarded by a PDB minAvailable 2"):
        ns.apply("control_plane/kubectl/bare-pods.yaml", label=label, node=node)
        ns.apply("control_plane/kubectl/emptydir-deployment.yaml", name="scratch", label=label, node=node)
        ns.apply("control_plane/kubectl/pinned-deployment.yaml", name="guarded", label=label, node=node)
        ns.apply("control_plane/kubectl/pdb.yaml", name="guarded", min_available=2)
        eventually(lambda: len([p for p in cluster.core.list_namespaced_pod(ns.name, label_selector=f"drain={label}").items
                                if p.status.phase == "Running"]), until=lambda n: n == 4, timeout=timeouts.pod_start,
                   desc="4 pods running")
    with step("When drained without --force and --delete-emptydir-data"):
        refused = drain()
    with step("Then drain refuses, naming the unmanaged pod and the emptyDir pod"):
        assert refused.returncode != 0, refused
        assert "--force" in refused.stderr and "--delete-emptydir-data" in refused.stderr, refused.stderr
    with step("When drained with both flags (server dry run, 7 s timeout)"):
        blocked = drain("--force", "--delete-emptydir-data", f"--timeout={int(timeouts.drain_blocked)}s")
        out = blocked.stdout + blocked.stderr
    with step("Then it cordons, evicts the others, and retries the guarded pods on the budget's 429 until it gives up"):
        assert "cordoned (server dry run)" in out, out
        assert "evicting pod" in out and "violate the pod's disruption budget" in out, out
        assert blocked.returncode != 0, out
    with step("And nothing really happened: the node is schedulable and all pods still run"):
        assert not cluster.core.read_node(node).spec.unschedulable
        assert len(cluster.core.list_namespaced_pod(ns.name, label_selector=f"drain={label}").items) == 4


@pytest.mark.claim("S002-241")
@pytest.mark.requires(images=["busybox"])
def test_kubectl_cp_needs_tar_in_the_container(ns, cluster, timeouts, tmp_path):
    """`kubectl cp` runs tar in the container: it works where tar is found, and fails where the image has none
    (as in distroless images)."""
    ns.apply("control_plane/kubectl/no-tar.yaml", name="files")
    wait_pod(cluster, ns.name, "files", is_ready, timeouts)
    with step("Then copying out of the container with tar works"):
        cluster.kubectl("-n", ns.name, "cp", "-c", "with-tar", "files:/tmp/file", str(tmp_path / "copied"))
        assert (tmp_path / "copied").read_text().strip() == "copied-content"
    with step("And copying out of the container without tar fails, naming tar"):
        res = cluster.kubectl("-n", ns.name, "cp", "-c", "without-tar", "files:/tmp/file", str(tmp_path / "nope"), check=False)
        assert res.returncode != 0 and "tar" in res.stderr, res
        assert not (tmp_path / "nope").exists() or (tmp_path / "nope").read_text() == ""


@pytest.mark.claim("S002-232")
def test_finalize_completes_a_namespace_stuck_on_a_finalizer_but_pods_have_no_finalize(ns, cluster, timeouts):
    """PUT /api/v1/namespaces/<ns>/finalize with empty spec.finalizers completes a namespace stuck Terminating on a
    spec finalizer; pods have no /finalize subresource (404): a pod stuck on metadata.finalizers needs a PATCH."""
    with step("Given a pod held by a metadata finalizer, deleted: it lingers with a deletionTimestamp"):
        ns.apply("control_plane/kubectl/held-pod.yaml", name="held")
        pod_path = f"/api/v1/namespaces/{ns.name}/pods/held"
        with held(cluster, ns.name, "app=held"):
            cluster.core.delete_namespaced_pod("held", ns.name)
            assert cluster.core.read_namespaced_pod("held", ns.name).metadata.deletion_timestamp
            with step("Then the pod has no /finalize subresource"):
                assert apiserver.request(cluster.api, f"{pod_path}/finalize", method="PUT", body={}).status == 404
            with step("When its finalizer is removed by a JSON patch, it is gone"):
                cluster.core.patch_namespaced_pod("held", ns.name, [{"op": "remove", "path": "/metadata/finalizers"}])
                eventually(lambda: apiserver.get(cluster.api, pod_path).status, until=lambda s: s == 404,
                           timeout=timeouts.cleanup, desc="pod deleted")
    with step("Given the namespace with an extra spec finalizer, deleted: it stays Terminating"):
        with apiserver.namespace_finalizer(cluster, ns.name, "kubeproof.io/hold"):
            cluster.core.delete_namespace(ns.name)
            stuck = eventually(lambda: cluster.core.read_namespace(ns.name), until=lambda n: n.status.phase == "Terminating"
                               and n.spec.finalizers == ["kubeproof.io/hold"], timeout=timeouts.cleanup,
                               desc="namespace stuck on its finalizer")
            with step("When /finalize is PUT with no finalizers"):
                stuck.spec.finalizers = []
                cluster.core.replace_namespace_finalize(ns.name, stuck)
            with step("Then the namespace is gone"):
                eventually(lambda: apiserver.get(cluster.api, f"/api/v1/namespaces/{ns.name}").status, until=lambda s: s == 404,
                           timeout=timeouts.cleanup, desc="namespace deleted")
