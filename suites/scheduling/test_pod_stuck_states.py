"""Why pods get stuck: ContainerCreating (a volume that cannot mount, a limit too small or in the
wrong unit), ImagePullBackOff, Pending (resources, selector, taint; a volume bound to another node)
and Terminating (finalizers), each observed with the reason the cluster gives.

Source: seed 000, 2021-02-22~28 › 「Pod异常状态的常见原因」 §1–4. Upstream:
kubernetes.io/docs/tasks/debug/debug-application/debug-pods/ ; …/concepts/storage/volumes/#local ;
…/overview/working-with-objects/finalizers/ .
"""
import pytest

from fixtures.pods import (HOLD_FINALIZER, container_is, event_reasons, events_of, is_bound, release,
                           unschedulable_because, view, wait_gone, wait_pod)
from fixtures.nodes import control_plane, workers
from fixtures.polling import consistently, eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.requires(images=["busybox"])]

NO_SUCH_NODE = "kubeproof-no-such-node"


@pytest.mark.claim("S000-63")
def test_pod_waits_in_container_creating_while_its_config_map_volume_cannot_mount(ns, cluster, timeouts):
    """A missing ConfigMap volume keeps the pod in ContainerCreating with FailedMount events; it
    starts once the ConfigMap exists."""
    with step("Given a pod mounting a ConfigMap that does not exist"):
        ns.apply("scheduling/stuck/configmap-volume.yaml", name="mounts", configmap="later")
    with step("Then it waits in ContainerCreating and the kubelet reports FailedMount"):
        eventually(lambda: event_reasons(cluster, ns.name, "mounts"), until=lambda r: "FailedMount" in r,
                   timeout=timeouts.pod_start, desc="a FailedMount event")
        # the kubelet may publish the container's waiting state a moment after its first event
        stuck = wait_pod(cluster, ns.name, "mounts", container_is("main", "waiting", "ContainerCreating"), timeouts)
        assert stuck.phase == "Pending", stuck
    with step("When the ConfigMap is created"):
        ns.apply("scheduling/stuck/configmap.yaml", name="later")
    with step("Then the pod starts"):
        wait_pod(cluster, ns.name, "mounts", container_is("main", "running"), timeouts)


@pytest.mark.claim("S000-63")
def test_memory_limit_too_small_to_start_a_container_and_one_in_millibytes(ns, cluster, timeouts):
    """A limit too small (1Mi) keeps the pod in ContainerCreating (the runtime's first process is
    OOM-killed as it starts); a limit in the wrong unit
    (`memory: 100m`, i.e. 0.1 byte) is accepted by the API with a warning, and is as unusable."""
    with step("Given a container limited to 1Mi of memory"):
        ns.apply("scheduling/stuck/memory-limited.yaml", name="tiny", limit="1Mi")
    with step("Then the pod's sandbox cannot be created: its first process is OOM-killed at start"):
        # runc names the OOM kill when it sees it; when init dies before reporting, that attempt reads
        # "read init-p: connection reset by peer" instead, so wait across the kubelet's retries.
        eventually(lambda: [e.message for e in events_of(cluster, ns.name, "tiny") if e.reason == "FailedCreatePodSandBox"],
                   until=lambda messages: any("OOM-killed" in m or "memory limit too low" in m for m in messages),
                   timeout=timeouts.pod_start, desc="a FailedCreatePodSandBox event naming the OOM kill")
    with step("And the container never runs: it waits in ContainerCreating"):
        stuck = wait_pod(cluster, ns.name, "tiny", container_is("main", "waiting", "ContainerCreating"), timeouts)
        assert stuck.phase == "Pending", stuck
    with step("When a pod with `memory: 100m` is checked by the API server (dry run)"):
        result = cluster.kubectl("create", "--dry-run=server", "-o", "name", "-f", "-", check=False,
                                 input=_rendered(ns, "memory-limited.yaml", name="millibytes", limit="100m"))
    with step("Then it is accepted, with a warning that a fractional byte value is invalid"):
        assert result.returncode == 0, result.stderr
        assert "fractional byte value" in result.stderr, f"stderr: {result.stderr!r}"


@pytest.mark.claim("S000-64")
def test_pod_with_an_image_it_cannot_pull_goes_from_err_image_pull_to_image_pull_back_off(ns, cluster, timeouts):
    """An image that cannot be pulled leaves the pod Pending with waiting reason ErrImagePull, then
    ImagePullBackOff, and the reason in the Failed event."""
    reasons: set[str] = set()

    def waiting_reasons():
        main = view(cluster, ns.name, "unpullable").containers.get("main")
        if main is not None and main.reason:
            reasons.add(main.reason)
        return set(reasons)

    with step("Given a pod whose image lives in a registry that does not exist"):
        ns.apply("scheduling/stuck/image.yaml", name="unpullable", image="registry.invalid/kubeproof/nope:1")
    with step("Then its container waits in ErrImagePull, then in ImagePullBackOff"):
        eventually(waiting_reasons, until=lambda r: {"ErrImagePull", "ImagePullBackOff"} <= r,
                   timeout=timeouts.pod_start, desc="ErrImagePull then ImagePullBackOff")
        assert view(cluster, ns.name, "unpullable").phase == "Pending"
    with step("And the kubelet's events name the failure"):
        assert {"Failed", "BackOff"} <= set(event_reasons(cluster, ns.name, "unpullable")), event_reasons(cluster, ns.name, "unpullable")


@pytest.mark.claim("S000-65")
@pytest.mark.requires(multinode=True, images=["agnhost"])
def test_pod_stays_pending_for_resources_selector_or_taint_with_the_schedulers_reason(ns, cluster, timeouts):
    """Each cause keeps the pod Pending, PodScheduled=False/Unschedulable, with its own message:
    Insufficient cpu; didn't match Pod's node affinity/selector; untolerated taint."""
    worker = workers(cluster)[0]
    cases = {
        "too-big": (worker, "{requests: {cpu: '1000'}}", "Insufficient cpu"),
        "no-match": (NO_SUCH_NODE, "{}", "didn't match Pod's node affinity/selector"),
        "tainted": (control_plane(cluster), "{}", "untolerated taint"),
    }
    with step("Given a pod asking for 1000 CPUs, one selecting no existing node, one only for the tainted control plane"):
        for name, (node, resources, _) in cases.items():
            ns.apply("scheduling/requests/idle-pod.yaml", name=name, node=node, resources=resources)
    with step("Then each stays Pending with the scheduler naming its cause"):
        for name, (_, _, cause) in cases.items():
            wait_pod(cluster, ns.name, name, unschedulable_because(cause), timeouts, budget="controller_sync")


@pytest.mark.claim("S000-66")
@pytest.mark.requires(multinode=True)
def test_pod_whose_volume_is_bound_to_another_node_cannot_be_scheduled_elsewhere(ns, cluster, cluster_objects, timeouts):
    """A pod bound to a volume pinned to node A (local PV) can only run on A: kept off A (as after an
    eviction), it is Pending because the other node "didn't match PersistentVolume's node affinity"
    (older schedulers: "volume node affinity conflict"); allowed onto A, it is scheduled there."""
    home, other = workers(cluster)[:2]
    pv = f"{ns.name}-local"
    with step(f"Given a local PersistentVolume on {home}, bound to a claim"):
        cluster_objects.track("v1", "PersistentVolume", pv)
        ns.apply("scheduling/stuck/node-bound-volume.yaml", name="data", pv=pv, node=home)
    with step(f"When a pod using the claim may not go to {home}"):
        ns.apply("scheduling/stuck/volume-user.yaml", name="displaced", claim="data", avoid=f'["{home}"]')
    with step(f"Then it stays Pending: {other} does not match the PersistentVolume's node affinity"):
        # the document's era and the claim say "volume node affinity conflict"; 1.34 words it so:
        wait_pod(cluster, ns.name, "displaced", unschedulable_because("didn't match PersistentVolume's node affinity"),
                 timeouts, budget="controller_sync")
    with step(f"And the same pod allowed onto {home} is scheduled there (the control)"):
        ns.apply("scheduling/stuck/volume-user.yaml", name="at-home", claim="data", avoid=f'["{NO_SUCH_NODE}"]')
        placed = wait_pod(cluster, ns.name, "at-home", is_bound, timeouts, budget="controller_sync")
        assert placed.node == home, placed


@pytest.mark.claim("S000-67")
def test_deleted_pod_with_a_finalizer_stays_terminating_until_the_finalizer_is_removed(ns, cluster, timeouts):
    """A pod with a finalizer outlives its deletion (deletionTimestamp set, containers stopped) until
    the finalizer is removed; then it is gone."""
    with step(f"Given a running pod carrying the finalizer {HOLD_FINALIZER}"):
        ns.apply("scheduling/stuck/held-pod.yaml", name="held")
        wait_pod(cluster, ns.name, "held", container_is("main", "running"), timeouts)
    try:
        with step("When it is deleted"):
            cluster.core.delete_namespaced_pod("held", ns.name)
        with step("Then its containers stop, but the object stays, Terminating"):
            stopped = wait_pod(cluster, ns.name, "held", lambda p: p.deleting and p.container("main").state == "terminated",
                               timeouts, desc="held: containers stopped, object deleting")
            consistently(lambda: view(cluster, ns.name, "held"), holds=lambda p: p.deleting,
                         duration=timeouts.short_hold, desc="held still Terminating")
            assert stopped.phase in ("Succeeded", "Failed"), stopped
        with step("When the finalizer is removed"):
            release(cluster, ns.name, "held")
        with step("Then the pod is gone"):
            wait_gone(cluster, ns.name, "held", timeouts, budget="apply")
    finally:
        release(cluster, ns.name, "held")


def _rendered(ns, manifest: str, **params) -> str:
    import yaml

    from fixtures.manifests import render

    docs = render(f"scheduling/stuck/{manifest}", namespace=ns.name,
                  **{f"image_{role}": ref for role, ref in ns.images.items()}, **params)
    return yaml.safe_dump_all(docs)
