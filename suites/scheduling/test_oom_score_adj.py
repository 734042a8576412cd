"""The kernel OOM killer's knobs on a Kubernetes node: the kubelet's vm.* tunables and the
oom_score_adj it gives each container by QoS class (Guaranteed -997, BestEffort 1000, Burstable
1000 − 1000·memoryRequest/memoryCapacity clamped to [3, 999], pod sandboxes -998).

Source: seed 001, 2021-03-08~14 › 「linux oom」; seed 002 「Pod的资源分配 QoS」 (quoted:
「Guaranteed级别的Pod得分最低，BestEffort级别的Pod得分最高」). Upstream: kubernetes pkg/kubelet/qos/policy.go,
pkg/kubelet/cm/container_manager_linux.go (setupKernelTunables);
kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/#node-out-of-memory-behavior
Environment: a runtime may refuse scores below its own. containerd with `restrict_oom_score_adj`
(kind sets it where the node cannot lower scores, as on this VM, whose processes lack
CAP_SYS_RESOURCE) raises them to containerd's own score; the tests read that floor from the node.
"""
import pytest

from fixtures.exclusivity import cluster_in_use
from fixtures.nodes import runtime_oom_score_floor
from fixtures.podexec import exec_in
from fixtures.pods import wait_ready
from fixtures.runtime import pod_runtime
from fixtures.reporting import step

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.requires(images=["busybox"], node_access=True)]

GUARANTEED_ADJ, BEST_EFFORT_ADJ, SANDBOX_ADJ = -997, 1000, -998
BURSTABLE_SHARE = 0.05  # the Burstable pod requests 5 % of its node's memory: expected score 950


def burstable_adj(request_bytes: int, capacity_bytes: int) -> int:
    """kubelet pkg/kubelet/qos/policy.go GetContainerOOMScoreAdjust, Burstable branch."""
    adj = 1000 - (1000 * request_bytes) // capacity_bytes
    return 1000 + GUARANTEED_ADJ if adj < 1000 + GUARANTEED_ADJ else 999 if adj == BEST_EFFORT_ADJ else adj


def quantity_bytes(q: str) -> int:
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40}
    return int(q[:-2]) * units[q[-2:]] if q[-2:] in units else int(q)


@pytest.fixture(scope="module")
def qos_pods(module_ns, cluster, timeouts):
    """Given one running pod per QoS class, the Burstable one requesting 5 % of a worker's memory."""
    capacity = quantity_bytes(cluster.core.list_node().items[0].status.capacity["memory"])
    request = int(capacity * BURSTABLE_SHARE)
    pods = {"guaranteed": ("{cpu: 50m, memory: 32Mi}", "{cpu: 50m, memory: 32Mi}"),
            "burstable": (f"{{memory: '{request}'}}", "{}"),
            "besteffort": ("{}", "{}")}
    with cluster_in_use(cluster), step("Given a Guaranteed, a Burstable and a BestEffort pod"):
        for name, (requests, limits) in pods.items():
            module_ns.apply("scheduling/resources/sleeper.yaml", name=name, requests=requests, limits=limits)
        placed = {name: wait_ready(cluster, module_ns.name, f"app={name}", 1, timeouts)[0] for name in pods}
    return module_ns, placed, request


def score_of(cluster, ns, pod: str) -> int:
    return int(exec_in(cluster, ns.name, pod, "main", ["cat", "/proc/1/oom_score_adj"]).stdout)


@pytest.mark.claim("S001-29", "S002-103")
@pytest.mark.severity("critical")
def test_each_qos_class_gets_its_oom_score_adj(qos_pods, cluster):
    """Guaranteed containers get -997 (last to die), BestEffort 1000 (first), Burstable in between by
    the share of node memory they request (5 % → 950); on a runtime that restricts scores, nothing
    goes below the runtime's own score."""
    ns, placed, request = qos_pods
    with step("Given the Burstable pod's node memory capacity and the runtime's lowest allowed score"):
        node = placed["burstable"].node
        capacity = quantity_bytes(cluster.core.read_node(node).status.capacity["memory"])
        floors = {p.node: runtime_oom_score_floor(cluster, p.node) for p in placed.values()}
    with step("When each pod's main process oom_score_adj is read inside it"):
        seen = {name: score_of(cluster, ns, name) for name in placed}
    with step("Then BestEffort is 1000 and Burstable follows 1000 - 1000*request/capacity"):
        assert seen["besteffort"] == BEST_EFFORT_ADJ, seen
        assert seen["burstable"] == burstable_adj(request, capacity), (
            f"request {request} of capacity {capacity} on {node}: {seen}")
    with step("And Guaranteed is -997, or the runtime's floor where it restricts scores"):
        floor = floors[placed["guaranteed"].node]
        expected = GUARANTEED_ADJ if floor is None else max(GUARANTEED_ADJ, floor)
        assert seen["guaranteed"] == expected, f"runtime floor {floor}: {seen}"
    with step("And the order holds: Guaranteed < Burstable < BestEffort"):
        assert seen["guaranteed"] < seen["burstable"] < seen["besteffort"], seen


@pytest.mark.claim("S001-29")
def test_pod_sandbox_gets_minus_998_or_the_runtime_floor(qos_pods, cluster):
    """The pod's sandbox (pause) process is given -998, below every container."""
    ns, placed, _ = qos_pods
    pod = placed["besteffort"]
    with step(f"When the sandbox process of {pod.name} on {pod.node} is read"):
        sandbox = pod_runtime(cluster, pod.node, pod.uid).sandbox
        score = cluster.node_exec(pod.node, "cat", f"/proc/{sandbox.pid}/oom_score_adj").stdout.strip()
        floor = runtime_oom_score_floor(cluster, pod.node)
    with step("Then it is -998, or the runtime's floor where it restricts scores"):
        expected = SANDBOX_ADJ if floor is None else max(SANDBOX_ADJ, floor)
        assert score == str(expected), f"runtime floor {floor}: sandbox {sandbox.id[:13]} pid {sandbox.pid} has {score!r}"


@pytest.mark.claim("S001-28")
def test_kubelet_node_lets_memory_overcommit_and_never_panics_on_oom(qos_pods, cluster):
    """The document: overcommit_memory=1 never triggers the OOM killer (wrong: mode 1 always grants
    memory, so the OOM killer is what ends an overrun; the cgroup OOM test shows it). Kubernetes
    nodes run vm.overcommit_memory=1 and vm.panic_on_oom=0 (the kubelet sets them); the document's
    `vm.oom-kill` is not a Linux sysctl."""
    ns, placed, _ = qos_pods
    with step("When the vm sysctls are read from inside a pod (they are global, not namespaced)"):
        out = exec_in(cluster, ns.name, "besteffort", "main", ["sh", "-c",
                      "cat /proc/sys/vm/overcommit_memory /proc/sys/vm/panic_on_oom; test -e /proc/sys/vm/oom-kill && echo oom-kill"]).stdout
    with step("Then memory overcommit is always allowed (1), an OOM never panics (0), and vm.oom-kill does not exist"):
        assert out.split() == ["1", "0"], f"overcommit_memory, panic_on_oom, [oom-kill]: {out.split()}"
