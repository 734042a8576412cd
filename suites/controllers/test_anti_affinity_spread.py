"""Pod anti-affinity on kubernetes.io/hostname against single points of failure: preferred spreads
replicas over nodes but still schedules them all when there are more replicas than nodes;
required leaves the surplus Pending.

Source: seed 000, 2021-02-18~21, 「k8s中，什么情况下驱逐会导致服务不可用？」 (反亲和性, 示例一)
(000_b2af30f51f81eada.txt); kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#inter-pod-affinity-and-anti-affinity.
"""
import pytest

from fixtures.nodes import workers
from fixtures.polling import consistently, eventually
from fixtures.pods import views, wait_ready
from fixtures.reporting import step

pytestmark = [pytest.mark.area("controllers"), pytest.mark.requires(multinode=True, images=["agnhost"])]

APP = "controllers/drain/app.yaml"
SPREAD = ("{podAntiAffinity: {%s: [{weight: 100, podAffinityTerm: {topologyKey: kubernetes.io/hostname, "
          "labelSelector: {matchLabels: {app: %s}}}}]}}")
STRICT = "{podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: %s}}}]}}"


def preferred(app: str) -> str:
    return SPREAD % ("preferredDuringSchedulingIgnoredDuringExecution", app)


@pytest.mark.claim("S000-48")
def test_preferred_anti_affinity_puts_each_replica_on_its_own_node(ns, cluster, timeouts):
    """With as many replicas as schedulable workers and preferred anti-affinity, every replica lands on a
    different node."""
    nodes = workers(cluster)
    with step(f"When {len(nodes)} replicas with preferred hostname anti-affinity are created"):
        ns.apply(APP, name="spread", replicas=len(nodes), affinity=preferred("spread"), cpu="10m")
        placed = wait_ready(cluster, ns.name, "app=spread", len(nodes), timeouts)
    with step("Then each runs on a different worker"):
        assert sorted(p.node for p in placed) == nodes, placed


@pytest.mark.claim("S000-48")
def test_preferred_anti_affinity_still_schedules_more_replicas_than_nodes(ns, cluster, timeouts):
    """Preferred is not required: with twice as many replicas as workers, all run (nodes shared)."""
    n = 2 * len(workers(cluster))
    with step(f"When {n} replicas with preferred anti-affinity are created"):
        ns.apply(APP, name="many", replicas=n, affinity=preferred("many"), cpu="10m")
    with step("Then all of them are scheduled and ready, each worker running two"):
        placed = wait_ready(cluster, ns.name, "app=many", n, timeouts)
        assert sorted({p.node: sum(q.node == p.node for q in placed) for p in placed}.values()) == [2] * len(workers(cluster))


@pytest.mark.claim("S000-48")
def test_required_anti_affinity_leaves_replicas_beyond_the_node_count_pending(ns, cluster, timeouts):
    """The control: required anti-affinity with one replica more than workers leaves one Pending
    (didn't match pod anti-affinity rules)."""
    nodes = workers(cluster)
    with step(f"When {len(nodes) + 1} replicas with required hostname anti-affinity are created"):
        ns.apply(APP, name="strict", replicas=len(nodes) + 1, affinity=STRICT % "strict", cpu="10m")
    with step("Then one per worker runs and the extra one stays Pending for the anti-affinity rule"):
        pending = eventually(lambda: [p for p in views(cluster, ns.name, "app=strict") if p.unschedulable],
                             until=lambda ps: len(ps) == 1, timeout=timeouts.controller_sync, desc="one unschedulable replica")
        assert "anti-affinity" in pending[0].scheduling_message, pending[0].scheduling_message
        placed = eventually(lambda: [p for p in views(cluster, ns.name, "app=strict") if p.ready], until=lambda ps: len(ps) == len(nodes),
                            timeout=timeouts.pod_start, desc="one ready replica per worker")
        assert sorted(p.node for p in placed) == nodes, placed
        consistently(lambda: len([p for p in views(cluster, ns.name, "app=strict") if p.unschedulable]), holds=lambda k: k == 1,
                     duration=timeouts.short_hold, desc="the extra replica stays pending")
