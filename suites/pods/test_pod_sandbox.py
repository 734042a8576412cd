"""A pod outlives its containers: restarts happen in place, inside the one sandbox, on the one node.

Seed 002 「原理」(Pod), 「关于Pause容器 / Infra容器」, 「Pod的恢复机制」; seed 003 「Pod」(存储, 使用Pod).
The documents say a pod has one IP shared by its containers and "lives as long as the infra
container"; replacing one container's image or killing app containers does not recreate the pod;
an emptyDir keeps files across container restarts; a pod's recovery always happens on its node
(moving it takes a new pod). All hold, with two refinements asserted here: killing the sandbox
restarts every container, and with restartPolicy Never killing all containers ends the pod.
Source: https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#container-restarts
"""
import pytest

from fixtures.api_calls import answer_of, bind
from fixtures.pods import is_ready, phase_is, view, wait_pod
from fixtures.podexec import sh_in
from fixtures.polling import eventually
from fixtures.reporting import step
from fixtures.runtime import kill_sandbox, pod_runtime

# one worker runs the module, so its shared workload is created once (module_ns)
pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(images=["busybox"]), pytest.mark.xdist_group("pods-sandbox")]

MANIFEST = "pods/sandbox/pod.yaml"


def _start(ns, cluster, timeouts, name, restart_policy="Always"):
    ns.apply(MANIFEST, name=name, restart_policy=restart_policy)
    return wait_pod(cluster, ns.name, name, is_ready, timeouts)



def _stop_main(cluster, ns, pod, container):
    """`kill 1` through exec: the main shell traps SIGTERM and exits. The exec'd kill may itself be killed
    (137) when its container's PID 1 goes first; the restart, or the end, is what tests assert."""
    assert sh_in(cluster, ns, pod, container, "kill 1").returncode in (0, 137)


def _restarted(container, before):
    def check(p):
        c = p.containers.get(container)
        return c is not None and c.restarts > before and c.running and p.ready
    check.__name__ = f"{container} restarted and running again"
    return check


@pytest.fixture(scope="module")
def app_restart(module_ns, cluster, timeouts):
    """Given pod 'keeper' whose 'app' wrote /data/kept (emptyDir) and /tmp/lost (its own filesystem),
    when 'app' is killed (kill 1 → exit 3), the pod before and after the kubelet restarted it."""
    before = _start(module_ns, cluster, timeouts, "keeper")
    for script in ("echo kept > /data/kept", "echo lost > /tmp/lost"):
        assert sh_in(cluster, module_ns.name, "keeper", "app", script).returncode == 0
    _stop_main(cluster, module_ns.name, "keeper", "app")
    after = wait_pod(cluster, module_ns.name, "keeper", _restarted("app", before.container("app").restarts), timeouts)
    files = {f: sh_in(cluster, module_ns.name, "keeper", "app", f"cat {f}") for f in ("/data/kept", "/tmp/lost", "/data/starts")}
    return before, after, files


@pytest.mark.claim("S002-073")
def test_restarting_a_container_keeps_the_pod_its_uid_and_its_ip(app_restart):
    """Killing an app container restarts just that container: same pod UID, same pod IP."""
    before, after, _ = app_restart
    with step("Then 'app' ran again after exiting 3, and 'buddy' was not restarted"):
        assert after.container("app").last_exit_code == 3, after.container("app")
        assert after.container("app").container_id != before.container("app").container_id, after.container("app")
        assert after.container("buddy").restarts == 0, after.container("buddy")
    with step("And the pod kept its UID and its IP"):
        assert (after.uid, after.ip) == (before.uid, before.ip), f"before {before.uid} {before.ip}, after {after.uid} {after.ip}"


@pytest.mark.claim("S003-003")
def test_an_emptydir_survives_a_container_restart_while_the_container_filesystem_does_not(app_restart):
    """After a restart, a file in the emptyDir is still there; a file in the container's own filesystem is gone."""
    _, _, files = app_restart
    with step("Then the restarted 'app' still reads /data/kept, and /data/starts shows two starts"):
        assert files["/data/kept"].stdout.strip() == "kept", files["/data/kept"]
        assert files["/data/starts"].stdout.split() == ["start", "start"], files["/data/starts"]
    with step("And /tmp/lost, written to the container's writable layer, is gone"):
        assert files["/tmp/lost"].returncode != 0, files["/tmp/lost"]


@pytest.mark.claim("S003-003")
@pytest.mark.requires(node_access=True)
def test_an_emptydir_is_deleted_with_its_pod(ns, cluster, timeouts):
    """The emptyDir's directory on the node disappears when the pod is deleted."""
    pod = _start(ns, cluster, timeouts, "ephemeral")
    path = f"/var/lib/kubelet/pods/{pod.uid}/volumes/kubernetes.io~empty-dir/data"
    with step(f"Given the pod's emptyDir exists on {pod.node} at {path}"):
        assert cluster.node_exec(pod.node, "test", "-d", path).returncode == 0
    with step("When the pod is deleted"):
        cluster.core.delete_namespaced_pod("ephemeral", ns.name)
    with step("Then the directory is removed from the node"):
        eventually(lambda: cluster.node_exec(pod.node, "test", "-e", path).returncode, until=lambda rc: rc != 0,
                   timeout=timeouts.cleanup, desc=f"{path} removed")


@pytest.mark.claim("S002-112", "S003-004")
def test_a_bound_pod_restarts_in_place_and_cannot_be_moved_to_another_node(module_ns, cluster, app_restart):
    """spec.nodeName is immutable once set: restarts happen on the same node, and rebinding is refused."""
    before, after, _ = app_restart
    other = next(n.metadata.name for n in cluster.core.list_node().items if n.metadata.name != after.node)
    with step("Then the restart happened on the pod's node"):
        assert after.node == before.node, (before.node, after.node)
    with step(f"When spec.nodeName is patched to {other}"):
        patched = answer_of(lambda: cluster.core.patch_namespaced_pod("keeper", module_ns.name, {"spec": {"nodeName": other}}))
    with step("Then the API server refuses the change as invalid"):
        assert patched.status == 422, patched
    with step(f"When the pod is bound again, to {other}, the way the scheduler binds"):
        rebound = bind(cluster, module_ns.name, "keeper", other)
    with step("Then the binding is refused: the pod is already assigned"):
        assert rebound.status == 409 and "already assigned" in rebound.message, rebound
        assert view(cluster, module_ns.name, "keeper").node == before.node


@pytest.mark.claim("S002-073")
@pytest.mark.requires(node_access=True)
def test_killing_the_sandbox_makes_the_kubelet_recreate_it_and_restart_every_container(module_ns, cluster, timeouts):
    """A dead sandbox is replaced by a new one, and all of the pod's containers are restarted in it."""
    before = _start(module_ns, cluster, timeouts, "crashable")
    old = pod_runtime(cluster, before.node, before.uid).sandbox
    with step(f"When the sandbox's pause process is SIGKILLed on {before.node}"):
        kill_sandbox(cluster, before.node, old.id)
    with step("Then the kubelet starts a new sandbox"):
        rt = eventually(lambda: pod_runtime(cluster, before.node, before.uid),
                        until=lambda r: any(s.running and s.id != old.id for s in r.sandboxes),
                        timeout=timeouts.pod_start, desc="a new running sandbox")
    with step("And both containers were restarted, in the same pod object (same UID)"):
        after = wait_pod(cluster, module_ns.name, "crashable",
                         lambda p: is_ready(p) and all(p.container(c).restarts >= 1 for c in ("app", "buddy")), timeouts)
        assert after.uid == before.uid
    with step("And the new sandbox has a network namespace of its own, which the new containers joined"):
        rt = pod_runtime(cluster, before.node, before.uid)
        # by the namespace containerd made for it: the kernel reuses a freed namespace's inode number
        assert rt.sandbox.netns_path and rt.sandbox.netns_path != old.netns_path, f"old: {old.netns_path}\n{rt}"
        assert rt.container("app").namespaces["net"] == rt.sandbox.namespaces["net"], rt


@pytest.mark.claim("S002-080")
def test_patching_one_containers_image_restarts_only_that_container(module_ns, cluster, images, timeouts):
    """A new image on one container restarts that container only: same pod UID and IP, new imageID."""
    before = _start(module_ns, cluster, timeouts, "patched")
    with step("When app's image is patched from busybox to nginx (same command: a shell sleeping)"):
        body = {"spec": {"containers": [{"name": "app", "image": images["nginx"]}]}}
        cluster.core.patch_namespaced_pod("patched", module_ns.name, body)
    with step("Then 'app' restarted once with the new image, and 'buddy' did not restart"):
        after = wait_pod(cluster, module_ns.name, "patched", _restarted("app", 0), timeouts)
        app = after.container("app")
        assert app.restarts == 1 and app.image_id != before.container("app").image_id, (before.container("app"), app)
        assert after.container("buddy").restarts == 0, after.container("buddy")
    with step("And the pod kept its UID and IP"):
        assert (after.uid, after.ip) == (before.uid, before.ip)


@pytest.mark.claim("S002-080")
def test_killing_every_container_keeps_a_restart_always_pod_running(module_ns, cluster, timeouts):
    """With restartPolicy Always, a pod whose containers were all killed stays, Running, and restarts them."""
    before = _start(module_ns, cluster, timeouts, "all-killed")
    with step("When both containers are killed"):
        for c in ("app", "buddy"):
            _stop_main(cluster, module_ns.name, "all-killed", c)
    with step("Then both are restarted in the same pod, which never left Running"):
        after = wait_pod(cluster, module_ns.name, "all-killed",
                         lambda p: is_ready(p) and all(p.container(c).restarts >= 1 for c in ("app", "buddy")), timeouts)
        assert (after.uid, after.phase) == (before.uid, "Running"), after


@pytest.mark.claim("S002-080")
@pytest.mark.requires(node_access=True)
def test_killing_every_container_of_a_restart_never_pod_ends_it_and_its_sandbox(module_ns, cluster, timeouts):
    """With restartPolicy Never the pod does exit: all containers killed → Failed, and the sandbox is stopped."""
    before = _start(module_ns, cluster, timeouts, "finite", restart_policy="Never")
    with step("When both containers are killed (app exits 3, buddy exits 0)"):
        for c in ("app", "buddy"):
            _stop_main(cluster, module_ns.name, "finite", c)
    with step("Then the pod is Failed and nothing was restarted"):
        after = wait_pod(cluster, module_ns.name, "finite", phase_is("Failed"), timeouts)
        assert after.restarts == 0, after
    with step("And its sandbox is stopped on the node"):
        eventually(lambda: pod_runtime(cluster, before.node, before.uid), until=lambda r: not any(s.running for s in r.sandboxes),
                   timeout=timeouts.pod_start, desc="sandbox of the finished pod stopped")
