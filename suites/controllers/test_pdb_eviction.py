"""PodDisruptionBudget: evictions are admitted only within the budget (seed 000, 2021-02-18~21,
「k8s中，什么情况下驱逐会导致服务不可用？」). Source: kubernetes.io/docs/concepts/workloads/pods/disruptions/"""
import pytest

from fixtures.api_calls import evict
from fixtures.polling import consistently, eventually
from fixtures.pdbs import settled as pdb_settled, status as pdb_status, view_of as pdb_view
from fixtures.pods import ready_pods
from fixtures.reporting import step
from fixtures.watching import watch_until

pytestmark = [pytest.mark.area("controllers"), pytest.mark.requires(images=["agnhost"])]

APP = "web"
SELECTOR = f"app={APP}"


@pytest.fixture
def guarded_app(ns, cluster, timeouts):
    """Given 3 ready replicas behind a policy/v1 PDB with maxUnavailable: 1, as the controller sees them."""
    settled = pdb_settled(healthy=3, allowed=1)
    with step("Given 3 ready replicas guarded by a PDB with maxUnavailable: 1"):
        ns.apply("controllers/pdb-eviction/deployment.yaml", name=APP, replicas=3)
        ns.apply("controllers/pdb-eviction/pdb-max-unavailable.yaml", name=APP, max_unavailable=1)
        # the disruption controller pushes each status change: a watch sees it without a poll gap
        watch_until(cluster.policy.list_namespaced_pod_disruption_budget, lambda pdb: settled(pdb_view(pdb)),
                    timeout=timeouts.pod_start, desc="PDB sees 3 healthy pods, allows 1 disruption",
                    namespace=ns.name, field_selector=f"metadata.name={APP}")
    return sorted(p.name for p in ready_pods(cluster, ns.name, SELECTOR))


@pytest.mark.claim("S000-49")
@pytest.mark.severity("critical")
def test_eviction_is_refused_with_429_when_it_would_exceed_the_budget(ns, cluster, guarded_app, timeouts):
    """While a PDB allows no further disruption, the Eviction API refuses with HTTP 429 and the pod keeps running."""
    first, second = guarded_app[0], guarded_app[1]
    with step(f"When {first} is evicted, using the one allowed disruption"):
        admitted = evict(cluster, ns.name, first)
        assert admitted.status == 201, f"the first eviction should be admitted: {admitted}"
    with step(f"And {second} is evicted straight after"):
        refused = evict(cluster, ns.name, second)
    with step("Then the second eviction is refused by the disruption budget with 429"):
        assert refused.refused_by_disruption_budget, f"expected 429 citing the disruption budget, got {refused}"
    with step(f"And {second} stays running"):
        consistently(lambda: [p.name for p in ready_pods(cluster, ns.name, SELECTOR)], holds=lambda names: second in names,
                     duration=timeouts.short_hold, desc=f"{second} still ready")


@pytest.mark.claim("S000-49")
def test_eviction_is_admitted_again_once_the_replacement_is_ready(ns, cluster, guarded_app, timeouts):
    """After an eviction, the budget waits for the replacement to be Ready, then admits the next eviction."""
    first, second = guarded_app[0], guarded_app[1]
    with step(f"Given {first} was evicted and the budget is spent"):
        assert evict(cluster, ns.name, first).status == 201
    with step("When the replacement pod becomes Ready"):
        status = eventually(lambda: pdb_status(cluster, ns.name, APP), until=pdb_settled(healthy=3, allowed=1),
                            timeout=timeouts.pod_start, desc="budget restored by the replacement")
    with step(f"Then evicting {second} is admitted"):
        answer = evict(cluster, ns.name, second)
        assert answer.status == 201, f"expected the eviction admitted once the budget recovered ({status}), got {answer}"
