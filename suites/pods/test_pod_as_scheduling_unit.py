"""A pod is scheduled as one unit: the scheduler places the sum of its containers' requests on one node.

Seed 002 「Pod」: the containers of a pod "are scheduled onto one node as a whole"; seed 003 「Pod」: they
"are always scheduled together". Holds: a pod whose two containers each fit a node, but not both
together, stays Pending with "Insufficient cpu", while a pod with one such container runs.
Source: https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/#how-pods-with-resource-requests-are-scheduled
"""
import pytest

from fixtures.nodes import allocatable, schedulable
from fixtures.pods import is_ready, unschedulable_because, view, wait_pod
from fixtures.polling import consistently
from fixtures.reporting import step

pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(images=["busybox"])]

MARGIN_MILLIS = 100  # each container asks for this much more than half of the largest node


def _millicores(quantity: str) -> int:
    return int(quantity[:-1]) if quantity.endswith("m") else int(float(quantity) * 1000)


@pytest.mark.claim("S003-001", "S002-069")
def test_a_pod_needs_one_node_for_the_sum_of_its_containers_requests(ns, cluster, timeouts):
    """Two containers that would each fit a node alone make an unschedulable pod when their sum fits none."""
    biggest = max(_millicores(allocatable(cluster, n)["cpu"]) for n in schedulable(cluster))
    each = f"{biggest // 2 + MARGIN_MILLIS}m"
    with step(f"Given the largest schedulable node allocates {biggest}m CPU"):
        assert biggest > 2 * MARGIN_MILLIS, biggest
    with step(f"When a pod of two containers requesting {each} each, and a pod of one such container, are created"):
        ns.apply("pods/placement/two-requests.yaml", name="pair", cpu=each)
        ns.apply("pods/placement/one-request.yaml", name="single", cpu=each)
    with step("Then the single-container pod is scheduled and runs (one container fits)"):
        wait_pod(cluster, ns.name, "single", is_ready, timeouts)
    with step("And the two-container pod is unschedulable for Insufficient cpu: its containers are not split across nodes"):
        wait_pod(cluster, ns.name, "pair", unschedulable_because("Insufficient cpu"), timeouts)
        consistently(lambda: view(cluster, ns.name, "pair"), holds=lambda p: p.node is None and p.phase == "Pending",
                     duration=timeouts.short_hold, desc="pair stays unbound")
