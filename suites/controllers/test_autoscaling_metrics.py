"""Autoscaling on the resource metrics API (metrics-server, built offline and installed as an add-on): a CPU HPA scales
a Deployment up under load to ceil(current x utilisation / target), utilisation being usage as a percentage of the
pods' CPU requests; it leaves replicas alone within its 10 % tolerance, computes nothing for pods without CPU
requests, and scales down only once its stabilisation window has passed since it last saw the load.

Source: seed 003 「扩缩容」 (003_d8925e36aedd8024.txt); kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/
(algorithm details, stabilization window).

One timeline for the module: its fixture starts three workloads at once, once the metrics API serves; the tests run in
order on one worker (xdist group), minute-scale (`slow`), beside the rest of the suite. The scale-up test comes first:
it watches for the HPA's first rescale. The scale-down test comes last: it stops the load.
"""
import time

import pytest

from fixtures.addons.metrics_server import pod_usage
from fixtures.autoscaling import SYNC_PERIOD, follow, hpa, replicas_for
from fixtures.podexec import exec_in
from fixtures.polling import Abort, consistently, eventually
from fixtures.pods import events_of, views, wait_ready
from fixtures.reporting import step
from fixtures.workloads import deployment, replicasets

pytestmark = [pytest.mark.area("controllers"), pytest.mark.slow, pytest.mark.requires(metrics=True, images=["busybox"]),
              pytest.mark.xdist_group("hpa-cpu")]

HPA = "controllers/autoscaling/hpa.yaml"
BURN = "controllers/autoscaling/cpu-burn.yaml"
REQUEST_M, TARGET, MAX, WINDOW = 100, 50, 3, 30
# 'burn': each pod held at 125m by its CFS quota, 125 % of its request: one pod asks for ceil(1 x 125 / 50) = 3
LOADED = "{requests: {cpu: 100m}, limits: {cpu: 125m}}"
# 'steady': paced at 50m, half its 100m request (a demand met even on a contended node), against a 48 % target:
# 49-52 % lies within 10 % above it (52 / 48 = 1.083)
STEADY = "controllers/autoscaling/cpu-steady.yaml"
STEADY_MILLICORES, STEADY_RESOURCES, STEADY_TARGET = 50, "{requests: {cpu: 100m}, limits: {cpu: 100m}}", 48
UNBOUNDED = 1 << 30


@pytest.fixture(scope="module")
def workloads(metrics_api, module_ns):
    """Given, once the metrics API serves every node: 'burn', one pod burning 125m of a 100m request (HPA 50 %,
    1..3 replicas, scale-down window 30 s); 'steady', one pod paced at 50m of 100m (HPA 48 %, 1..1); 'unrequested', one
    idle pod with no CPU request (HPA 50 %, 1..3)."""
    with step("Given 'burn', 'steady' and 'unrequested' with their CPU HPAs"):
        module_ns.apply(BURN, name="burn", resources=LOADED, busy=True)
        module_ns.apply(HPA, name="burn", kind="Deployment", target="burn", min=1, max=MAX, cpu_percent=TARGET,
                        scale_down_window=WINDOW)
        module_ns.apply(STEADY, name="steady", resources=STEADY_RESOURCES, millicores=STEADY_MILLICORES)
        module_ns.apply(HPA, name="steady", kind="Deployment", target="steady", min=1, max=1, cpu_percent=STEADY_TARGET,
                        scale_down_window=0)
        module_ns.apply(BURN, name="unrequested", resources="{}", busy=False)
        module_ns.apply(HPA, name="unrequested", kind="Deployment", target="unrequested", min=1, max=MAX, cpu_percent=TARGET,
                        scale_down_window=0)
    return module_ns


def rescale_messages(cluster, namespace: str, name: str) -> list[str]:
    return [e.message for e in events_of(cluster, namespace, name, kind="HorizontalPodAutoscaler") if e.reason == "SuccessfulRescale"]


@pytest.mark.claim("S003-105", "S003-069")
def test_a_cpu_hpa_scales_up_under_load_to_ceil_of_current_times_utilisation_over_target(workloads, cluster, timeouts):
    """With metrics-server and load, the HPA asks for desired = ceil(current x currentUtilisation / targetUtilisation),
    the utilisation being the pods' CPU usage as a percentage of their requests (status.currentMetrics), with
    ScalingActive=True and a SuccessfulRescale event naming 'cpu resource utilization (percentage of request) above
    target'; it scales the Deployment through /scale (the same ReplicaSet) and stops at maxReplicas
    (ScalingLimited=True, TooManyReplicas)."""
    ns = workloads.name
    with step("When the single 'burn' pod runs at its 125m limit, the HPA's statuses are watched until it rescales"):
        first = follow(cluster, ns, "burn", lambda s: s.desired > s.current, timeout=timeouts.hpa_metrics,
                       desc="HPA burn asking for more replicas")[-1]
    with step(f"Then from 1 pod at {first.utilisation} % it asks for ceil(1 x {first.utilisation} / {TARGET}) = {first.desired}"):
        assert first.current == 1 and first.utilisation is not None, first
        assert first.utilisation == first.usage_m * 100 // REQUEST_M, f"utilisation is usage ({first.usage_m}m) / request: {first}"
        assert first.desired == replicas_for(1, first.utilisation, TARGET, MAX) > 1, first
        assert first.conditions.get("ScalingActive") == ("True", "ValidMetricFound"), first
    with step("And it records the rescale with the metric that drove it"):
        want = f"New size: {first.desired}; reason: cpu resource utilization (percentage of request) above target"
        eventually(lambda: rescale_messages(cluster, ns, "burn"), until=lambda m: want in m, timeout=timeouts.controller_sync,
                   desc="SuccessfulRescale event")
    with step(f"And under the same load it goes on to maxReplicas {MAX}, held there by TooManyReplicas"):
        follow(cluster, ns, "burn", lambda s: s.current == MAX and s.conditions.get("ScalingLimited") == ("True", "TooManyReplicas"),
               timeout=timeouts.hpa_metrics, desc=f"HPA burn at {MAX} replicas wanting more")
        wait_ready(cluster, ns, "app=burn", MAX, timeouts)
        rs = replicasets(cluster, ns, "app=burn")
        assert [r["replicas"] for r in rs] == [MAX], f"scaled through /scale, one ReplicaSet: {rs}"


@pytest.mark.claim("S003-105")
def test_a_cpu_hpa_keeps_its_replicas_while_utilisation_is_within_the_10_percent_tolerance(workloads, cluster, timeouts):
    """The HPA does not rescale while |utilisation / target - 1| <= 0.1. 'steady' runs one pod at about 50 % of its
    request against a 48 % target: ceil(1 x 50 / 48) would be 2, so with maxReplicas 1 the HPA's own ScalingLimited
    condition tells what it computed: within the tolerance 1 (DesiredWithinRange), beyond it 2 (TooManyReplicas, as
    'burn' shows at its maximum). Every status is checked against that rule for two syncs after one within the band."""
    ns = workloads.name

    def observed():
        h = hpa(cluster, ns, "steady")
        util = h["utilisation"]
        if util is None or h["current"] != 1:
            return h
        computed = replicas_for(1, util, STEADY_TARGET, UNBOUNDED)
        want = ("True", "TooManyReplicas") if computed > 1 else ("False", "DesiredWithinRange")
        if h["conditions"].get("ScalingLimited") != want:
            raise Abort(f"at {util} % of a {STEADY_TARGET} % target the HPA computes {computed}, so ScalingLimited must be {want}", h)
        return h

    def in_band(h) -> bool:
        return h["utilisation"] is not None and 1 < h["utilisation"] / STEADY_TARGET <= 1.1

    with step(f"When 'steady' runs at {STEADY_TARGET + 1}-{int(STEADY_TARGET * 1.1)} % of its request against a {STEADY_TARGET} % target"):
        seen = eventually(observed, until=in_band, timeout=timeouts.hpa_metrics, desc="HPA steady within 10 % above target")
    with step(f"Then at {seen['utilisation']} % it computes its current 1 replica, and keeps to the rule for two syncs"):
        assert seen["conditions"].get("ScalingLimited") == ("False", "DesiredWithinRange"), seen
        consistently(observed, holds=lambda h: h["desired"] == 1, duration=2 * SYNC_PERIOD, desc="HPA steady keeping 1 replica")


@pytest.mark.claim("S003-105")
def test_a_cpu_hpa_has_no_utilisation_for_pods_without_cpu_requests(workloads, cluster, timeouts):
    """Utilisation is relative to requests: for pods without a CPU request the HPA cannot compute it, though the
    metrics API has their usage: ScalingActive=False, FailedGetResourceMetric, 'missing request for cpu'."""
    ns = workloads.name
    with step("Given the metrics API reports the usage of the 'unrequested' pod"):
        usage = eventually(lambda: pod_usage(cluster, ns), until=lambda u: any(p.startswith("unrequested-") for p in u),
                           timeout=timeouts.hpa_metrics, desc="pod metrics for unrequested")
    with step(f"Then its HPA reports FailedGetResourceMetric for the missing request (usage: {usage})"):
        h = eventually(lambda: hpa(cluster, ns, "unrequested"), timeout=timeouts.hpa_metrics, desc="ScalingActive False, missing request",
                       until=lambda h: h["conditions"].get("ScalingActive") == ("False", "FailedGetResourceMetric")
                       and "missing request for cpu" in h["messages"]["ScalingActive"])
        assert h["last_scale"] is None and deployment(cluster, ns, "unrequested")["replicas"] == 1, f"it never rescaled: {h}"


@pytest.mark.claim("S003-105")
def test_a_cpu_hpa_scales_down_only_after_its_stabilisation_window(workloads, cluster, timeouts):
    """Once the load is gone the HPA's recommendation falls to ceil(3 x ~0 / 50), but with
    behavior.scaleDown.stabilizationWindowSeconds 30 (default 300) it applies the highest recommendation of the last
    30 s (AbleToScale ScaleDownStabilized) and scales down only when 30 s have passed since a sync last saw the load:
    not before 30 s after the last status showing it, so not before 30 s minus one 15 s sync after the load stopped
    (that sync may have come just before); then to minReplicas, 'All metrics below target'."""
    ns = workloads.name
    with step(f"Given 'burn' at {MAX} replicas under load"):
        eventually(lambda: hpa(cluster, ns, "burn"), until=lambda h: h["current"] == h["desired"] == MAX,
                   timeout=timeouts.hpa_metrics, desc=f"HPA burn settled at {MAX}")
        pods = [p.name for p in wait_ready(cluster, ns, "app=burn", MAX, timeouts)]
    with step("When every pod stops its load"):
        for pod in pods:
            assert exec_in(cluster, ns, pod, "burn", ["touch", "/tmp/stop"]).returncode == 0, pod
        stopped = time.monotonic()
        statuses = follow(cluster, ns, "burn", lambda s: s.desired < MAX, timeout=WINDOW + timeouts.hpa_metrics,
                          desc="HPA burn scaling down")
    drop, held = statuses[-1], statuses[:-1]
    high = [s.seen for s in held if s.seen is not None and s.utilisation is not None and replicas_for(s.current, s.utilisation, TARGET, UNBOUNDED) >= MAX]
    after_high = f", {drop.seen - high[-1]:.1f} s after the last status with load" if high else ""
    with step(f"Then it held {MAX} replicas, stabilised, until {WINDOW} s after it last saw the load (it dropped "
              f"{drop.seen - stopped:.1f} s after the load stopped{after_high})"):
        assert any(s.reason("AbleToScale") == "ScaleDownStabilized" for s in held), held
        assert drop.seen - stopped >= WINDOW - SYNC_PERIOD, f"dropped {drop.seen - stopped:.1f}s after the load stopped: {statuses}"
        if high:
            assert drop.seen - high[-1] >= WINDOW - 1, f"dropped {drop.seen - high[-1]:.1f}s after the last status with load: {statuses}"
    with step("And it goes down to minReplicas 1, all metrics below target"):
        last = follow(cluster, ns, "burn", lambda s: s.desired == 1, timeout=timeouts.hpa_metrics, desc="HPA burn at 1")[-1]
        assert last.utilisation is not None and replicas_for(last.current, last.utilisation, TARGET, MAX) <= 1, last
        eventually(lambda: rescale_messages(cluster, ns, "burn"), until=lambda m: "New size: 1; reason: All metrics below target" in m,
                   timeout=timeouts.controller_sync, desc="SuccessfulRescale to 1")
        eventually(lambda: deployment(cluster, ns, "burn")["replicas"], until=lambda n: n == 1, timeout=timeouts.controller_sync,
                   desc="Deployment burn at 1")
