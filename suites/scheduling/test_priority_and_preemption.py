"""Pod priority: PriorityClass (the document's v1beta1 manifest against today's API), its value rules,
the priority queue, and preemption.

Seed 002 「优先级与抢占机制」, 「抢占过程」 and 「原理」 (「默认的调度队列是优先级队列」). The document
says the preemptor gets `spec.nominatedNodeName`: it is `status.nominatedNodeName`. PriorityClass
scheduling.k8s.io/v1beta1 was removed in 1.22 (v1 GA since 1.14). Source:
kubernetes.io/docs/concepts/scheduling-eviction/pod-priority-preemption/; deprecation-guide #v1-22.
"""
import json
import time

import pytest
import yaml
from kubernetes.client import ApiException

from fixtures.manifests import render
from fixtures.nodes import workers
from fixtures import priority_classes
from fixtures.pods import is_bound, unschedulable_because, view, views, wait_gone, wait_pod
from fixtures.polling import consistently, eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.requires(images=["agnhost"])]

PC = priority_classes.API


def _refusal(create) -> tuple[int, str]:
    """(HTTP status, message) of a create the API server must refuse."""
    with pytest.raises(ApiException) as refused:
        create()
    body = refused.value.body
    return refused.value.status, body.decode() if isinstance(body, bytes) else str(body)


@pytest.mark.claim("S002-046")
def test_documented_v1beta1_priority_class_is_refused_and_its_v1_twin_is_served(ns, cluster, cluster_objects, server_version):
    """The document's block does not parse as written (a prose line 「Pod内」 sits in it); its
    PriorityClass under scheduling.k8s.io/v1beta1 is refused by kubectl ("no matches for kind
    PriorityClass in version scheduling.k8s.io/v1beta1") from 1.22 on, while the same object under
    scheduling.k8s.io/v1 is created."""
    with step("Given the document's block verbatim: it is not valid YAML"):
        with pytest.raises(yaml.YAMLError):
            render("scheduling/priority/doc-verbatim.yaml")
    name = f"{ns.name}-doc"
    with step("When its PriorityClass is applied with kubectl as written (apiVersion scheduling.k8s.io/v1beta1)"):
        doc = yaml.safe_dump(render("scheduling/priority/doc-v1beta1.yaml", name=name)[0])
        answer = cluster.kubectl("apply", "-f", "-", input=doc, check=False)
    with step("Then the API server serves only scheduling.k8s.io/v1"):
        served = _served_versions(cluster)
        if server_version >= (1, 22, 0):
            assert served == ["v1"], f"[behaviour-changed] scheduling.k8s.io serves {served}"
    with step("And kubectl refuses the v1beta1 manifest: no such kind in that version"):
        if server_version >= (1, 22, 0):
            assert answer.returncode != 0 and "no matches for kind" in answer.stderr, (
                f"[behaviour-changed] v1beta1 PriorityClass applied on {server_version}: {answer.stdout}{answer.stderr}")
    with step("And the same PriorityClass under scheduling.k8s.io/v1 is created with the document's value"):
        ns.apply("scheduling/priority/doc-v1.yaml", name=name)
        cluster_objects.track(*PC, name)
        live = cluster.dynamic.resources.get(api_version=PC[0], kind=PC[1]).get(name=name)
        assert (live.value, bool(live.globalDefault)) == (1000000, False), live


def _served_versions(cluster) -> list[str]:
    group = json.loads(cluster.kubectl("get", "--raw", "/apis/scheduling.k8s.io").stdout)
    return sorted(v["version"] for v in group["versions"])


@pytest.mark.claim("S002-047")
@pytest.mark.serial  # a globalDefault PriorityClass gives every new pod in the cluster its value
def test_priority_class_values_and_the_single_global_default(ns, cluster, cluster_objects, timeouts):
    """User classes are capped at 1000000000 and may not be named system-*; the built-in
    system-cluster-critical (2000000000) and system-node-critical (2000001000) exist; a pod without
    priorityClassName gets priority 0, or the value of the one globalDefault class while it exists
    (a second globalDefault class is refused); existing pods keep their priority."""
    pcs = cluster.dynamic.resources.get(api_version=PC[0], kind=PC[1])
    with step("Given the built-in classes"):
        builtin = {n: pcs.get(name=n).value for n in ("system-cluster-critical", "system-node-critical")}
        assert builtin == {"system-cluster-critical": 2000000000, "system-node-critical": 2000001000}, builtin
    with step("Then a user class above 1000000000 is refused"):
        status, message = _refusal(lambda: priority_classes.create(ns, cluster_objects, f"{ns.name}-huge", 1000000001, timeouts))
        assert status == 422 and "1000000000" in message, message
    with step("And a user class named system-* is refused"):
        status, message = _refusal(lambda: priority_classes.create(ns, cluster_objects, f"system-{ns.name}", 1000, timeouts))
        assert status in (403, 422) and "system-" in message, message
    with step("And with no globalDefault class, a pod without priorityClassName gets priority 0"):
        assert not [pc.metadata.name for pc in pcs.get().items if pc.globalDefault], "a globalDefault class already exists"
        ns.apply("scheduling/unschedulable/pod-default-scheduler.yaml", name="before")
        assert cluster.core.read_namespaced_pod("before", ns.name).spec.priority == 0
    with step("When a globalDefault class of value 1000 exists"):
        priority_classes.create(ns, cluster_objects, f"{ns.name}-default", 1000, timeouts, global_default=True)
    with step("Then a second globalDefault class is refused"):
        status, message = _refusal(lambda: priority_classes.create(ns, cluster_objects, f"{ns.name}-default2", 2000, timeouts, global_default=True))
        assert status == 403 and "Only one default can exist" in message, message
    with step("And a new pod without priorityClassName gets 1000, the existing pod keeps 0"):
        ns.apply("scheduling/unschedulable/pod-default-scheduler.yaml", name="after")
        after = cluster.core.read_namespaced_pod("after", ns.name).spec
        assert (after.priority, after.priority_class_name) == (1000, f"{ns.name}-default"), after
        assert cluster.core.read_namespaced_pod("before", ns.name).spec.priority == 0


@pytest.mark.claim("S002-025")
@pytest.mark.requires(multinode=True)
def test_the_highest_priority_pending_pod_is_scheduled_first(ns, cluster, cluster_objects, timeouts):
    """Pods waiting together are taken by priority: five priority-0 pods and, created after them,
    one high-priority pod compete for a single slot (beside an anchor pod, never two of them on one
    node); when the anchor appears, the high-priority pod gets the slot although it queued last.
    It may not preempt (preemptionPolicy: Never), so it can only win by going first."""
    high, zero = f"{ns.name}-first", f"{ns.name}-zero"
    priority_classes.create(ns, cluster_objects, high, 1000, timeouts, preemption_policy="Never")
    priority_classes.create(ns, cluster_objects, zero, 0, timeouts, preemption_policy="Never")
    low = [f"low-{i}" for i in range(5)]
    with step("Given five priority-0 pods, then one high-priority pod, all waiting for an anchor pod"):
        for name in low:
            ns.apply("scheduling/priority/queued-pod.yaml", name=name, priority_class=zero, anchor="anchor")
        ns.apply("scheduling/priority/queued-pod.yaml", name="high", priority_class=high, anchor="anchor")
        eventually(lambda: views(cluster, ns.name, "group=queued"),
                   until=lambda ps: len(ps) == 6 and all(unschedulable_because("didn't match pod affinity rules")(p) for p in ps),
                   timeout=timeouts.pod_start, desc="all six unschedulable")
        # the hold lets each pod's 1 s scheduling back-off expire: all six then move to the queue together
        consistently(lambda: views(cluster, ns.name, "group=queued"), holds=lambda ps: not any(p.node for p in ps),
                     duration=timeouts.short_hold, desc="all six still waiting")
    with step("When the anchor pod runs"):
        ns.apply("scheduling/affinity/pod-on-node.yaml", name="anchor", node=workers(cluster)[0])
        wait_pod(cluster, ns.name, "anchor", is_bound, timeouts)
    with step("Then the high-priority pod is the one placed beside it"):
        placed = eventually(lambda: [p.name for p in views(cluster, ns.name, "group=queued") if p.node],
                            until=lambda names: len(names) >= 1, timeout=timeouts.pod_start, desc="one queued pod placed")
        assert placed == ["high"], f"[behaviour-changed] the slot went to {placed}, not to the high-priority pod"
    with step("And the priority-0 pods keep waiting"):
        consistently(lambda: [p.name for p in views(cluster, ns.name, "group=queued") if p.node],
                     holds=lambda names: names == ["high"], duration=timeouts.short_hold, desc="only the high pod placed")


@pytest.mark.claim("S002-048")
@pytest.mark.requires(images=["agnhost", "busybox"])
def test_preemption_nominates_the_node_in_status_and_evicts_the_victim_gracefully(ns, cluster, cluster_objects, timeouts):
    """A high-priority pod that fits only where a lower-priority pod runs preempts it: the scheduler
    sets status.nominatedNodeName (there is no spec field), the victim gets DisruptionTarget
    (PreemptionByScheduler) and a graceful deletion with its own terminationGracePeriodSeconds, and
    the preemptor is bound only after the victim is gone."""
    grace = 4
    node = workers(cluster)[0]
    high = f"{ns.name}-preemptor"
    priority_classes.create(ns, cluster_objects, high, 1000, timeouts)
    with step(f"Given a priority-0 victim on {node} that ignores SIGTERM (grace {grace} s)"):
        ns.apply("scheduling/priority/victim.yaml", name="victim", node=node, grace=grace)
        wait_pod(cluster, ns.name, "victim", lambda p: p.phase == "Running", timeouts)
    with step(f"When a high-priority pod that must run on {node}, never beside the victim, is created"):
        ns.apply("scheduling/priority/preemptor.yaml", name="preemptor", priority_class=high, node=node)
        t0 = time.monotonic()
    with step("Then the victim is being deleted gracefully, marked DisruptionTarget by the scheduler"):
        victim = eventually(lambda: cluster.core.read_namespaced_pod("victim", ns.name),
                            until=lambda p: p.metadata.deletion_timestamp is not None,
                            timeout=timeouts.controller_sync, desc="victim deletion begun")
        conditions = {c.type: c.reason for c in victim.status.conditions or []}
        assert conditions.get("DisruptionTarget") == "PreemptionByScheduler", conditions
        assert victim.metadata.deletion_grace_period_seconds == grace, victim.metadata
    with step(f"And the preemptor is nominated to {node} in status.nominatedNodeName, not yet bound"):
        pre = cluster.core.read_namespaced_pod("preemptor", ns.name)
        raw = cluster.api.sanitize_for_serialization(pre)
        assert raw["status"].get("nominatedNodeName") == node and "nodeName" not in raw["spec"], (
            f"[behaviour-changed] status={raw['status']} spec.nodeName={raw['spec'].get('nodeName')}")
        assert "nominatedNodeName" not in raw["spec"], raw["spec"]
    with step("And the preemptor is bound to the node only once the victim is gone, after its grace period"):
        wait_gone(cluster, ns.name, "victim", timeouts, budget="controller_sync")
        bound = wait_pod(cluster, ns.name, "preemptor", is_bound, timeouts)
        waited = time.monotonic() - t0
        assert bound.node == node and waited >= grace - 1, f"bound to {bound.node} after {waited:.1f}s (grace {grace} s)"
        assert view(cluster, ns.name, "preemptor").node == node
