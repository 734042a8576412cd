"""Pod phases and conditions: what Pending, Running, Succeeded and Failed mean, and which conditions exist.

Seed 002 「Pod在K8s中的生命周期」, 「Pod的恢复机制」; seed 003 「生命周期」. Seed 002 says a pod is Failed when
"at least one container exited abnormally" and lists `Unschedulable` among the condition types; both are
wrong: Failed needs every container terminated (one failed container beside a running one is Running),
and Unschedulable is the *reason* of PodScheduled=False. Seed 003's phase definitions hold. "Terminating",
"CrashLoopBackOff" and "Evicted" are not phases. PodReadyToStartContainers (1.29) and DisruptionTarget
(1.31) are conditions the documents do not know.
Source: https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/
"""
import pytest

from fixtures.api_calls import evict
from fixtures.pods import backing_off, container_is, event_reasons, is_ready, phase_is, view, wait_pod
from fixtures.polling import consistently, eventually
from fixtures.reporting import step

# one worker runs the module, so its shared workload is created once (module_ns)
pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(images=["busybox"]), pytest.mark.xdist_group("pods-phases")]

PHASES = {"Pending", "Running", "Succeeded", "Failed", "Unknown"}
LIFECYCLE_CONDITIONS = {"PodScheduled", "PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready"}
STUBBORN_GRACE = 15  # seconds the evicted pod stays Terminating: far longer than the observation
OVER_QUOTA_MIB = 4


def _two(ns, name, restart_policy, a, b):
    ns.apply("pods/phases/two-containers.yaml", name=name, restart_policy=restart_policy, a=a, b=b)


@pytest.fixture(scope="module")
def pods(module_ns):
    """Given the phase matrix: restartPolicy Never pods with one failed container beside a running one,
    one failed and one succeeded, both succeeded; an Always pod whose two containers keep failing; a
    healthy pod; a pod no node can take; a bound pod whose volume is missing."""
    _two(module_ns, "mixed", "Never", "exit 1", "exec sleep 3600")
    _two(module_ns, "failed", "Never", "exit 1", "sleep 1; exit 0")
    _two(module_ns, "succeeded", "Never", "exit 0", "exit 0")
    _two(module_ns, "crashing", "Always", "exit 1", "exit 1")
    _two(module_ns, "healthy", "Always", "exec sleep 3600", "exec sleep 3600")
    module_ns.apply("pods/phases/unschedulable.yaml", name="unschedulable")
    module_ns.apply("pods/phases/missing-volume.yaml", name="creating")
    return module_ns


@pytest.mark.claim("S002-081", "S003-011", "S002-113")
def test_a_never_pod_with_one_failed_container_beside_a_running_one_is_running(pods, cluster, timeouts):
    """One container exited 1, the other still runs: the pod is Running, not Failed."""
    with step("When container a of 'mixed' has exited 1 while b runs"):
        pod = wait_pod(cluster, pods.name, "mixed", lambda p: container_is("a", "terminated")(p) and container_is("b", "running")(p), timeouts)
        assert pod.container("a").exit_code == 1, pod.container("a")
    with step("Then the pod is Running, and stays Running"):
        consistently(lambda: view(cluster, pods.name, "mixed").phase, holds=lambda ph: ph == "Running",
                     duration=timeouts.short_hold, desc="mixed stays Running")


@pytest.mark.claim("S002-081", "S003-011", "S002-113", "S002-111")
def test_a_never_pod_is_failed_once_every_container_has_ended_and_one_failed(pods, cluster, timeouts):
    """All containers terminated, one with a non-zero code: Failed, and with Never nothing is restarted."""
    with step("When both containers of 'failed' have ended (a: 1, b: 0)"):
        pod = wait_pod(cluster, pods.name, "failed", phase_is("Failed", "Succeeded"), timeouts)
    with step("Then the pod is Failed, with a exit 1 and b exit 0, never restarted"):
        assert pod.phase == "Failed", pod
        assert (pod.container("a").exit_code, pod.container("b").exit_code) == (1, 0), pod.containers
        assert pod.restarts == 0, pod


@pytest.mark.claim("S002-081", "S003-011")
def test_a_pod_whose_containers_all_succeeded_is_succeeded(pods, cluster, timeouts):
    """Every container exited 0: Succeeded."""
    with step("Then 'succeeded' reaches Succeeded with both containers Completed"):
        pod = wait_pod(cluster, pods.name, "succeeded", phase_is("Succeeded", "Failed"), timeouts)
        assert pod.phase == "Succeeded" and {c.reason for c in pod.containers.values()} == {"Completed"}, pod


@pytest.mark.claim("S002-113", "S003-011", "S003-010", "S002-081")
def test_a_restart_always_pod_whose_containers_all_keep_failing_stays_running(pods, cluster, timeouts):
    """Always: both containers exited and wait in CrashLoopBackOff, yet the phase is Running (CrashLoopBackOff is a reason)."""
    with step("When both containers of 'crashing' wait in CrashLoopBackOff"):
        wait_pod(cluster, pods.name, "crashing",
                 lambda p: all(backing_off(cluster, pods.name, "crashing", c)(p) for c in ("a", "b")), timeouts)
    with step("Then the phase is Running, and stays Running through the back-off"):
        consistently(lambda: view(cluster, pods.name, "crashing").phase, holds=lambda ph: ph == "Running",
                     duration=timeouts.short_hold, desc="crashing stays Running")


@pytest.mark.claim("S002-081", "S003-011", "S003-010")
def test_a_pod_is_pending_while_unscheduled_and_while_its_containers_are_being_created(pods, cluster, timeouts):
    """Pending is not only failure: it covers "not bound yet" and "bound, containers not created yet"."""
    with step("Then 'unschedulable' is Pending, bound to no node"):
        pod = wait_pod(cluster, pods.name, "unschedulable", lambda p: p.unschedulable, timeouts)
        assert pod.phase == "Pending" and pod.node is None, pod
    with step("And 'creating' is Pending although bound: its container waits in ContainerCreating (volume missing)"):
        pod = wait_pod(cluster, pods.name, "creating", lambda p: p.node is not None and "app" in p.containers, timeouts)
        assert pod.phase == "Pending" and pod.container("app").reason == "ContainerCreating", pod
        eventually(lambda: event_reasons(cluster, pods.name, "creating"), until=lambda r: "FailedMount" in r,
                   timeout=timeouts.pod_start, desc="FailedMount event: the reason it is still creating")


@pytest.mark.claim("S003-013", "S002-082", "S003-012")
def test_an_unschedulable_pod_has_pod_scheduled_false_with_reason_unschedulable(pods, cluster, timeouts):
    """Unschedulable is the reason of PodScheduled=False (with a FailedScheduling event), never a condition type."""
    with step("When the scheduler has given up on 'unschedulable'"):
        pod = wait_pod(cluster, pods.name, "unschedulable", lambda p: p.unschedulable, timeouts)
    with step("Then its only condition is PodScheduled=False, reason Unschedulable; no condition is typed Unschedulable"):
        assert set(pod.conditions) == {"PodScheduled"}, pod.conditions
        assert pod.conditions["PodScheduled"][:2] == ("False", "Unschedulable"), pod.conditions
        assert "Unschedulable" not in pod.conditions
    with step("And a FailedScheduling event explains it"):
        eventually(lambda: event_reasons(cluster, pods.name, "unschedulable"), until=lambda r: "FailedScheduling" in r,
                   timeout=timeouts.controller_sync, desc="FailedScheduling event")
    with step("And the pod is Pending (while the other pods of the module, without the node selector, were scheduled)"):
        assert pod.phase == "Pending" and wait_pod(cluster, pods.name, "healthy", is_ready, timeouts).node


@pytest.mark.claim("S002-082", "S003-012")
def test_a_running_pod_reports_the_five_lifecycle_conditions(pods, cluster, timeouts):
    """A running pod has PodScheduled, PodReadyToStartContainers, Initialized, ContainersReady and Ready, each True/False/Unknown."""
    with step("When 'healthy' is ready"):
        pod = wait_pod(cluster, pods.name, "healthy", is_ready, timeouts)
    with step("Then its condition types are exactly the five lifecycle conditions, all True"):
        assert set(pod.conditions) == LIFECYCLE_CONDITIONS, pod.conditions
        assert {c[0] for c in pod.conditions.values()} == {"True"}, pod.conditions
    with step("And every condition status in the namespace is one of True, False, Unknown; every phase a known one"):
        every = [view(cluster, pods.name, n) for n in ("mixed", "failed", "succeeded", "crashing", "unschedulable", "creating")]
        assert {c[0] for p in every for c in p.conditions.values()} <= {"True", "False", "Unknown"}, [p.conditions for p in every]
        assert {p.phase for p in every} <= PHASES, [p.phase for p in every]


@pytest.mark.claim("S003-010", "S002-082", "S003-012")
def test_a_terminating_pod_is_still_running_with_a_deletion_timestamp_and_a_disruption_target(module_ns, cluster, timeouts):
    """"Terminating" is not a phase: an evicted pod in its grace period is Running with deletionTimestamp and DisruptionTarget=True."""
    module_ns.apply("pods/phases/stubborn.yaml", name="stubborn", grace=STUBBORN_GRACE)
    wait_pod(cluster, module_ns.name, "stubborn", is_ready, timeouts)
    with step(f"When the pod is evicted through the Eviction API (grace {STUBBORN_GRACE} s; its PID 1 ignores SIGTERM)"):
        assert evict(cluster, module_ns.name, "stubborn").status == 201
    with step("Then during the grace period it is Running, carries a deletionTimestamp, and DisruptionTarget=True"):
        pod = wait_pod(cluster, module_ns.name, "stubborn", lambda p: p.deleting and "DisruptionTarget" in p.conditions, timeouts)
        assert pod.phase == "Running", pod
        assert pod.conditions["DisruptionTarget"][:2] == ("True", "EvictionByEvictionAPI"), pod.conditions


@pytest.mark.claim("S003-010")
@pytest.mark.slow
@pytest.mark.xdist_group("pods-eviction")  # its own pod: it need not wait behind the module's group
def test_a_pod_evicted_by_the_kubelet_is_failed_with_reason_evicted(ns, cluster, timeouts):
    """"Evicted" is not a phase: a pod the kubelet evicts is Failed with status.reason Evicted."""
    with step(f"Given a pod that writes {OVER_QUOTA_MIB} MiB into an emptyDir limited to 1Mi"):
        ns.apply("pods/phases/over-quota.yaml", name="greedy", write_mib=OVER_QUOTA_MIB)
        wait_pod(cluster, ns.name, "greedy", is_ready, timeouts)
    with step("When the kubelet's local-storage check runs"):
        pod = wait_pod(cluster, ns.name, "greedy", phase_is("Failed"), timeouts, budget="local_storage_eviction")
    with step("Then the pod is Failed with reason Evicted, and an Evicted event names the emptyDir"):
        assert pod.reason == "Evicted", pod
        assert "Evicted" in event_reasons(cluster, ns.name, "greedy"), event_reasons(cluster, ns.name, "greedy")
