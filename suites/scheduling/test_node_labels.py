"""Node labels drive placement at scheduling time only: a nodeSelector waits for a matching node;
required node affinity is *IgnoredDuringExecution*.

Seed 002 「调度策略」 (PodMatchNodeSelector; 「表示该Pod只能运行在携带了disktype:ssd标签的节点上」) and
「常见的调度方式」 (requiredDuringSchedulingIgnoredDuringExecution); seed 003 「调度失败」 (不满足
NodeSelector). These tests label a worker, so they are disruptive: they check every node is at rest
first, remove the label, and check again. Source: kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/
"""
import pytest

from fixtures.nodes import labelled, pristine_workers, unlabel
from fixtures.pods import is_bound, phase_is, unschedulable_because, view, wait_pod
from fixtures.polling import consistently
from fixtures.reporting import step

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.disruptive,
              pytest.mark.requires(images=["agnhost"], multinode=True)]


def _nodes_with_label(cluster, key: str) -> list[str]:
    return [n.metadata.name for n in cluster.core.list_node(label_selector=key).items]


@pytest.mark.claim("S002-034", "S003-033")
def test_pod_with_node_selector_stays_pending_until_a_node_gets_the_label_then_binds_there(ns, cluster, timeouts):
    """The document's pod with nodeSelector disktype: ssd is Pending while no node carries
    disktype=ssd ("didn't match Pod's node affinity/selector"); once a worker is labelled, the pod is
    bound to that worker."""
    nodes = pristine_workers(cluster, settle=timeouts.controller_sync)
    target = nodes[-1]
    with step("Given no node is labelled disktype"):
        assert _nodes_with_label(cluster, "disktype") == []
    with step("When the document's pod with nodeSelector disktype: ssd is created"):
        ns.apply("scheduling/affinity/pod-node-selector.yaml", name="ssd-only", key="disktype", value="ssd")
    with step("Then it is Unschedulable: no node matches its selector"):
        wait_pod(cluster, ns.name, "ssd-only", unschedulable_because("didn't match Pod's node affinity/selector"), timeouts)
    with labelled(cluster, target, {"disktype": "ssd"}):
        with step(f"When {target} is labelled disktype=ssd, the pod is bound to {target} and runs"):
            p = wait_pod(cluster, ns.name, "ssd-only", phase_is("Running"), timeouts)
            assert p.node == target, f"bound to {p.node}, not to the labelled {target}"
    with step("And every node is back at rest, the label gone"):
        pristine_workers(cluster, settle=timeouts.controller_sync)
        assert _nodes_with_label(cluster, "disktype") == []


@pytest.mark.claim("S002-044")
def test_removing_the_label_required_node_affinity_matched_does_not_evict_the_running_pod(ns, cluster, timeouts):
    """Required node affinity is IgnoredDuringExecution: after the pod is running, removing the node
    label it required leaves the pod running on that node; a new pod with the same rule is Pending
    (the rule is no longer met, so the pod's survival is the rule being ignored, not still matched)."""
    nodes = pristine_workers(cluster, settle=timeouts.controller_sync)
    target, key = nodes[0], "kubeproof.io/zone"
    with labelled(cluster, target, {key: "a"}):
        with step(f"Given a pod running on {target} by required affinity {key}=a"):
            ns.apply("scheduling/affinity/pod-required-node-affinity.yaml", name="settled", key=key, value="a")
            assert wait_pod(cluster, ns.name, "settled", phase_is("Running"), timeouts).node == target
        with step(f"When the label {key} is removed from {target}"):
            unlabel(cluster, target, key)
        with step("Then a new pod with the same rule is Unschedulable (the rule no longer matches)"):
            ns.apply("scheduling/affinity/pod-required-node-affinity.yaml", name="latecomer", key=key, value="a")
            wait_pod(cluster, ns.name, "latecomer", unschedulable_because("didn't match Pod's node affinity/selector"),
                     timeouts)
        with step("And the running pod stays where it is, running"):
            consistently(lambda: view(cluster, ns.name, "settled"),
                         holds=lambda p: p.phase == "Running" and not p.deleting and p.node == target,
                         duration=timeouts.short_hold, desc="pod keeps running after its node lost the label")
    with step("And every node is back at rest"):
        pristine_workers(cluster, settle=timeouts.controller_sync)
        assert is_bound(view(cluster, ns.name, "settled"))
