"""Requests, not usage, decide where pods fit: a node is full when its allocatable minus the requests
of its pods is too small, however idle those pods are; limits are not counted at all.

Source: seed 001, 2021-09-20~26 › 「k8s CPU limit 和 throttling」 (「memory: 200Mi # 剩余内存大于200MB的节点」:
"remaining" means unrequested, not unused); seed 003 「OOMKilled」 (Limit Overcommit: 「限制值总和允许超过节点容量」).
Upstream: kubernetes.io/docs/concepts/configuration/manage-resources-containers/#how-pods-with-resource-requests-are-scheduled
"""
import pytest
from kubernetes.utils import parse_quantity

from fixtures import nodes
from fixtures.pods import is_ready, view, wait_gone, wait_pod
from fixtures.polling import consistently
from fixtures.reporting import step

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.requires(multinode=True, node_access=True, images=["agnhost"])]

MI = 1 << 20
LATE_REQUEST = 200 * MI
LEFT_OVER = 100 * MI  # what the idle pod leaves unrequested: less than the late pod asks for


def idle(ns, name: str, node: str, resources: str) -> None:
    ns.apply("scheduling/requests/idle-pod.yaml", name=name, node=node, resources=resources)


@pytest.mark.claim("S001-01")
@pytest.mark.serial  # it requests (without using) nearly all of a worker's memory for a few seconds
@pytest.mark.severity("critical")
def test_node_whose_memory_is_requested_by_idle_pods_refuses_a_pod_it_could_easily_hold(ns, cluster, timeouts):
    """A pod fits a node only if allocatable − Σ requests ≥ its request. An idle pod that requests
    nearly all of a node's memory, while using next to nothing, keeps a 200Mi pod off that node."""
    node = nodes.workers(cluster)[0]
    free = nodes.free_allocatable(cluster, node, "memory")
    with step(f"Given an idle pod requesting all but {LEFT_OVER // MI}Mi of {node}'s unrequested memory ({free // MI}Mi)"):
        idle(ns, "hog", node, f"{{requests: {{memory: '{free - LEFT_OVER}'}}}}")
        wait_pod(cluster, ns.name, "hog", is_ready, timeouts)
    with step(f"When a pod requesting {LATE_REQUEST // MI}Mi may only go to {node}"):
        idle(ns, "late", node, f"{{requests: {{memory: '{LATE_REQUEST}'}}}}")
    with step("Then it stays Pending: Unschedulable, Insufficient memory"):
        late = wait_pod(cluster, ns.name, "late", lambda p: p.unschedulable, timeouts, budget="controller_sync")
        assert "Insufficient memory" in late.scheduling_message, late.scheduling_message
    with step(f"Although {node} has far more than {LATE_REQUEST // MI}Mi of memory actually available"):
        meminfo = cluster.node_exec(node, "cat", "/proc/meminfo").stdout
        available = int(next(l.split()[1] for l in meminfo.splitlines() if l.startswith("MemAvailable:"))) * 1024
        assert available > 4 * LATE_REQUEST, f"MemAvailable {available // MI}Mi"
    with step("And once the idle pod is deleted, the same pod is scheduled there (the control)"):
        cluster.core.delete_namespaced_pod("hog", ns.name, grace_period_seconds=0)
        wait_gone(cluster, ns.name, "hog", timeouts)
        placed = wait_pod(cluster, ns.name, "late", lambda p: p.condition("PodScheduled") == "True", timeouts,
                          budget="controller_sync", desc="late scheduled")
        assert placed.node == node, placed


@pytest.mark.claim("S003-057")
def test_limits_may_add_up_beyond_the_node_because_only_requests_are_counted(ns, cluster, timeouts):
    """The scheduler counts requests only: three pods requesting 10Mi each with memory limits of half
    the node's allocatable memory all run on that node, their limits adding up to 150 % of it."""
    node = nodes.workers(cluster)[0]
    half = int(parse_quantity(nodes.allocatable(cluster, node)["memory"])) // 2
    resources = f"{{requests: {{memory: 10Mi}}, limits: {{memory: '{half}'}}}}"
    with step(f"Given three pods for {node}, each with limits.memory = half its allocatable memory"):
        for i in range(3):
            idle(ns, f"overcommit-{i}", node, resources)
    with step("Then all three run there"):
        placed = [wait_pod(cluster, ns.name, f"overcommit-{i}", is_ready, timeouts) for i in range(3)]
        assert {p.node for p in placed} == {node}, placed
    with step("And keep running (nothing evicts them for limits that cannot all be met)"):
        consistently(lambda: [view(cluster, ns.name, f"overcommit-{i}") for i in range(3)],
                     holds=lambda ps: all(is_ready(p) and p.restarts == 0 for p in ps),
                     duration=timeouts.short_hold, desc="overcommitted pods running")
