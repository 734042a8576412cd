"""Scheduling failures: a pod no node can take stays Pending, and the scheduler says why.

Seed 003 「pod异常场景」 › 「调度失败」 (节点资源不足, 不满足亲和性) and seed 002 「调度策略」
(PodFitsResources, PodAffinityPredicate), 「常见的调度方式」 (required/preferred node affinity),
「自定义调度」 (schedulerName). Each Pending pod has its negative control: the same pod without the
conflicting constraint schedules. The control plane keeps its NoSchedule taint, so "every node"
means the two workers here. Source: kubernetes.io/docs/concepts/scheduling-eviction/ (assign-pod-node,
kube-scheduler), plugins NodeResourcesFit, NodeAffinity, InterPodAffinity.
"""
import pytest
from kubernetes.utils import parse_quantity

from fixtures.nodes import allocatable, kubelet_config, workers
from fixtures.pods import (is_bound, is_ready, phase_is, scheduler_events, unschedulable_because, view, views,
                           wait_pod)
from fixtures.polling import consistently, eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.requires(images=["agnhost"], multinode=True)]

INSUFFICIENT_CPU = "Insufficient cpu"
NODE_AFFINITY = "didn't match Pod's node affinity/selector"
ANTI_AFFINITY = "didn't match pod anti-affinity rules"


def _millicores(quantity: str) -> int:
    return int(parse_quantity(quantity) * 1000)


@pytest.mark.claim("S002-031", "S003-029", "S003-028")
def test_pod_requesting_more_cpu_than_any_node_has_stays_pending_with_insufficient_cpu(ns, cluster, timeouts):
    """A pod whose CPU request exceeds every node's allocatable stays Pending: PodScheduled=False,
    reason Unschedulable, message "Insufficient cpu", and a FailedScheduling event; the same pod with a
    small request schedules and runs."""
    biggest = max(_millicores(allocatable(cluster, n)["cpu"]) for n in workers(cluster))
    too_much = f"{biggest + 1000}m"
    with step(f"Given the largest worker allocates {biggest}m CPU"):
        assert biggest > 0
    with step(f"When a pod requests {too_much} and its twin requests 10m"):
        ns.apply("scheduling/unschedulable/pod-cpu.yaml", name="greedy", cpu=too_much)
        ns.apply("scheduling/unschedulable/pod-cpu.yaml", name="modest", cpu="10m")
    with step("Then the greedy pod is Unschedulable: 'Insufficient cpu', in phase Pending"):
        pod = wait_pod(cluster, ns.name, "greedy", unschedulable_because(INSUFFICIENT_CPU), timeouts)
        assert pod.phase == "Pending", f"an unschedulable pod should be Pending: {pod}"
    with step("And the scheduler reported it in a FailedScheduling event"):
        events = eventually(lambda: scheduler_events(cluster, ns.name, "greedy"),
                            until=lambda es: any(r == "FailedScheduling" and INSUFFICIENT_CPU in m for r, _, m in es),
                            timeout=timeouts.controller_sync, desc="FailedScheduling event naming Insufficient cpu")
        assert not any(r == "Scheduled" for r, _, _ in events), events
    with step("And the modest twin (the negative control) was scheduled and runs"):
        wait_pod(cluster, ns.name, "modest", is_ready, timeouts)
    with step("And the greedy pod stays Pending"):
        consistently(lambda: view(cluster, ns.name, "greedy"), holds=lambda p: p.phase == "Pending" and p.node is None,
                     duration=timeouts.short_hold, desc="greedy pod still Pending and unbound")


@pytest.mark.claim("S002-050")
def test_pod_naming_a_scheduler_that_does_not_exist_stays_pending_without_scheduling_events(ns, cluster, timeouts):
    """spec.schedulerName defaults to default-scheduler; a pod naming a scheduler nobody runs is never
    looked at: it stays Pending with no PodScheduled condition and no scheduling events, while its
    default twin is scheduled by default-scheduler."""
    with step("Given a pod that names no scheduler, and its twin naming 'nobody-runs-me'"):
        ns.apply("scheduling/unschedulable/pod-default-scheduler.yaml", name="default")
        ns.apply("scheduling/unschedulable/pod-scheduler-name.yaml", name="orphan", scheduler="nobody-runs-me")
    with step("Then the first pod's schedulerName was defaulted to default-scheduler"):
        assert cluster.core.read_namespaced_pod("default", ns.name).spec.scheduler_name == "default-scheduler"
    with step("And default-scheduler scheduled it (its Scheduled event names that scheduler)"):
        wait_pod(cluster, ns.name, "default", is_bound, timeouts)
        events = eventually(lambda: scheduler_events(cluster, ns.name, "default"),
                            until=lambda es: any(r == "Scheduled" for r, _, _ in es),
                            timeout=timeouts.controller_sync, desc="Scheduled event of the default pod")
        assert any(src == "default-scheduler" for r, src, _ in events if r == "Scheduled"), events
    with step("And the orphan stays Pending: unbound, no PodScheduled condition, no scheduling event"):
        def untouched(p):
            return p.phase == "Pending" and p.node is None and p.condition("PodScheduled") is None

        consistently(lambda: view(cluster, ns.name, "orphan"), holds=untouched,
                     duration=timeouts.short_hold, desc="orphan pod untouched by any scheduler")
        assert scheduler_events(cluster, ns.name, "orphan") == []


@pytest.mark.claim("S002-044", "S003-034")
def test_required_node_affinity_blocks_while_preferred_affinity_only_steers(ns, cluster, timeouts):
    """Required node affinity that no node matches keeps a pod Pending; the same rule matching a
    worker's hostname schedules it there. A preferred rule with weight steers pods to the preferred
    node, and a preferred rule no node matches does not block scheduling."""
    target = workers(cluster)[-1]
    with step(f"Given pods with required affinity: one for a label no node has, one for hostname {target}"):
        ns.apply("scheduling/affinity/pod-required-node-affinity.yaml", name="hard-miss",
                 key="kubeproof.io/no-such-label", value="x")
        ns.apply("scheduling/affinity/pod-required-node-affinity.yaml", name="hard-hit",
                 key="kubernetes.io/hostname", value=target)
    with step("And pods with preferred affinity (weight 100): three for hostname "
              f"{target}, one for a label no node has"):
        for i in range(3):
            ns.apply("scheduling/affinity/pod-preferred-node-affinity.yaml", name=f"soft-hit-{i}", app="soft-hit",
                     weight=100, key="kubernetes.io/hostname", value=target)
        ns.apply("scheduling/affinity/pod-preferred-node-affinity.yaml", name="soft-miss", app="soft-miss",
                 weight=100, key="kubeproof.io/no-such-label", value="x")
    with step("Then the unmatched required rule keeps its pod Pending: no node matches its affinity"):
        wait_pod(cluster, ns.name, "hard-miss", unschedulable_because(NODE_AFFINITY), timeouts)
    with step(f"And the matched required rule (the negative control) put its pod on {target}"):
        assert wait_pod(cluster, ns.name, "hard-hit", is_bound, timeouts).node == target
    with step(f"And every preferred-{target} pod landed on {target}"):
        soft = eventually(lambda: views(cluster, ns.name, "app=soft-hit"),
                          until=lambda ps: len(ps) == 3 and all(is_bound(p) for p in ps),
                          timeout=timeouts.pod_start, desc="preferred pods bound")
        assert {p.node for p in soft} == {target}, f"preferred affinity did not steer: {[(p.name, p.node) for p in soft]}"
    with step("And the unmatched preferred rule did not block its pod"):
        wait_pod(cluster, ns.name, "soft-miss", phase_is("Running"), timeouts)
    with step("And the required-but-unmatched pod is still Pending"):
        assert view(cluster, ns.name, "hard-miss").phase == "Pending"


@pytest.mark.claim("S002-039", "S003-034")
def test_required_pod_anti_affinity_puts_one_replica_per_node_and_leaves_the_extra_pending(ns, cluster, timeouts):
    """With required pod anti-affinity on kubernetes.io/hostname, replicas never share a node: with
    one replica more than there are workers, each worker runs one and the extra stays Pending
    ("didn't match pod anti-affinity rules")."""
    n = len(workers(cluster))
    with step(f"Given {n} schedulable workers"):
        assert n >= 2
    with step(f"When a Deployment of {n + 1} mutually anti-affine replicas is created"):
        ns.apply("scheduling/affinity/deployment-anti-affinity.yaml", name="spread", replicas=n + 1)

    def settled(ps):
        bound = [p for p in ps if p.node]
        pending = [p for p in ps if unschedulable_because(ANTI_AFFINITY)(p)]
        return len(ps) == n + 1 and len(bound) == n and len(pending) == 1 and all(p.phase == "Running" for p in bound)

    with step(f"Then {n} replicas run, one per worker, and one is Pending for the anti-affinity rule"):
        pods = eventually(lambda: views(cluster, ns.name, "app=spread"), until=settled,
                          timeout=timeouts.pod_start, desc=f"{n} replicas spread, 1 Pending")
        nodes = [p.node for p in pods if p.node]
        assert len(set(nodes)) == n, f"two replicas share a node: {nodes}"
    with step("And the Pending replica would fit without the rule: a plain pod schedules beside them"):
        ns.apply("scheduling/affinity/pod-on-node.yaml", name="control", node=nodes[0])
        wait_pod(cluster, ns.name, "control", phase_is("Running"), timeouts)


@pytest.mark.claim("S002-039")
def test_required_pod_affinity_puts_the_pod_on_its_target_pods_node(ns, cluster, timeouts):
    """A pod with required pod affinity (hostname) to a target lands on the target's node, for
    either worker as target; with no target pod anywhere it stays Pending."""
    with step("Given a follower whose target does not exist yet"):
        ns.apply("scheduling/affinity/pod-affinity.yaml", name="early", target="leader-none")
    with step("Then it stays Pending: no node holds a matching pod"):
        wait_pod(cluster, ns.name, "early", unschedulable_because("didn't match pod affinity rules"), timeouts)
    for node in workers(cluster):
        with step(f"When a target pod runs on {node} and a follower requires its company"):
            ns.apply("scheduling/affinity/pod-on-node.yaml", name=f"leader-{node}", node=node)
            wait_pod(cluster, ns.name, f"leader-{node}", is_bound, timeouts)
            ns.apply("scheduling/affinity/pod-affinity.yaml", name=f"follower-{node}", target=f"leader-{node}")
        with step(f"Then the follower is placed on {node}"):
            assert wait_pod(cluster, ns.name, f"follower-{node}", is_bound, timeouts).node == node


@pytest.mark.claim("S003-030")
def test_allocatable_is_capacity_minus_reservations_and_the_hard_eviction_threshold(cluster):
    """Each worker's allocatable memory is its capacity minus kubeReserved, systemReserved and the
    hard eviction threshold memory.available; its allocatable CPU is capacity minus the reservations
    (values from the kubelet's own /configz)."""
    for node in workers(cluster):
        status, cfg = cluster.core.read_node(node).status, kubelet_config(cluster, node)

        def reserved(res):
            return sum(parse_quantity((cfg.get(k) or {}).get(res, "0")) for k in ("kubeReserved", "systemReserved"))

        with step(f"Given {node}: capacity {status.capacity['cpu']} CPU / {status.capacity['memory']}, kubeReserved "
                  f"{cfg.get('kubeReserved')}, systemReserved {cfg.get('systemReserved')}, evictionHard {cfg.get('evictionHard')}"):
            hard = parse_quantity((cfg.get("evictionHard") or {}).get("memory.available", "0"))
        with step("Then allocatable memory = capacity - kubeReserved - systemReserved - evictionHard memory.available"):
            expect = parse_quantity(status.capacity["memory"]) - reserved("memory") - hard
            assert parse_quantity(status.allocatable["memory"]) == expect, (status.allocatable, expect)
        with step("And allocatable CPU = capacity - kubeReserved - systemReserved"):
            expect = parse_quantity(status.capacity["cpu"]) - reserved("cpu")
            assert parse_quantity(status.allocatable["cpu"]) == expect, (status.allocatable, expect)
