"""Container ends as the kubelet reports them: runtime-prefixed IDs, exit codes, terminated and waiting reasons.

Seed 000 2021-02-22~28 › 快速进入容器命名空间 (IDs "docker://…") and › 保留Exit Code (0–255; 128+n for
signal n; exit(-1) gives 255); seed 003 「生命周期」 (container states Waiting/Running/Terminated and their
reasons; OOMKilled with 137). The exit-code arithmetic holds; the docker:// prefix no longer does: the
runtime here is containerd (dockershim was removed in 1.24).
Source: https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#container-states
"""
import pytest

from fixtures.pods import container_is, phase_is, view, wait_pod
from fixtures.reporting import step
from fixtures.runtime import KUBELET_OOM_REASONS, container_end

# one worker runs the module, so its shared workload is created once (module_ns)
pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(images=["busybox"]), pytest.mark.xdist_group("pods-exit-codes")]

DOCKERSHIM_REMOVED = (1, 24)
# container -> (exit code, reason) as the kubelet must report them (the OOM kill's reason: its own test)
EXPECTED = {
    "ok": (0, "Completed"),
    "three": (3, "Error"),
    "minus-one": (255, "Error"),  # awk's exit(-1): the status is taken modulo 256
    "oom": (137, None),  # reason OOMKilled, or Error where containerd's OOM event trails the exit or is lost
    "oom-reported": (137, "OOMKilled"),  # a shell whose child was OOM-killed exits 137 five seconds later
    "killed": (137, "Error"),  # 128 + SIGKILL (9)
    "termed": (143, "Error"),  # 128 + SIGTERM (15)
    "interrupted": (130, "Error"),  # 128 + SIGINT (2)
    "killer": (0, "Completed"),
}


@pytest.fixture(scope="module")
def ended(module_ns, cluster, timeouts):
    """Given pod 'codes' (restartPolicy Never) whose containers exit, are signalled, OOM-killed or cannot start."""
    module_ns.apply("pods/exit-codes/codes.yaml", name="codes")
    return wait_pod(cluster, module_ns.name, "codes", phase_is("Failed", "Succeeded"), timeouts)


@pytest.mark.claim("S000-61")
def test_container_ids_carry_the_container_runtimes_prefix_not_docker(module_ns, cluster, server_version, ended):
    """Documented: container IDs read `docker://<id>`. Today they carry the CRI runtime's prefix (containerd://)."""
    with step("Given every container status of every pod in the cluster, and every node's runtime"):
        ids = [s.container_id for p in cluster.core.list_pod_for_all_namespaces().items
               for s in [*(p.status.init_container_statuses or []), *(p.status.container_statuses or [])] if s.container_id]
        runtimes = {n.metadata.name: n.status.node_info.container_runtime_version for n in cluster.core.list_node().items}
    with step("Then each node runs containerd, and each container ID starts with containerd://"):
        assert ids and all(v.startswith("containerd://") for v in runtimes.values()), runtimes
        prefixes = sorted({i.split("://")[0] for i in ids})
        assert prefixes == ["containerd"], f"container ID prefixes seen: {prefixes}"
    with step("And none carries the document's docker:// prefix"):
        if server_version >= DOCKERSHIM_REMOVED:
            assert not any(i.startswith("docker://") for i in ids), "[behaviour-changed] docker:// IDs on a post-dockershim cluster"


@pytest.mark.claim("S000-62", "S003-014")
@pytest.mark.parametrize("container", sorted(EXPECTED))
def test_a_container_reports_its_exit_status_in_0_to_255_with_128_plus_the_signal_number(container, ended):
    """exit n gives n, exit(-1) gives 255, death by signal n gives 128+n (137 SIGKILL, 143 SIGTERM, 130 SIGINT)."""
    code, reason = EXPECTED[container]
    c = ended.container(container)
    with step(f"Then container {container} is terminated with exit code {code}" + (f" and reason {reason}" if reason else "")):
        assert c.state == "terminated" and c.exit_code == code, c
        assert reason is None or c.reason == reason, c


@pytest.mark.claim("S003-014")
@pytest.mark.requires(node_access=True)
def test_an_oom_killed_container_is_told_from_a_sigkilled_one_by_the_kernels_record_and_its_reason(ended, cluster):
    """Both end with 137 (SIGKILL); only the OOM kill is one. The kernel logs it in the container's memory cgroup;
    the reason reads OOMKilled once containerd has its OOM event: always when the event comes while the container
    still runs ('oom-reported'), not always when the victim is PID 1 (the event can trail the exit or be lost:
    Error). The sibling killed with SIGKILL has no kernel record and reads Error."""
    oom, reported, killed = (ended.container(c) for c in ("oom", "oom-reported", "killed"))
    with step("When the node's kernel log and containerd's record of the three containers are read"):
        oom_end, reported_end, killed_end = (container_end(cluster, ended.node, c.container_id) for c in (oom, reported, killed))
    with step("Then the kernel OOM-killed in the memory cgroups of 'oom' and 'oom-reported'"):
        assert oom_end.oom_killed and oom_end.exit_code == 137, oom_end
        assert reported_end.oom_killed and reported_end.exit_code == 137, reported_end
    with step("And 'oom-reported', which lived on after the kill, is terminated OOMKilled"):
        assert (reported.reason, reported_end.runtime_reason) == ("OOMKilled", "OOMKilled"), (reported, reported_end)
    with step(f"And 'oom' reads OOMKilled or, where containerd's event came late or not at all, Error: {oom.reason}"):
        assert oom.reason in KUBELET_OOM_REASONS, (oom, oom_end)
    with step("And 'killed' (SIGKILL, 137 too) has no OOM kill: no kernel record, reason Error"):
        assert not killed_end.oom_killed and killed_end.runtime_reason == "" and killed_end.exit_code == 137, killed_end
        assert killed.reason == "Error", killed


@pytest.mark.claim("S003-014")
def test_a_container_that_cannot_start_is_terminated_with_start_error(ended):
    """A command missing from the image ends the container as terminated, reason StartError (exit 128 on containerd)."""
    c = ended.container("nosuch")
    with step("Then 'nosuch' is terminated with reason StartError and a message naming the missing command"):
        assert c.state == "terminated" and c.reason == "StartError" and "/no/such/command" in (c.message or ""), c
        assert c.exit_code == 128, c


@pytest.mark.claim("S003-014")
def test_every_container_status_holds_exactly_one_state(module_ns, cluster, ended):
    """A container's state has exactly one of waiting, running, terminated."""
    raw = cluster.core.read_namespaced_pod("codes", module_ns.name).status.container_statuses
    with step("Then each container status sets exactly one of waiting / running / terminated"):
        for s in raw:
            set_ = [k for k in ("waiting", "running", "terminated") if getattr(s.state, k) is not None]
            assert len(set_) == 1, f"{s.name}: {set_}"


@pytest.mark.claim("S003-014")
def test_a_container_whose_config_cannot_be_built_waits_with_create_container_config_error(module_ns, cluster, timeouts, ended):
    """An env var from a missing ConfigMap keeps the container waiting: CreateContainerConfigError, pod Pending."""
    with step("Then the container of 'codes-misconfigured' waits with reason CreateContainerConfigError"):
        pod = wait_pod(cluster, module_ns.name, "codes-misconfigured", container_is("app", "waiting", "CreateContainerConfigError"), timeouts)
        assert "no-such-configmap" in (pod.container("app").message or ""), pod.container("app")
    with step("And the pod is Pending: bound, but its container was never created"):
        assert pod.phase == "Pending" and view(cluster, module_ns.name, "codes-misconfigured").node, pod
