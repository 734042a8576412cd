"""CPU limits are CFS bandwidth quotas: 100 ms periods, throttling even on an idle machine, one quota
for all of a container's threads, and no cap at all without a limit.

Source: seed 001, 2021-09-20~26 › 「k8s CPU limit 和 throttling」; seed 002 「Pod的资源分配 QoS」
(「request用于调度，limit用于限制」, 「CPU属于可压缩资源…Pod只会"饥饿"，不会退出」).
Upstream: kubernetes.io/docs/concepts/configuration/manage-resources-containers/#how-pods-with-resource-limits-are-run
The cgroup is read from inside each container (fixtures/cgroups.py; v1 and v2). Busy loops are
bounded (a few seconds) and the module's tests share one xdist worker so they never burn at once.
"""
import pytest

from fixtures import cgroups
from fixtures.exclusivity import cluster_in_use
from fixtures.nodes import kubelet_config, online_cpus
from fixtures.pods import views, wait_ready
from fixtures.reporting import step

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.requires(images=["busybox"]),
              pytest.mark.xdist_group("cpu-burn")]

# Behaviour parameters (not timeouts): the measuring window, and how far above a quota a
# measurement may read (accounting granularity: a period's overrun is repaid in the next one).
WINDOW_SECONDS = 3
QUOTA_SLACK = 1.15
# Throttled periods that show a quota was run into repeatedly. On the shared 2-core host CPUs are
# seldom idle, so a loop may not reach its quota in every period; an idle node throttles it in ~all.
MIN_THROTTLED = 3
PERIOD_US = 100_000  # the CFS period the kubelet uses unless cpuCFSQuotaPeriod is changed
# pod -> (requests, limits); requests stay small so the module never crowds the shared nodes
PODS = {
    "cpu-100m": ("{cpu: 100m}", "{cpu: 100m}"),
    "cpu-200m": ("{cpu: 200m}", "{cpu: 200m}"),
    "cpu-400m": ("{cpu: 40m}", "{cpu: 400m}"),
    "cpu-500m-mem-128mi": ("{cpu: 50m, memory: 16Mi}", "{cpu: 500m, memory: 128Mi}"),
    "cpu-2500m": ("{cpu: 20m}", "{cpu: 2500m}"),
    "no-limit": ("{cpu: 10m}", "{}"),
}
REQUESTED_MILLI = {"no-limit": 10, "cpu-2500m": 20, "cpu-400m": 40, "cpu-100m": 100, "cpu-200m": 200}


@pytest.fixture(scope="module")
def cpu_pods(module_ns, cluster, timeouts):
    """Given one sleeping busybox pod per CPU limit (and one without a limit), all running."""
    with cluster_in_use(cluster), step(f"Given pods with CPU limits {', '.join(PODS)}"):
        for name, (requests, limits) in PODS.items():
            module_ns.apply("scheduling/resources/sleeper.yaml", name=name, requests=requests, limits=limits)
        for name in PODS:
            wait_ready(cluster, module_ns.name, f"app={name}", 1, timeouts)
    return module_ns


def cgroup(cluster, ns, pod) -> cgroups.CgroupView:
    return cgroups.read(cluster, ns.name, pod, "main")


@pytest.mark.claim("S001-03")
def test_cpu_limit_is_a_cfs_quota_of_limit_times_100ms_per_100ms_period(cpu_pods, cluster):
    """limits.cpu becomes a CFS quota: period 100 ms, quota = limit × 100 ms; no limit, no quota.

    Claim: "CPU使用量的计量周期为100ms… 1 CPU = 100ms CPU时间每计量周期… 0.2 CPU = 20ms".
    v2: cpu.max "20000 100000"; v1: cpu.cfs_quota_us 20000, cpu.cfs_period_us 100000.
    """
    ns = cpu_pods
    node = views(cluster, ns.name, "app=cpu-200m")[0].node
    with step(f"Given the kubelet on {node} runs the default CFS period"):
        period = kubelet_config(cluster, node).get("cpuCFSQuotaPeriod")
        assert period in (None, "100ms"), f"the kubelet sets cpuCFSQuotaPeriod={period}"
    expected = {"cpu-100m": 10_000, "cpu-200m": 20_000, "cpu-400m": 40_000, "cpu-2500m": 250_000, "no-limit": None}
    with step("When each container's cgroup is read from inside it"):
        seen = {pod: cgroup(cluster, ns, pod) for pod in expected}
    with step("Then every period is 100 ms and the quota is the limit's share of it (none without a limit)"):
        observed = {pod: (v.cpu_quota_us, v.cpu_period_us) for pod, v in seen.items()}
        assert observed == {pod: (q, PERIOD_US) for pod, q in expected.items()}, (
            f"(quota_us, period_us) per pod, cgroup v{seen['cpu-200m'].version}: {observed}")


@pytest.mark.claim("S002-097")
def test_limits_set_the_cgroup_caps_while_requests_only_weigh_and_schedule(cpu_pods, cluster):
    """Requests are for scheduling, limits for the cgroup: cpu 500m → quota 50000/100000, 128Mi →
    memory limit 134217728; cpu shares (v2 weight) grow with requests.cpu; a pod whose CPU limit is
    above the node's whole capacity still schedules, because only its request is counted."""
    ns = cpu_pods
    with step("When the cgroups of the pod limited to cpu 500m / memory 128Mi and of pods with growing requests are read"):
        capped = cgroup(cluster, ns, "cpu-500m-mem-128mi")
        weights = {pod: cgroup(cluster, ns, pod).cpu_weight for pod in sorted(REQUESTED_MILLI, key=REQUESTED_MILLI.get)}
    with step("Then the CPU quota and the memory limit are the pod's limits"):
        assert (capped.cpu_quota_us, capped.cpu_period_us, capped.memory_limit) == (50_000, PERIOD_US, 134_217_728), capped.raw
    with step("And the CPU weight grows strictly with requests.cpu"):
        ordered = list(weights.values())
        assert ordered == sorted(ordered) and len(set(ordered)) == len(ordered), (
            f"weight per pod in order of requests {REQUESTED_MILLI}: {weights}")
    with step("And the pod whose CPU limit (2500m) exceeds its node's capacity was scheduled and runs"):
        pod = views(cluster, ns.name, "app=cpu-2500m")[0]
        capacity = cluster.core.read_node(pod.node).status.capacity["cpu"]
        assert int(capacity) * 1000 < 2500, f"node {pod.node} has {capacity} CPUs: the control needs fewer than 2.5"
        assert pod.phase == "Running", pod


@pytest.mark.claim("S001-04", "S002-096")
def test_busy_container_is_capped_at_its_quota_and_throttled_again_and_again(cpu_pods, cluster):
    """A busy loop limited to 100m never gets more than 0.1 core: each time it uses up its 10 ms of a
    100 ms period it is throttled until the next one, whether or not CPUs sit idle; and it is not
    killed for it (CPU is compressible: it starves, it does not exit)."""
    ns = cpu_pods
    with step(f"When one busy loop runs for {WINDOW_SECONDS}s in the container limited to 100m"):
        after, sample = cgroups.measure_cpu(cluster, ns.name, "cpu-100m", "main", threads=1, seconds=WINDOW_SECONDS)
    with step("Then it used no more than its 0.1 core"):
        assert sample.cores <= 0.1 * QUOTA_SLACK, f"limit 100m: {sample}"
    with step("And it ran into its quota and was throttled, period after period"):
        assert sample.throttled >= MIN_THROTTLED, f"limit 100m: {sample}"
    with step("And the throttled container keeps running, never restarted"):
        pod = views(cluster, ns.name, "app=cpu-100m")[0]
        assert pod.container("main").running and pod.restarts == 0, pod


@pytest.mark.claim("S001-05")
def test_two_busy_loops_in_one_container_share_one_quota(cpu_pods, cluster):
    """Two busy loops under limits.cpu 200m together get at most 0.2 core, not 0.2 each: the CPU time
    of all of a container's threads and processes adds up against its one quota."""
    ns = cpu_pods
    with step(f"When two busy loops run for {WINDOW_SECONDS}s in the container limited to 200m"):
        _, sample = cgroups.measure_cpu(cluster, ns.name, "cpu-200m", "main", threads=2, seconds=WINDOW_SECONDS)
    with step("Then together they used at most the one quota of 0.2 core"):
        assert sample.cores <= 0.2 * QUOTA_SLACK, f"limit 200m, 2 loops: {sample}"
    with step("And their combined use exhausted it, period after period"):
        assert sample.throttled >= MIN_THROTTLED, f"limit 200m, 2 loops: {sample}"


@pytest.mark.claim("S001-06")
def test_container_without_cpu_limit_uses_cpu_far_beyond_its_request(cpu_pods, cluster):
    """Without limits.cpu there is no quota: two busy loops with a 10m request run unthrottled, far
    past the request, up to what the machine has free (all of it on an idle node)."""
    ns = cpu_pods
    with step(f"When two busy loops run for {WINDOW_SECONDS}s in the container requesting 10m with no limit"):
        after, sample = cgroups.measure_cpu(cluster, ns.name, "no-limit", "main", threads=2, seconds=WINDOW_SECONDS)
    with step("Then its cgroup has no quota and it was never throttled"):
        assert after.cpu_quota_us is None and sample.throttled == 0, f"{after.raw}; {sample}"
    with step("And it used several times its request"):
        assert sample.cores > 5 * 0.01, f"request 10m, no limit: {sample}"


@pytest.mark.claim("S002-100")
@pytest.mark.requires(node_access=True)
def test_guaranteed_pod_with_whole_cpus_is_not_pinned_without_the_static_cpu_manager(cpu_pods, ns, cluster, timeouts):
    """The document: a Guaranteed pod with an integer CPU count is bound to cores (cpuset). Only under
    the kubelet's static CPU manager; with the default policy `none` it runs on every CPU of the node."""
    with step("Given a pod with cpu: 1 and memory requests equal to limits (Guaranteed)"):
        ns.apply("scheduling/resources/sleeper.yaml", name="guaranteed-1", requests="{cpu: '1', memory: 32Mi}",
                 limits="{cpu: '1', memory: 32Mi}")
        pod = wait_ready(cluster, ns.name, "app=guaranteed-1", 1, timeouts)[0]
        assert cluster.core.read_namespaced_pod("guaranteed-1", ns.name).status.qos_class == "Guaranteed"
    with step(f"And the kubelet on {pod.node} runs the default CPU manager policy"):
        assert kubelet_config(cluster, pod.node).get("cpuManagerPolicy") == "none"
    with step("Then its cpuset is every online CPU of the node, the same as an unpinned container's"):
        online = online_cpus(cluster, pod.node)
        pinned = cgroups.read(cluster, ns.name, "guaranteed-1", "main").cpuset
        shared = cgroup(cluster, cpu_pods, "no-limit").cpuset
        assert pinned == shared == online, f"guaranteed-1: {pinned!r}, no-limit: {shared!r}, node online CPUs: {online!r}"
