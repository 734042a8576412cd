"""kubectl drain under a PodDisruptionBudget: it proceeds pod by pod, and blocks when the budget
can never allow a disruption (seed 000, 2021-02-18~21, 「k8s 节点升级注意事项」).
Source: kubernetes.io/docs/tasks/administer-cluster/safely-drain-node/"""
import pytest

from fixtures.nodes import cordoned, drain, pristine_workers, set_unschedulable
from fixtures.polling import eventually, observe_during
from fixtures.pdbs import settled as pdb_settled, status as pdb_status
from fixtures.pods import ready_pods, views
from fixtures.reporting import step

# Drain cordons a node: other tests must not schedule meanwhile.
pytestmark = [pytest.mark.area("controllers"), pytest.mark.serial, pytest.mark.disruptive,
              pytest.mark.requires(multinode=True, images=["agnhost"])]

APP = "drained"
SELECTOR = f"app={APP}"


@pytest.fixture
def colocated_app(ns, cluster, timeouts):
    """Given 2 ready replicas that both run on the first worker (the second worker cordoned meanwhile);
    afterwards every node is back at rest (the unschedulable taint an uncordon lifts comes off a moment later)."""
    first, second = pristine_workers(cluster, settle=timeouts.controller_sync)[:2]
    with step(f"Given 2 replicas placed together on {first}"), cordoned(cluster, second):
        ns.apply("controllers/pdb-eviction/deployment.yaml", name=APP, replicas=2)
        placed = eventually(lambda: ready_pods(cluster, ns.name, SELECTOR), until=lambda ps: len(ps) == 2,
                            timeout=timeouts.pod_start, desc="2 ready replicas")
    assert {p.node for p in placed} == {first}, f"replicas should share {first}: {placed}"
    yield first
    set_unschedulable(cluster, first, False)  # drain leaves it cordoned
    pristine_workers(cluster, settle=timeouts.controller_sync)


@pytest.fixture
def budget(ns, cluster, timeouts):
    """Apply a PDB manifest for the app and wait until the controller allows `allowed` disruptions."""

    def apply(manifest: str, allowed: int, **params):
        with step(f"Given a PDB ({params}) that allows {allowed} disruption(s)"):
            ns.apply(f"controllers/pdb-eviction/{manifest}", name=APP, **params)
            eventually(lambda: pdb_status(cluster, ns.name, APP), until=pdb_settled(healthy=2, allowed=allowed),
                       timeout=timeouts.controller_sync, desc=f"PDB allows {allowed}")

    return apply


@pytest.mark.claim("S000-49", "S000-52")
@pytest.mark.slow
def test_drain_evicts_one_pod_at_a_time_when_max_unavailable_is_1(ns, cluster, colocated_app, budget, timeouts):
    """With maxUnavailable: 1, a drain evicts one replica, waits for its replacement to be Ready, then the next."""
    node = colocated_app
    budget("pdb-max-unavailable.yaml", allowed=1, max_unavailable=1)
    with step(f"When {node} is drained"):
        result, samples = observe_during(lambda: drain(cluster, node, SELECTOR, timeouts.drain),
                                         lambda: len(ready_pods(cluster, ns.name, SELECTOR)))
    with step("Then the drain completes"):
        assert result.returncode == 0, f"drain failed after {result.seconds:.0f}s:\n{result.output}"
    with step("And it was held back by the budget at least once, so pods went one at a time"):
        assert result.retried_on_budget, f"drain never waited on the disruption budget:\n{result.output}"
    with step("And at least one replica was ready throughout"):
        assert min(samples) >= 1, f"ready replicas fell to {min(samples)} during the drain: {samples}"
    with step(f"And both replicas now run away from {node}"):
        moved = eventually(lambda: ready_pods(cluster, ns.name, SELECTOR), until=lambda ps: len(ps) == 2,
                           timeout=timeouts.pod_start, desc="2 ready replicas after drain")
        assert node not in {p.node for p in moved}, moved


@pytest.mark.claim("S000-52")
@pytest.mark.slow
def test_drain_blocks_and_evicts_nothing_when_min_available_equals_replicas(ns, cluster, colocated_app, budget, timeouts):
    """A PDB with minAvailable equal to the replica count never allows a disruption, so a drain times out."""
    node = colocated_app
    budget("pdb-min-available.yaml", allowed=0, min_available=2)
    with step(f"When {node} is drained with a {timeouts.drain_blocked:.0f}s timeout"):
        result = drain(cluster, node, SELECTOR, timeout=timeouts.drain_blocked)
    with step("Then the drain fails, refused by the disruption budget"):
        assert result.returncode != 0 and result.retried_on_budget, f"drain should block on the budget:\n{result.output}"
    with step(f"And both replicas are still on {node}"):
        left = [p for p in views(cluster, ns.name, SELECTOR) if not p.deleting]
        assert len(left) == 2 and {p.node for p in left} == {node}, left
