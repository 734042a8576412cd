"""The scheduler as a component: leader election on a Lease, configuration by
KubeSchedulerConfiguration profiles and plugins (the Policy API is gone), 0–100 plugin scores with
NodeResourcesFit/LeastAllocated by default, and a second scheduler serving only its own pods.

Seed 002 「调度器Scheduler」 › 「原理」 (「启动时需要 leaderelection 选举, 只有 leader 才可以处理调度」),
「调度策略」 (Predicates/Priorities, LeastRequestedPriority 0–10, 「可以修改调度器的配置」) and
「自定义调度」 (「K8s也支持部署多个调度器」). The Predicates/Priorities Policy API was removed in 1.23
(the scheduling framework's Filter/Score plugins replace it, node scores 0–100 since 1.15).
The second scheduler is the cluster's own kube-scheduler image in a pod of this module's namespace.
Source: kubernetes.io/docs/reference/scheduling/config/; /docs/tasks/extend-kubernetes/configure-multiple-schedulers/
"""
import re

import pytest

from fixtures.control_plane_pods import configz
from fixtures.leases import view as lease
from fixtures.nodes import control_plane, workers
from fixtures.pods import is_bound, phase_is, scheduler_events, unschedulable_because, wait_pod
from fixtures.polling import eventually, retry_not_found
from fixtures.reporting import step

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.requires(images=["agnhost"], node_access=True)]
# the tests sharing the second scheduler run on one xdist worker, so it is deployed once
SHARES_SECOND_SCHEDULER = pytest.mark.xdist_group("scheduling-second-scheduler")

SECOND = "kubeproof-second"


def _kube_scheduler(cluster):
    """The cluster's kube-scheduler pod (kubeadm static pod)."""
    pods = cluster.core.list_namespaced_pod("kube-system", label_selector="component=kube-scheduler").items
    assert pods, "no kube-scheduler pod in kube-system"
    return pods[0]


def _lease(cluster, namespace: str):
    return lease(cluster, namespace, "kube-scheduler")


@pytest.fixture(scope="module")
def second_scheduler(module_ns, cluster, timeouts):
    """Given a second kube-scheduler (profiles kubeproof-second and kubeproof-second-notaints) running
    in this module's namespace and holding its own Lease."""
    image = _kube_scheduler(cluster).spec.containers[0].image
    uid = cluster.core.read_namespace(module_ns.name).metadata.uid
    module_ns.apply("scheduling/scheduler/second-scheduler.yaml", scheduler_name=SECOND, scheduler_image=image,
                    namespace_uid=uid)
    wait_pod(cluster, module_ns.name, "second-scheduler", phase_is("Running"), timeouts)
    eventually(retry_not_found(lambda: _lease(cluster, module_ns.name).holder), until=bool,
               timeout=timeouts.controller_sync, desc="second scheduler holds its lease")
    return module_ns


@pytest.mark.claim("S002-029")
def test_the_active_scheduler_holds_the_kube_scheduler_lease_and_keeps_renewing_it(cluster, timeouts):
    """Lease kube-system/kube-scheduler names the running scheduler instance (its node) as holder,
    and its renewTime advances while that instance leads."""
    node = _kube_scheduler(cluster).spec.node_name
    with step("Given the kube-scheduler Lease in kube-system"):
        first = _lease(cluster, "kube-system")
    with step(f"Then its holder is the scheduler instance on {node}"):
        assert first.holder and first.holder.startswith(node), first
    with step("And the leader keeps renewing it"):
        eventually(lambda: _lease(cluster, "kube-system"),
                   until=lambda s: s.renew_time > first.renew_time and s.holder == first.holder,
                   timeout=timeouts.controller_sync, desc="lease renewed by the same holder")


@pytest.mark.claim("S002-040")
def test_default_scheduler_scores_with_node_resources_fit_least_allocated_cpu_and_memory_weight_1(cluster):
    """The running default scheduler's configuration (/configz) scores NodeResourcesFit with the
    LeastAllocated strategy, cpu and memory weight 1: the document's LeastRequestedPriority."""
    node = control_plane(cluster)
    with step(f"When the default scheduler's /configz is read on {node}"):
        config = configz(cluster, node, 10259)
    with step("Then its one profile, default-scheduler, scores NodeResourcesFit by LeastAllocated with cpu=1, memory=1"):
        profiles = {p["SchedulerName"]: p for p in config["Profiles"]}
        assert list(profiles) == ["default-scheduler"], list(profiles)
        args = {c["Name"]: c["Args"] for c in profiles["default-scheduler"]["PluginConfig"]}
        strategy = args["NodeResourcesFit"]["ScoringStrategy"]
        assert strategy["Type"] == "LeastAllocated", strategy
        assert {r["Name"]: r["Weight"] for r in strategy["Resources"]} == {"cpu": 1, "memory": 1}, strategy
    with step("And NodeResourcesFit is an enabled plugin, besides the Filter-only NodePorts and NodeName"):
        enabled = {p["Name"]: p["Weight"] for p in profiles["default-scheduler"]["Plugins"]["MultiPoint"]["Enabled"]}
        assert {"NodeResourcesFit", "NodePorts", "NodeName", "TaintToleration", "NodeAffinity"} <= set(enabled), enabled


SCORE_LINE = re.compile(r'"Plugin scored node for pod" pod="(?P<pod>[^"]+)".*?plugin="(?P<plugin>[^"]+)".*?node="(?P<node>[^"]+)".*?score=(?P<score>-?\d+)')


@pytest.mark.claim("S002-040")
@pytest.mark.requires(multinode=True)
@SHARES_SECOND_SCHEDULER
def test_scheduler_plugin_scores_lie_between_0_and_100_before_their_weights(second_scheduler, cluster, timeouts):
    """Each Score plugin scores a node 0–100 (not the document's 0–10), then the scheduler multiplies
    it by the plugin's weight: in the second scheduler's -v=10 log (same binary and default plugin
    weights as the default scheduler's /configz) every plugin's weighted score lies within
    0..100 x weight, and TaintToleration gives an untainted worker the full 100 x 3."""
    ns = second_scheduler
    profile = configz(cluster, control_plane(cluster), 10259)["Profiles"][0]
    # a weight of 0 (unset; 1.37's v1 /configz lists VolumeBinding so) scores with weight 1 (getValidScoreWeights)
    weights = {p["Name"]: p["Weight"] or 1 for p in profile["Plugins"]["MultiPoint"]["Enabled"]}
    with step("When a pod with two feasible workers is scheduled by the second scheduler"):
        ns.apply("scheduling/unschedulable/pod-scheduler-name.yaml", name="scored", scheduler=SECOND)
        wait_pod(cluster, ns.name, "scored", is_bound, timeouts)
    with step(f"Then its log shows each plugin's weighted score for each worker (weights {weights})"):
        def scores():
            log = cluster.core.read_namespaced_pod_log("second-scheduler", ns.name)
            return [(m["plugin"], m["node"], int(m["score"])) for m in SCORE_LINE.finditer(log) if ns.name in m.group(0)]

        found = eventually(scores, until=lambda s: {"NodeResourcesFit", "TaintToleration"} <= {p for p, _, _ in s},
                           timeout=timeouts.controller_sync, desc="plugin scores logged")
        assert {n for _, n, _ in found} >= set(workers(cluster)), found
    with step("And each lies within 0..100 x its plugin's weight"):
        assert all(0 <= s <= 100 * weights[p] for p, _, s in found), [f for f in found if not 0 <= f[2] <= 100 * weights[f[0]]]
    with step("And an untainted worker gets TaintToleration's maximum: 100 (MaxNodeScore) x weight 3"):
        assert {s for p, _, s in found if p == "TaintToleration"} == {100 * weights["TaintToleration"]}, found


@pytest.mark.claim("S002-051", "S002-029")
@pytest.mark.requires(multinode=True)
@SHARES_SECOND_SCHEDULER
def test_second_scheduler_schedules_only_the_pods_that_name_it(second_scheduler, cluster, timeouts):
    """A second scheduler with its own schedulerName and its own Lease binds the pods naming it (its
    name on their Scheduled event) and leaves the rest to default-scheduler."""
    ns = second_scheduler
    with step(f"Then the second scheduler leads its own Lease in {ns.name}"):
        holder = _lease(cluster, ns.name).holder
        assert holder.startswith("second-scheduler"), holder
    with step(f"When one pod names {SECOND} and another names no scheduler"):
        ns.apply("scheduling/unschedulable/pod-scheduler-name.yaml", name="mine", scheduler=SECOND)
        ns.apply("scheduling/unschedulable/pod-default-scheduler.yaml", name="theirs")
    for pod, scheduler in (("mine", SECOND), ("theirs", "default-scheduler")):
        with step(f"Then {pod} runs, and its Scheduled event was reported by {scheduler} alone"):
            wait_pod(cluster, ns.name, pod, phase_is("Running"), timeouts)
            events = eventually(lambda: scheduler_events(cluster, ns.name, pod),
                                until=lambda es: any(r == "Scheduled" for r, _, _ in es),
                                timeout=timeouts.controller_sync, desc=f"Scheduled event of {pod}")
            assert {src for r, src, _ in events if r == "Scheduled"} == {scheduler}, events


@pytest.mark.claim("S002-042")
@SHARES_SECOND_SCHEDULER
def test_a_scheduler_profile_changes_filtering_by_disabling_a_plugin(second_scheduler, cluster, timeouts):
    """Scheduling behaviour is configured per KubeSchedulerConfiguration profile: a profile with the
    TaintToleration filter disabled places a pod on the NoSchedule-tainted control plane, where the
    default profile refuses the same pod for the untolerated taint."""
    ns, node = second_scheduler, control_plane(cluster)
    with step(f"When the same pod for {node} is handed to default-scheduler and to {SECOND}-notaints"):
        ns.apply("scheduling/scheduler/pod-for-control-plane.yaml", name="by-default", node=node,
                 scheduler="default-scheduler")
        ns.apply("scheduling/scheduler/pod-for-control-plane.yaml", name="by-profile", node=node,
                 scheduler=f"{SECOND}-notaints")
    with step("Then default-scheduler refuses it for the control plane's taint"):
        wait_pod(cluster, ns.name, "by-default", unschedulable_because("untolerated taint"), timeouts)
    with step(f"And the profile without TaintToleration binds it to {node}"):
        assert wait_pod(cluster, ns.name, "by-profile", is_bound, timeouts).node == node


@pytest.mark.claim("S002-042")
def test_the_policy_config_file_flag_is_gone_from_kube_scheduler(ns, cluster, timeouts, server_version):
    """The Predicates/Priorities Policy (--policy-config-file) was removed in 1.23: the cluster's
    kube-scheduler refuses the flag as unknown."""
    image = _kube_scheduler(cluster).spec.containers[0].image
    with step("When the cluster's kube-scheduler binary is started with --policy-config-file"):
        ns.apply("scheduling/scheduler/scheduler-with-flag.yaml", name="policy", scheduler_image=image,
                 flag="--policy-config-file=/etc/policy.json")
        pod = wait_pod(cluster, ns.name, "policy", phase_is("Failed", "Succeeded"), timeouts)
    with step("Then it exits with an error naming the unknown flag"):
        log = cluster.core.read_namespaced_pod_log("policy", ns.name)
        if server_version >= (1, 23, 0):
            assert pod.phase == "Failed" and "unknown flag: --policy-config-file" in log, (
                f"[behaviour-changed] phase {pod.phase}, log:\n{log[-2000:]}")
