"""Where requests send a pod: the least-allocated feasible node wins, a pod needs one node with room
for all of its effective request (free capacity spread over nodes does not add up), and the effective
request follows the init/sidecar rules while limits do not count.

Seed 002 「调度器Scheduler」 (Predicate then Priority, 「调度到得分最高的Node上」) and seed 003
「调度失败」 › 节点资源不足 (allocatable; 「Pod 的资源请求量是 Pod 中所有容器的资源请求之和」;
「每个节点都有碎片…扩不出来一个 2c4g 的 Pod」). These tests fill workers' allocatable CPU, which
would starve other tests' pods: they are serial. Sizes are taken from the nodes' own free
allocatable, read after pods still being deleted are gone.
Source: kubernetes.io/docs/concepts/scheduling-eviction/resource-bin-packing/,
/docs/concepts/workloads/pods/init-containers/#resource-sharing-within-containers,
/docs/concepts/workloads/pods/sidecar-containers/#resource-sharing-within-containers
"""
import pytest

from fixtures import namespaces
from fixtures.nodes import free_allocatable, workers
from fixtures.pods import is_bound, on_node, phase_is, unschedulable_because, view, wait_pod
from fixtures.polling import consistently, eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.serial,
              pytest.mark.requires(images=["agnhost", "busybox"], multinode=True)]

INSUFFICIENT_CPU = "Insufficient cpu"


def _free_cpu(cluster, timeouts) -> dict[str, int]:
    """Free allocatable CPU (millicores) per worker, once no pod on them is still being deleted or about to be
    (an earlier test's namespace in deletion: the namespace controller deletes its pods a moment later)."""
    nodes = workers(cluster)

    def leaving():
        going = set(namespaces.terminating(cluster.core))
        return [f"{p.namespace}/{p.name}" for n in nodes for p in on_node(cluster, n) if p.deleting or p.namespace in going]

    eventually(leaving, until=lambda ps: not ps, timeout=timeouts.cleanup, desc="no pod on the workers leaving")
    return {n: free_allocatable(cluster, n, "cpu") for n in nodes}


@pytest.mark.claim("S002-024")
def test_pod_goes_to_the_least_allocated_worker_and_follows_the_load_when_it_moves(ns, cluster, timeouts):
    """Among feasible workers the scheduler picks the least allocated: with half of one worker's free
    CPU and memory requested by a ballast pod, a small pod lands on the other worker; with the ballast
    moved to the other worker, the next small pod lands on the first one."""
    free = _free_cpu(cluster, timeouts)
    a, b = sorted(free)
    ballast_cpu = min(free.values()) // 2
    with step(f"Given a ballast requesting {ballast_cpu}m CPU and 4Gi on {a}"):
        ns.apply("scheduling/placement/ballast.yaml", name="ballast-a", node=a, cpu=f"{ballast_cpu}m", memory="4Gi")
        wait_pod(cluster, ns.name, "ballast-a", is_bound, timeouts)
    with step(f"When a small pod may go to either worker, it lands on {b}"):
        ns.apply("scheduling/placement/pod-request.yaml", name="first", role="probe", cpu="50m", memory="32Mi")
        assert wait_pod(cluster, ns.name, "first", is_bound, timeouts).node == b
    with step(f"Given the ballast moved to {b}"):
        cluster.core.delete_namespaced_pod("ballast-a", ns.name, grace_period_seconds=0)
        ns.apply("scheduling/placement/ballast.yaml", name="ballast-b", node=b, cpu=f"{ballast_cpu}m", memory="4Gi")
        wait_pod(cluster, ns.name, "ballast-b", is_bound, timeouts)
        _free_cpu(cluster, timeouts)
    with step(f"Then the next small pod (the negative control: placement follows the load) lands on {a}"):
        ns.apply("scheduling/placement/pod-request.yaml", name="second", role="probe", cpu="50m", memory="32Mi")
        assert wait_pod(cluster, ns.name, "second", is_bound, timeouts).node == a


@pytest.mark.claim("S003-031")
def test_pod_stays_pending_when_free_cpu_is_split_across_nodes_though_the_sum_would_fit(ns, cluster, timeouts):
    """With every worker left with F free CPU, a pod requesting 1.5 F stays Pending (Insufficient cpu)
    although the workers together have 2 F free; freeing one worker lets it schedule there."""
    free = _free_cpu(cluster, timeouts)
    left = min(free.values()) * 2 // 5
    want = left * 3 // 2
    with step(f"Given each worker filled to leave {left}m CPU free (together {left * len(free)}m)"):
        for node, f in free.items():
            ns.apply("scheduling/placement/ballast.yaml", name=f"ballast-{node}", node=node, cpu=f"{f - left}m",
                     memory="16Mi")
            wait_pod(cluster, ns.name, f"ballast-{node}", is_bound, timeouts)
        assert all(free_allocatable(cluster, n, "cpu") == left for n in free), {n: free_allocatable(cluster, n, "cpu") for n in free}
    with step(f"When a pod requests {want}m CPU"):
        ns.apply("scheduling/placement/pod-request.yaml", name="big", role="big", cpu=f"{want}m", memory="16Mi")
    with step("Then it is Unschedulable: no single node has room (Insufficient cpu)"):
        wait_pod(cluster, ns.name, "big", unschedulable_because(INSUFFICIENT_CPU), timeouts)
        consistently(lambda: view(cluster, ns.name, "big"), holds=lambda p: p.node is None,
                     duration=timeouts.short_hold, desc="big pod unbound")
    freed = sorted(free)[0]
    with step(f"When the ballast on {freed} is removed, the pod (the negative control) schedules there"):
        cluster.core.delete_namespaced_pod(f"ballast-{freed}", ns.name, grace_period_seconds=0)
        assert wait_pod(cluster, ns.name, "big", is_bound, timeouts).node == freed


@pytest.mark.claim("S003-030")
def test_effective_request_adds_sidecars_but_takes_the_largest_init_container_and_ignores_limits(ns, cluster, timeouts):
    """The scheduler charges a pod max(app containers + native sidecars, largest init container):
    app and sidecar of X each (2 X, more than any worker has free) stay Pending for Insufficient cpu,
    while app and a regular init container of X each (X) schedule; a CPU limit larger than any node
    with a small request schedules too (limits are not counted)."""
    free = _free_cpu(cluster, timeouts)
    x = max(free.values()) * 3 // 5
    with step(f"When pods are created: app + sidecar of {x}m each; app + init container of {x}m each"):
        ns.apply("scheduling/placement/pod-with-sidecar.yaml", name="with-sidecar", cpu=f"{x}m")
        ns.apply("scheduling/placement/pod-with-init.yaml", name="with-init", cpu=f"{x}m")
    with step(f"Then app + sidecar ({2 * x}m together) is Unschedulable: Insufficient cpu"):
        wait_pod(cluster, ns.name, "with-sidecar", unschedulable_because(INSUFFICIENT_CPU), timeouts)
    with step(f"And app + init container (the larger of the two: {x}m) schedules and runs"):
        wait_pod(cluster, ns.name, "with-init", phase_is("Running"), timeouts)
    with step("When a pod requests 10m under a limit of 1000 CPUs, it schedules and runs"):
        ns.apply("scheduling/placement/pod-limit-only-big.yaml", name="big-limit", request="10m", limit="1000")
        wait_pod(cluster, ns.name, "big-limit", phase_is("Running"), timeouts)
