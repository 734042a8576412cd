"""Drains and availability: a drain of the node holding every replica takes the Service down
(without a PDB) while leaving DaemonSet pods in place; without spare capacity the evicted replica
stays Pending; spreading replicas with anti-affinity plus a PDB keeps the Service up.

Source: seed 000, 2021-02-18~21, 「k8s中，什么情况下驱逐会导致服务不可用？」 and 「k8s 节点升级注意事项」
(000_b2af30f51f81eada.txt); kubernetes.io/docs/tasks/administer-cluster/safely-drain-node/.
Drains cordon nodes: every test here is disruptive, finds the nodes pristine and leaves them so.
"""
import pytest

from fixtures.nodes import allocatable, cordoned, drain, pristine_workers, set_unschedulable
from fixtures.polling import eventually, observe_during
from fixtures.pods import views, wait_ready
from fixtures.reporting import step
from fixtures.services import endpoint_slices

pytestmark = [pytest.mark.area("controllers"), pytest.mark.serial, pytest.mark.disruptive,
              pytest.mark.requires(multinode=True, images=["agnhost"])]

APP = "controllers/drain/app.yaml"
PREFERRED_SPREAD = ("{podAntiAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 100, podAffinityTerm: "
                    "{topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: web}}}}]}}")


@pytest.fixture
def nodes(cluster, timeouts):
    """The workers, pristine before the test; after it, the drained node is uncordoned and all are pristine
    (the node lifecycle controller lifts the unschedulable taint a moment after an uncordon)."""
    found = pristine_workers(cluster, settle=timeouts.controller_sync)
    yield found
    for node in found:
        set_unschedulable(cluster, node, False)
    pristine_workers(cluster, settle=timeouts.controller_sync)


def ready_endpoints(cluster, ns) -> int:
    return len(endpoint_slices(cluster, ns.name, "web").ready)


@pytest.mark.claim("S000-47", "S000-53", "S000-51")
def test_draining_the_node_holding_every_replica_takes_the_service_down_and_leaves_daemon_pods(ns, cluster, nodes, timeouts):
    """Without a PDB, draining the node that runs both replicas evicts both at once: the Service has no
    ready endpoint until the replacements are Ready elsewhere. DaemonSet pods (like CNI agents) are
    not evicted by kubectl drain --ignore-daemonsets."""
    first, second = nodes[:2]
    with step(f"Given 2 replicas of 'web' both on {first} (other worker cordoned meanwhile), a Service, a DaemonSet"):
        ns.apply("controllers/drain/node-agent.yaml", name="node-agent")
        with cordoned(cluster, second):
            ns.apply(APP, name="web", replicas=2, affinity="{}", cpu="10m")
            placed = wait_ready(cluster, ns.name, "app=web", 2, timeouts)
        assert {p.node for p in placed} == {first}, placed
        eventually(lambda: ready_endpoints(cluster, ns), until=lambda n: n == 2, timeout=timeouts.network_programming,
                   desc="2 ready endpoints")
        agent = eventually(lambda: [p for p in views(cluster, ns.name, "app=node-agent") if p.node == first and p.ready],
                           until=bool, timeout=timeouts.pod_start, desc=f"node-agent ready on {first}")[0]
    with step(f"When {first} is drained (no PDB), sampling the Service's ready endpoints"):
        result, samples = observe_during(lambda: drain(cluster, first, "app in (web,node-agent)", timeouts.drain),
                                         lambda: ready_endpoints(cluster, ns))
        assert result.returncode == 0, result.output
        restored, after = observe_during(lambda: wait_ready(cluster, ns.name, "app=web", 2, timeouts),
                                         lambda: ready_endpoints(cluster, ns))
    with step("Then the Service had no ready endpoint for a while"):
        assert min(samples + after) == 0, (samples, after)
    with step(f"And it recovered with both replicas on {second}"):
        assert {p.node for p in restored} == {second}, restored
        eventually(lambda: ready_endpoints(cluster, ns), until=lambda n: n == 2, timeout=timeouts.network_programming,
                   desc="2 ready endpoints again")
    with step(f"And the DaemonSet pod on {first} was left running"):
        still = [p for p in views(cluster, ns.name, "app=node-agent") if p.node == first]
        assert [(p.uid, p.ready, p.deleting) for p in still] == [(agent.uid, True, False)], still


@pytest.mark.claim("S000-54")
def test_an_evicted_replica_stays_pending_when_no_node_has_room_for_its_request(ns, cluster, nodes, timeouts):
    """When the remaining nodes lack allocatable CPU for an evicted pod's request, its replacement stays
    Pending: PodScheduled=False, reason Unschedulable, message "Insufficient cpu"."""
    free = {}
    for node in nodes:
        requested = sum(_cpu(c.resources.requests.get("cpu", "0")) for p in cluster.core.list_pod_for_all_namespaces(
            field_selector=f"spec.nodeName={node},status.phase!=Succeeded,status.phase!=Failed").items
            for c in p.spec.containers if c.resources and c.resources.requests)
        free[node] = _cpu(allocatable(cluster, node)["cpu"]) - requested
    # each replica takes 60% of the roomiest worker: one fits on every worker, two fit on none
    request = int(max(free.values()) * 0.6)
    assert 2 * request > max(free.values()) and request <= min(free.values()), free
    with step(f"Given 2 replicas requesting {request}m CPU each: one per worker, no room for a second anywhere"):
        ns.apply(APP, name="web", replicas=2, affinity="{}", cpu=f"{request}m")
        placed = wait_ready(cluster, ns.name, "app=web", 2, timeouts)
        assert sorted(p.node for p in placed) == sorted(nodes[:2]), placed
    with step(f"When {nodes[0]} is drained"):
        result = drain(cluster, nodes[0], "app=web", timeouts.drain)
        assert result.returncode == 0, result.output
    with step("Then the replacement stays Pending, Unschedulable for Insufficient cpu"):
        pending = eventually(lambda: [p for p in views(cluster, ns.name, "app=web") if not p.deleting and p.node is None],
                             until=lambda ps: len(ps) == 1 and ps[0].unschedulable, timeout=timeouts.controller_sync,
                             desc="an unschedulable replacement")
        assert "Insufficient cpu" in pending[0].scheduling_message, pending[0].scheduling_message


def _cpu(quantity: str) -> int:
    """CPU quantity in millicores."""
    return int(quantity[:-1]) if quantity.endswith("m") else int(float(quantity) * 1000)


@pytest.mark.claim("S000-55")
def test_spread_replicas_under_a_pdb_keep_the_service_up_through_a_drain(ns, cluster, nodes, timeouts):
    """The mitigations the document lists that a cluster can show: with replicas spread by preferred
    anti-affinity and a PDB (maxUnavailable 1), draining a node never leaves the Service without a
    ready endpoint."""
    first = nodes[0]
    with step("Given 2 replicas spread over the workers by preferred anti-affinity, guarded by a PDB"):
        ns.apply(APP, name="web", replicas=2, affinity=PREFERRED_SPREAD, cpu="10m")
        ns.apply("controllers/drain/pdb.yaml", name="web")
        placed = wait_ready(cluster, ns.name, "app=web", 2, timeouts)
        assert len({p.node for p in placed}) == 2, placed
        eventually(lambda: ready_endpoints(cluster, ns), until=lambda n: n == 2, timeout=timeouts.network_programming,
                   desc="2 ready endpoints")
    with step(f"When {first} is drained, sampling the Service's ready endpoints until both replicas are ready again"):
        result, samples = observe_during(lambda: drain(cluster, first, "app=web", timeouts.drain), lambda: ready_endpoints(cluster, ns))
        assert result.returncode == 0, result.output
        _, after = observe_during(lambda: wait_ready(cluster, ns.name, "app=web", 2, timeouts), lambda: ready_endpoints(cluster, ns))
    with step("Then the Service always had a ready endpoint"):
        assert min(samples + after) >= 1, (samples, after)
