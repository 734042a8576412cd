"""Why containers are not created (seed 003 「依赖项错误」 and 「容器创建失败」): a missing ConfigMap keeps
the pod Pending (ContainerCreating for a volume, CreateContainerConfigError for env) until it appears;
an unbound claim keeps it unscheduled; a mount into /proc fails at container start; a command that does
not exist fails to start (exit 128) and loops; command replaces the image ENTRYPOINT, args its CMD.

The document calls the dependency state "Error": the cluster says ContainerCreating /
CreateContainerConfigError / Unschedulable. Source: kubernetes.io/docs/concepts/configuration/configmap/
(optional references), /docs/tasks/inject-data-application/define-command-argument-container/,
/docs/concepts/storage/persistent-volumes/#access-modes (access modes are not enforced on mounts).
"""
import pytest

from fixtures.nodes import workers
from fixtures.podexec import exec_in
from fixtures.pods import backing_off, container_is, events_of, phase_is, restarted_at_least, unschedulable_because, wait_pod
from fixtures.polling import eventually
from fixtures.registry import imported_image
from fixtures.reporting import step

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.requires(images=["agnhost", "busybox"])]

START_FAILURES = ("StartError", "RunContainerError", "CreateContainerError")
NO_COMMAND_IMAGE = "kubeproof/no-command:1"


@pytest.mark.claim("S003-042", "S003-028")
def test_missing_configmap_keeps_the_pod_pending_until_it_is_created(ns, cluster, timeouts):
    """A missing ConfigMap mounted as a volume leaves the pod Pending with its container waiting
    ContainerCreating and FailedMount events; referenced from env, the container waits
    CreateContainerConfigError; an optional reference blocks nothing. Creating the ConfigMaps lets
    both pods start, as the same pods (not recreated)."""
    with step("When pods reference absent ConfigMaps: one as a volume, one from env, one as an optional volume"):
        ns.apply("scheduling/pod-failures/pod-configmap-volume.yaml", name="by-volume", configmap="absent-volume", optional=False)
        ns.apply("scheduling/pod-failures/pod-configmap-env.yaml", name="by-env", configmap="absent-env")
        ns.apply("scheduling/pod-failures/pod-configmap-volume.yaml", name="optional", configmap="absent-optional", optional=True)
    with step("Then the volume pod is Pending, its container ContainerCreating, with FailedMount events"):
        vol = wait_pod(cluster, ns.name, "by-volume", lambda p: p.phase == "Pending" and p.node is not None, timeouts)
        eventually(lambda: [e.message for e in events_of(cluster, ns.name, "by-volume") if e.reason == "FailedMount"],
                   until=lambda ms: any('configmap "absent-volume" not found' in m for m in ms),
                   timeout=timeouts.pod_start, desc="FailedMount naming the ConfigMap")
        p = wait_pod(cluster, ns.name, "by-volume", container_is("app", "waiting", "ContainerCreating"), timeouts)
        assert p.phase == "Pending", p
    with step("And the env pod is Pending, its container waiting CreateContainerConfigError"):
        env = wait_pod(cluster, ns.name, "by-env", container_is("app", "waiting", "CreateContainerConfigError"), timeouts)
        assert env.phase == "Pending" and "absent-env" in (env.container("app").message or ""), env
    with step("And the optional reference (the negative control) blocks nothing"):
        wait_pod(cluster, ns.name, "optional", phase_is("Running"), timeouts)
    with step("When the ConfigMaps are created, both pods start, the same pods as before"):
        ns.apply("scheduling/pod-failures/configmap.yaml", name="absent-volume")
        ns.apply("scheduling/pod-failures/configmap.yaml", name="absent-env")
        for before in (vol, env):
            after = wait_pod(cluster, ns.name, before.name, phase_is("Running"), timeouts)
            assert after.uid == before.uid, f"{before.name} was recreated"


@pytest.mark.claim("S003-042", "S003-028")
def test_unbound_claim_keeps_the_pod_unscheduled(ns, cluster, timeouts):
    """A pod whose PersistentVolumeClaim cannot bind (no class, no volume) is not scheduled: Pending,
    "pod has unbound immediate PersistentVolumeClaims"."""
    with step("When a pod uses a claim nothing can bind"):
        ns.apply("scheduling/pod-failures/pod-unbound-pvc.yaml", name="no-volume")
    with step("Then it is Unschedulable for the unbound claim, in phase Pending"):
        p = wait_pod(cluster, ns.name, "no-volume", unschedulable_because("unbound immediate PersistentVolumeClaims"), timeouts)
        assert p.phase == "Pending", p


@pytest.mark.claim("S003-043")
def test_volume_mounted_inside_proc_fails_the_container_at_start(ns, cluster, timeouts):
    """A volume mounted at a path inside /proc makes the runtime refuse the container: it never runs
    and ends with a start error naming the /proc destination; the same pod mounting elsewhere runs."""
    with step("When a pod mounts an emptyDir at /proc/kubeproof, and a twin mounts it at /scratch"):
        ns.apply("scheduling/pod-failures/pod-proc-mount.yaml", name="in-proc", path="/proc/kubeproof")
        ns.apply("scheduling/pod-failures/pod-proc-mount.yaml", name="elsewhere", path="/scratch")
    with step("Then the /proc pod's container fails to start, the error naming /proc"):
        def start_failed(p):
            c = p.containers.get("app")
            return c is not None and c.reason in START_FAILURES

        p = wait_pod(cluster, ns.name, "in-proc", start_failed, timeouts)
        c = p.container("app")
        assert "/proc" in (c.message or ""), f"{c.reason}: {c.message}"
        assert not c.started and c.state != "running", c
    with step("And the twin (the negative control) runs"):
        wait_pod(cluster, ns.name, "elsewhere", phase_is("Running"), timeouts)


@pytest.mark.claim("S003-043")
@pytest.mark.requires(node_access=True)
def test_read_only_many_access_mode_does_not_make_a_host_path_mount_read_only(ns, cluster, cluster_objects, timeouts):
    """Access modes describe how a volume may be attached, they do not make mounts read-only: a
    ReadOnlyMany hostPath volume mounted without readOnly is writable (driver-dependent; hostPath and
    local are writable)."""
    node = workers(cluster)[0]
    with step(f"Given a ReadOnlyMany hostPath PersistentVolume on {node}, claimed and mounted without readOnly"):
        ns.apply("scheduling/pod-failures/hostpath-rox-pv.yaml", name=f"{ns.name}-rox", node=node)
        cluster_objects.track("v1", "PersistentVolume", f"{ns.name}-rox")
        wait_pod(cluster, ns.name, f"{ns.name}-rox", phase_is("Running"), timeouts)
    with step("When the container writes (and removes) a file on the volume"):
        res = exec_in(cluster, ns.name, f"{ns.name}-rox", "app",
                      ["sh", "-c", f"touch /data/{ns.name} && rm /data/{ns.name} && echo written"])
    with step("Then the write succeeds: the mount is read-write"):
        assert res.returncode == 0 and "written" in res.stdout, res


@pytest.mark.claim("S003-047")
def test_a_command_that_does_not_exist_fails_to_start_with_exit_128_and_loops(ns, cluster, timeouts):
    """A container whose command is not found fails to start: terminated reason StartError (or
    RunContainerError), exit code 128, message "executable file not found in $PATH"; with
    restartPolicy Always it is retried and goes to CrashLoopBackOff."""
    with step("When a pod's command is 'no-such-binary'"):
        ns.apply("scheduling/pod-failures/pod-command.yaml", name="typo", restart="Always", command='["no-such-binary"]')
    with step("Then its container failed to start with exit 128, executable not found"):
        p = wait_pod(cluster, ns.name, "typo", restarted_at_least("app", 1), timeouts)
        c = p.container("app")
        assert (c.last_reason, c.last_exit_code) in {(r, 128) for r in START_FAILURES}, c
        last = cluster.core.read_namespaced_pod("typo", ns.name).status.container_statuses[0].last_state.terminated
        assert any("executable file not found in $PATH" in (m or "") for m in (c.message, last.message)), (c, last)
    with step("And it goes to CrashLoopBackOff"):
        wait_pod(cluster, ns.name, "typo", backing_off(cluster, ns.name, "typo", "app"), timeouts,
                 budget="crash_backoff")


@pytest.mark.claim("S003-047")
def test_command_replaces_the_image_entrypoint_and_args_replace_its_cmd(ns, cluster, timeouts):
    """agnhost's image has ENTRYPOINT ["/agnhost"] and CMD ["pause"]: a pod with only `command`
    runs exactly that command (the image's CMD is dropped too); a pod with only `args` runs the
    image's ENTRYPOINT with those args."""
    with step("When one pod sets command [/bin/echo, replaced] and another sets args [etc-hosts]"):
        ns.apply("scheduling/pod-failures/pod-agnhost-command.yaml", name="by-command", restart="Never",
                 command='["/bin/echo", "replaced"]')
        ns.apply("scheduling/pod-failures/pod-args-only.yaml", name="by-args", args='["etc-hosts"]')
    with step("Then the command pod printed exactly 'replaced' (no 'pause' appended) and succeeded"):
        wait_pod(cluster, ns.name, "by-command", phase_is("Succeeded"), timeouts)
        assert cluster.core.read_namespaced_pod_log("by-command", ns.name).strip() == "replaced"
    with step("And the args pod ran /agnhost etc-hosts: it printed the pod's /etc/hosts and succeeded"):
        wait_pod(cluster, ns.name, "by-args", phase_is("Succeeded"), timeouts)
        assert "Kubernetes-managed hosts file" in cluster.core.read_namespaced_pod_log("by-args", ns.name)


@pytest.mark.claim("S003-046")
@pytest.mark.requires(node_access=True)
def test_an_image_without_entrypoint_or_cmd_and_a_pod_without_command_fails_to_create(ns, cluster, timeouts):
    """An image whose config has neither ENTRYPOINT nor CMD, run by a pod that sets no command either:
    the runtime cannot build a process, the container waits CreateContainerError "no command specified"
    and the pod stays Pending. The same image with a command in the pod runs (the negative control)."""
    node = workers(cluster)[-1]
    with step(f"Given image {NO_COMMAND_IMAGE} on {node}: one layer (a plain file), no Entrypoint, no Cmd"):
        with imported_image(cluster, node, NO_COMMAND_IMAGE, {"marker": "no command\n"}, {"Env": ["PATH=/bin"]}) as image:
            with step("When a pod runs it without a command"):
                ns.apply("scheduling/pod-failures/pod-local-image.yaml", name="bare", node=node, image=image)
            with step("Then its container waits CreateContainerError, naming the missing command, and the pod stays Pending"):
                p = wait_pod(cluster, ns.name, "bare", container_is("app", "waiting", "CreateContainerError"), timeouts)
                assert "no command specified" in (p.container("app").message or ""), p.container("app")
                assert p.phase == "Pending", p
            with step("And a pod giving a command for the same image gets past creation (it fails to start: the layer has no such binary)"):
                ns.apply("scheduling/pod-failures/pod-local-image-command.yaml", name="commanded", node=node, image=image,
                         command='["/marker"]')
                c = wait_pod(cluster, ns.name, "commanded", lambda v: v.container("app").state == "terminated", timeouts,
                             desc="commanded's container terminated").container("app")
                assert c.reason != "CreateContainerError" and "no command specified" not in (c.message or ""), c
