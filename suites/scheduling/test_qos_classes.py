"""Resource quantities and QoS classes: units, defaulting (limits copied into absent requests, no
CPU default unless a LimitRange gives one) and status.qosClass (Guaranteed / Burstable / BestEffort).

Source: seed 002 「Pod的资源分配 QoS」 (「1Mi=1024*1024，1M=1000*1000」, 「cpu…也可以直接写成0.25，默认是1」,
「当设置limits而没有设置requests时，Kubernetes 默认令requests等于limits」, the three QoS classes).
Upstream: kubernetes.io/docs/concepts/workloads/pods/pod-qos/ ; …/manage-resources-containers/#resource-units-in-kubernetes ;
…/policy/limit-range/ . QoS pods are never scheduled (qosClass is set by the API server at creation).
"""
import pytest

from fixtures import cgroups
from fixtures.exclusivity import cluster_in_use
from fixtures.pods import wait_ready
from fixtures.reporting import step

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.requires(images=["busybox"])]

NONE = "{}"
LIMITS_ONLY = "{limits: {cpu: 100m, memory: 32Mi}}"
EQUAL = "{requests: {cpu: 100m, memory: 32Mi}, limits: {cpu: 100m, memory: 32Mi}}"
MEMORY_LIMIT_ONLY = "{limits: {memory: 32Mi}}"
BELOW = "{requests: {cpu: 50m, memory: 16Mi}, limits: {cpu: 100m, memory: 32Mi}}"
CPU_REQUEST_ONLY = "{requests: {cpu: 10m}}"

# case -> (init container, container a, container b) resources, expected qosClass
QOS_TABLE = {
    "limits-only": ((LIMITS_ONLY, LIMITS_ONLY, LIMITS_ONLY), "Guaranteed"),
    "requests-equal-limits": ((EQUAL, EQUAL, EQUAL), "Guaranteed"),
    "memory-limit-only": ((MEMORY_LIMIT_ONLY, MEMORY_LIMIT_ONLY, MEMORY_LIMIT_ONLY), "Burstable"),
    "one-app-container-bare": ((LIMITS_ONLY, LIMITS_ONLY, NONE), "Burstable"),
    "init-container-bare": ((NONE, LIMITS_ONLY, LIMITS_ONLY), "Burstable"),
    "only-init-container-limited": ((LIMITS_ONLY, NONE, NONE), "Burstable"),
    "requests-below-limits": ((BELOW, BELOW, BELOW), "Burstable"),
    "one-cpu-request": ((NONE, CPU_REQUEST_ONLY, NONE), "Burstable"),
    "nothing": ((NONE, NONE, NONE), "BestEffort"),
}


@pytest.fixture(scope="module")
def qos_pods(module_ns, cluster):
    """Given one never-scheduled pod per resources combination (init container + two containers)."""
    with cluster_in_use(cluster), step(f"Given {len(QOS_TABLE)} pods: {', '.join(QOS_TABLE)}"):
        for name, ((init, a, b), _) in QOS_TABLE.items():
            module_ns.apply("scheduling/resources/qos-unscheduled.yaml", name=name, init=init, a=a, b=b)
    return {p.metadata.name: p for p in cluster.core.list_namespaced_pod(module_ns.name, label_selector="app=qos").items}


@pytest.mark.claim("S002-098")
@pytest.mark.severity("critical")
def test_qos_class_is_guaranteed_only_when_every_container_has_equal_cpu_and_memory_limits(qos_pods):
    """Guaranteed: every container, init containers included, has CPU and memory limits and equal
    requests (or none, defaulted); Burstable: anything else with some request or limit; BestEffort:
    none at all. A memory limit alone, or one bare container, makes the pod Burstable."""
    with step("Then each pod's status.qosClass is the one its containers' resources call for"):
        observed = {name: qos_pods[name].status.qos_class for name in QOS_TABLE}
        assert observed == {name: qos for name, (_, qos) in QOS_TABLE.items()}, observed


@pytest.mark.claim("S002-099")
def test_limits_are_copied_into_requests_that_are_absent(qos_pods):
    """With limits and no requests, the API server defaults each request to its limit, per resource."""
    pod = qos_pods["limits-only"]
    with step("Then every container of the limits-only pod has requests equal to its limits"):
        for c in [*pod.spec.init_containers, *pod.spec.containers]:
            assert c.resources.requests == c.resources.limits == {"cpu": "100m", "memory": "32Mi"}, (c.name, c.resources)
    with step("And where only a memory limit was given, only a memory request appears"):
        for c in qos_pods["memory-limit-only"].spec.containers:
            assert c.resources.requests == {"memory": "32Mi"}, (c.name, c.resources)


@pytest.mark.claim("S002-095")
def test_quantities_mean_binary_or_decimal_bytes_and_cpu_has_no_default(module_ns, qos_pods, cluster, timeouts):
    """64Mi is 67108864 bytes, 64M is 64000000; cpu 0.25 is stored as 250m (a quarter of a CFS
    period). The document says CPU "defaults to 1": wrong, a container without resources gets none
    and the pod is BestEffort (only a LimitRange supplies defaults; see the next test)."""
    pods = {"mem-64mi": ("{memory: 64Mi}", "{memory: 64Mi, cpu: '0.25'}"), "mem-64m": ("{memory: 64M}", "{memory: 64M}")}
    with step("Given running pods limited to memory 64Mi (with cpu 0.25) and to memory 64M"):
        for name, (requests, limits) in pods.items():
            module_ns.apply("scheduling/resources/sleeper.yaml", name=name, requests=requests, limits=limits)
        for name in pods:
            wait_ready(cluster, module_ns.name, f"app={name}", 1, timeouts)
    with step("Then their cgroup memory limits are 64·2^20 and 64·10^6 bytes"):
        binary, decimal = (cgroups.read(cluster, module_ns.name, n, "main") for n in pods)
        assert (binary.memory_limit, decimal.memory_limit) == (67_108_864, 64_000_000), (binary.raw, decimal.raw)
    with step("And cpu 0.25 was stored as 250m and became a 25 ms quota per 100 ms"):
        stored = cluster.core.read_namespaced_pod("mem-64mi", module_ns.name).spec.containers[0].resources.limits["cpu"]
        assert (stored, binary.cpu_quota_us, binary.cpu_period_us) == ("250m", 25_000, 100_000), (stored, binary.raw)
    with step("And a pod that names no resources has none after defaulting, and is BestEffort"):
        bare = qos_pods["nothing"]
        assert all(not (c.resources.requests or c.resources.limits) for c in bare.spec.containers), bare.spec.containers
        assert bare.status.qos_class == "BestEffort"


@pytest.mark.claim("S002-095")
def test_a_limit_range_supplies_the_cpu_default_a_namespace_otherwise_lacks(ns, cluster):
    """Only a LimitRange gives containers default CPU: with `default: {cpu: 500m}` a pod that names no
    resources gets limits.cpu 500m and (defaulted from it) requests.cpu 500m, and is Burstable."""
    with step("Given a namespace whose LimitRange defaults container CPU to 500m"):
        ns.apply("scheduling/resources/limitrange.yaml", name="cpu-default", cpu="500m")
    with step("When a pod that names no resources is created"):
        ns.apply("scheduling/resources/qos-unscheduled.yaml", name="defaulted", init=NONE, a=NONE, b=NONE)
        pod = cluster.core.read_namespaced_pod("defaulted", ns.name)
    with step("Then each of its containers got cpu 500m as limit and request, and the pod is Burstable"):
        for c in [*pod.spec.init_containers, *pod.spec.containers]:
            assert (c.resources.requests, c.resources.limits) == ({"cpu": "500m"}, {"cpu": "500m"}), (c.name, c.resources)
        assert pod.status.qos_class == "Burstable", pod.status.qos_class
