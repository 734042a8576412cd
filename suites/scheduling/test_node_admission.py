"""The kubelet's own admission check (GeneralPredicates at Admit) and the scheduler's host-port filter.

Seed 002 「原理」 (「Pod在Node上运行起来之前，还会有一个叫Admit的操作…比如资源是否可用，端口是否占用」)
and 「调度策略」 (PodFitsHostPorts: 「检查Pod申请的宿主机端口`spec.nodePort`是否已经被占用」). A pod
with spec.nodeName preset skips the scheduler, so only the kubelet's admission stands between it and
a node that cannot take it: the pod fails with reason OutOfcpu / NodePorts / NodeAffinity. The
document's field `spec.nodePort` does not exist: the filter (NodePorts) checks containers[].ports[].hostPort,
keyed by (hostIP, protocol, port), 0.0.0.0 overlapping every address; hostNetwork pods' container
ports count as host ports. Source: pkg/kubelet/lifecycle/predicate.go; kube-scheduler plugin NodePorts;
kubernetes.io/docs/concepts/configuration/overview/#services (hostPort).
"""
import pytest
from kubernetes.utils import parse_quantity

from fixtures.node_network import http_get, node_ip, unused_host_port
from fixtures.nodes import allocatable, workers
from fixtures.pods import is_bound, phase_is, unschedulable_because, view, wait_pod
from fixtures.polling import consistently, eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.requires(images=["agnhost"])]

NO_FREE_PORTS = "didn't have free ports for the requested pod ports"


def _rejected(p) -> bool:
    return p.phase == "Failed" and p.reason is not None


@pytest.mark.claim("S002-027")
def test_kubelet_rejects_a_preset_pod_that_does_not_fit_at_admission(ns, cluster, timeouts):
    """Pods that bypass the scheduler with spec.nodeName are re-checked by the kubelet: more CPU than
    the node has → Failed, reason OutOfcpu; a hostPort already taken on the node → Failed, reason
    NodePorts; unmatched required node affinity → Failed, reason NodeAffinity. A preset pod that fits
    runs (the negative control)."""
    node = workers(cluster)[0]
    cpu = f"{int(parse_quantity(allocatable(cluster, node)['cpu'])) + 1}"
    port = unused_host_port(cluster)
    with step(f"Given a preset pod holding hostPort {port} running on {node}"):
        ns.apply("scheduling/admission/pod-preset-hostport.yaml", name="holder", node=node, host_port=port)
        wait_pod(cluster, ns.name, "holder", phase_is("Running"), timeouts)
    with step(f"When pods preset to {node} ask for {cpu} CPU, for hostPort {port}, for an affinity no node has"):
        ns.apply("scheduling/admission/pod-preset-cpu.yaml", name="greedy", node=node, cpu=cpu)
        ns.apply("scheduling/admission/pod-preset-hostport.yaml", name="port-clash", node=node, host_port=port)
        ns.apply("scheduling/admission/pod-preset-affinity.yaml", name="misfit", node=node)
    for name, reason in (("greedy", "OutOfcpu"), ("port-clash", "NodePorts"), ("misfit", "NodeAffinity")):
        with step(f"Then the kubelet rejects {name}: phase Failed, reason {reason}"):
            p = wait_pod(cluster, ns.name, name, _rejected, timeouts)
            assert p.reason == reason and p.node == node, f"{name}: phase {p.phase}, reason {p.reason}, node {p.node}"
            assert all(c.state != "running" and not c.started for c in p.containers.values()), p.containers
    with step("And the port holder keeps running and serving on the node's port"):
        assert view(cluster, ns.name, "holder").phase == "Running"
        answer = http_get(node_ip(cluster, node), port)
        assert answer.body == "holder", answer


@pytest.mark.claim("S002-033")
def test_scheduler_keeps_pods_claiming_an_overlapping_host_port_off_the_node(ns, cluster, timeouts):
    """The scheduler's host-port filter reads containers[].ports[].hostPort (Pods have no spec.nodePort):
    on one node, a pod asking the port on 0.0.0.0 blocks a later pod asking it on the node's own IP
    (0.0.0.0 overlaps every address) and a hostNetwork pod declaring that containerPort (defaulted to a
    hostPort); the same port over UDP schedules beside it."""
    node, port = workers(cluster)[0], unused_host_port(cluster)
    ip = node_ip(cluster, node)
    with step(f"Given a pod on {node} holding hostPort {port}/TCP on 0.0.0.0"):
        ns.apply("scheduling/admission/pod-hostport.yaml", name="any-address", node=node, host_port=port,
                 host_ip="0.0.0.0", protocol="TCP")
        wait_pod(cluster, ns.name, "any-address", phase_is("Running"), timeouts)
    with step(f"When pods for {node} ask {port}/TCP on {ip}, {port}/UDP, and a hostNetwork pod declares containerPort {port}"):
        ns.apply("scheduling/admission/pod-hostport.yaml", name="node-ip", node=node, host_port=port,
                 host_ip=ip, protocol="TCP")
        ns.apply("scheduling/admission/pod-hostport.yaml", name="udp", node=node, host_port=port,
                 host_ip="0.0.0.0", protocol="UDP")
        ns.apply("scheduling/admission/pod-host-network.yaml", name="host-net", node=node, host_port=port)
    with step("Then the hostNetwork pod's containerPort was defaulted to a hostPort, and Pods have no nodePort field"):
        spec = cluster.api.sanitize_for_serialization(cluster.core.read_namespaced_pod("host-net", ns.name))["spec"]
        assert spec["containers"][0]["ports"][0].get("hostPort") == port, spec["containers"][0]["ports"]
        assert "nodePort" not in spec, sorted(spec)
    for name in ("node-ip", "host-net"):
        with step(f"And {name} is Unschedulable: '{NO_FREE_PORTS}'"):
            wait_pod(cluster, ns.name, name, unschedulable_because(NO_FREE_PORTS), timeouts)
    with step("And the UDP pod (the negative control: same number, other protocol) runs on the node"):
        assert wait_pod(cluster, ns.name, "udp", phase_is("Running"), timeouts).node == node
    with step("And the 0.0.0.0 holder answers on the node's address"):
        answer = eventually(lambda: http_get(ip, port), until=lambda a: a.body == "any-address",
                            timeout=timeouts.network_programming, desc=f"{ip}:{port} answered by any-address")
        assert answer.body == "any-address"
    with step("And the refused pods stay unbound"):
        consistently(lambda: [view(cluster, ns.name, n).node for n in ("node-ip", "host-net")],
                     holds=lambda nodes: nodes == [None, None], duration=timeouts.short_hold, desc="refused pods unbound")
    assert is_bound(view(cluster, ns.name, "any-address"))
