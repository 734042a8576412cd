"""Memory limits: exceeding one gets the container OOM-killed by the kernel (OOMKilled, 137) and
restarted in place, in the same pod on the same node; nothing is rescheduled.

Source: seed 001, 2021-09-20~26 › 「k8s CPU limit 和 throttling」 (「超过将被OOM Kill并重新调度POD」:
the rescheduling part is wrong); seed 001 2021-03-08~14 › 「linux oom」 §4.3 (swap); seed 002
「Pod的资源分配 QoS」; seed 003 「OOMKilled」; seed 000 2021-02-22~28 › 「Pod异常状态的常见原因」 §6–7.
Upstream: kubernetes.io/docs/tasks/configure-pod-container/assign-memory-resource/ . Limits are
tiny (32Mi): the kernel kills inside the container's cgroup, host memory is never filled.
"""
import pytest

from fixtures import cgroups
from fixtures.exclusivity import cluster_in_use
from fixtures.nodes import kubelet_config
from fixtures.pods import container_is, restarted_at_least, view, wait_pod
from fixtures.polling import eventually
from fixtures.reporting import step
from fixtures.runtime import KUBELET_OOM_REASONS, container_end

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.requires(images=["busybox"])]

LIMIT = "32Mi"
OOM_EXIT_CODE = 137  # 128 + SIGKILL


@pytest.fixture(scope="module")
def oomed_once(module_ns, cluster, timeouts):
    """Given a pod whose container exceeds its 32Mi limit on its first run, then sleeps after a restart."""
    with cluster_in_use(cluster):
        return _oom_once(module_ns, cluster, timeouts)


def _oom_once(module_ns, cluster, timeouts):
    with step(f"Given a container limited to {LIMIT} that reads 64 MiB into one buffer on its first run"):
        module_ns.apply("scheduling/resources/oom-once.yaml", name="oom-once", limit=LIMIT)
        first = wait_pod(cluster, module_ns.name, "oom-once", lambda p: p.node is not None, timeouts)
    with step("When the kernel kills it and the kubelet restarts it"):
        after = wait_pod(cluster, module_ns.name, "oom-once",
                         lambda p: restarted_at_least("main", 1)(p) and container_is("main", "running")(p), timeouts,
                         desc="oom-once restarted once and running again")
    return module_ns, first, after


@pytest.mark.claim("S001-02", "S002-096", "S003-055")
@pytest.mark.severity("critical")
@pytest.mark.requires(node_access=True)
def test_container_over_its_memory_limit_is_oom_killed_with_137(oomed_once, cluster):
    """A container allocating beyond limits.memory is killed by the kernel's OOM killer: exit code 137
    (SIGKILL). Memory is incompressible: no throttling, a kill. The kernel's log says so for certain;
    lastState.terminated.reason reads OOMKilled, or Error when containerd's OOM event trails the exit or is
    lost (containerd#12260, #8893: fixtures/runtime.py)."""
    _, _, after = oomed_once
    main = after.container("main")
    with step("Then its last run ended with exit code 137"):
        assert main.last_exit_code == OOM_EXIT_CODE, main
    with step("And the kernel's log names its memory cgroup in an OOM kill"):
        end = container_end(cluster, after.node, main.last_container_id)
        assert end.oom_killed, end
    with step(f"And lastState.terminated.reason reads OOMKilled (or Error where the race hit): {main.last_reason}"):
        assert main.last_reason in KUBELET_OOM_REASONS, main


@pytest.mark.claim("S001-02", "S003-056")
@pytest.mark.severity("critical")
def test_oom_killed_container_restarts_in_the_same_pod_on_the_same_node(oomed_once, cluster):
    """The document says the pod is "rescheduled" after an OOM kill (wrong): the container restarts
    in place, per restartPolicy; the pod keeps its UID, node, IP and volumes."""
    ns, first, after = oomed_once
    with step("Then the pod after the restart is the same object on the same node with the same IP"):
        assert (after.uid, after.node) == (first.uid, first.node), f"before: {first}\nafter: {after}"
        assert after.ip == first.ip or first.ip is None, f"pod IP changed: {first.ip} -> {after.ip}"
    with step("And its emptyDir survived (the restarted container found its first run's mark)"):
        log = cluster.core.read_namespaced_pod_log("oom-once", ns.name, container="main")
        assert "restarted after the OOM kill" in log, f"log of the restarted container: {log!r}"
    with step("And no other pod was created in its place"):
        assert [p.metadata.name for p in cluster.core.list_namespaced_pod(ns.name, label_selector="app=oom-once").items] == ["oom-once"]


@pytest.mark.claim("S003-056")
@pytest.mark.requires(node_access=True)
def test_only_the_hungriest_process_is_killed_on_cgroup_v1_the_whole_container_on_v2(module_ns, cluster, timeouts):
    """Several processes in a container over its limit: cgroup v2 (memory.oom.group=1, set by the
    kubelet since 1.28) kills them all and the container restarts OOMKilled; cgroup v1 has no group
    kill, so the kernel kills only the biggest process and a shell parent lives on."""
    with step(f"Given a shell whose child reads 64 MiB under a {LIMIT} limit"):
        module_ns.apply("scheduling/resources/oom-child.yaml", name="oom-child", limit=LIMIT)
        pod = wait_pod(cluster, module_ns.name, "oom-child", container_is("main", "running"), timeouts)
        version = cgroups.read(cluster, module_ns.name, "oom-child", "main")
    if version.version == 1:
        with step("Then on cgroup v1 the child is SIGKILLed (137) and the shell reports it"):
            log = eventually(lambda: cluster.core.read_namespaced_pod_log("oom-child", module_ns.name, container="main"),
                             until=lambda text: "child exited with" in text, timeout=timeouts.pod_start,
                             desc="the shell reports its child's end")
            assert f"child exited with {OOM_EXIT_CODE}" in log, log
        with step("And the container itself was never killed nor restarted"):
            now = view(cluster, module_ns.name, "oom-child")
            assert now.container("main").running and now.restarts == 0, now
    else:
        with step("Then on cgroup v2 the kubelet asked for group kills and the whole container restarted OOMKilled"):
            assert version.oom_group == 1, version.raw
            now = wait_pod(cluster, module_ns.name, "oom-child", restarted_at_least("main", 1), timeouts)
            main = now.container("main")
            assert main.last_exit_code == OOM_EXIT_CODE and main.last_reason in KUBELET_OOM_REASONS, now
            assert container_end(cluster, now.node, main.last_container_id).oom_killed, now


@pytest.mark.claim("S001-30")
def test_pods_get_no_swap_so_swap_cannot_spare_them_an_oom_kill(oomed_once, cluster):
    """"Add swap and raise swappiness to avoid OOM": pods only use swap with NodeSwap's LimitedSwap;
    by default (NoSwap) a container's swap limit is 0, so host swap would not help it. This machine
    has no swap at all (kind runs with failSwapOn: false)."""
    ns, first, _ = oomed_once
    with step(f"Given the kubelet on {first.node}"):
        config = kubelet_config(cluster, first.node)
        behaviour = (config.get("memorySwap") or {}).get("swapBehavior") or "NoSwap"
    with step("Then it gives pods no swap (swapBehavior NoSwap, the default)"):
        assert behaviour == "NoSwap", f"memorySwap: {config.get('memorySwap')}"
    with step("And the node has no swap space to give"):
        meminfo = cluster.node_exec(first.node, "cat", "/proc/meminfo").stdout
        swap_total = next(line.split()[1] for line in meminfo.splitlines() if line.startswith("SwapTotal:"))
        assert swap_total == "0", f"SwapTotal {swap_total} kB"
    with step("And the container's cgroup allows no swap beyond its memory limit"):
        seen = cgroups.read(cluster, ns.name, "oom-once", "main")
        assert seen.swap_limit in (0, None), seen.raw
