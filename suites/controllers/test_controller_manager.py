"""Where the workload controllers run: kube-controller-manager, a static pod on the control-plane
node with one active leader (its Lease), started with the HPA's default timings.

Source: seed 002 「控制器模型」 (002_620e0a9d2c440bc2.txt), seed 003 「扩缩容」 (HPA flags)
(003_d8925e36aedd8024.txt); kubernetes.io/docs/reference/command-line-tools-reference/kube-controller-manager/.
"""
import pytest

from fixtures.control_plane_pods import configz
from fixtures.leases import view as lease
from fixtures.nodes import control_plane
from fixtures.polling import eventually
from fixtures.pods import events_of, views
from fixtures.reporting import step

pytestmark = [pytest.mark.area("controllers")]

KCM = "component=kube-controller-manager"
KCM_PORT = 10257  # its secure serving port (/configz)


def controller_manager(cluster):
    [pod] = [p for p in cluster.core.list_namespaced_pod("kube-system", label_selector=KCM).items]
    return pod


@pytest.mark.claim("S002-134")
@pytest.mark.requires(images=["agnhost"])
def test_workload_controllers_run_in_kube_controller_manager_a_static_pod_with_one_leader(ns, cluster, timeouts):
    """kube-controller-manager runs as a static (mirror) pod on the control-plane node; it holds the
    leader Lease and renews it; a Deployment's events come from its deployment-controller."""
    cp = control_plane(cluster)
    with step("Then kube-controller-manager is a mirror pod of a static pod on the control-plane node, Ready"):
        pod = controller_manager(cluster)
        assert pod.spec.node_name == cp and "kubernetes.io/config.mirror" in (pod.metadata.annotations or {}), pod.metadata
        assert [o.kind for o in pod.metadata.owner_references or []] == ["Node"]
        assert views(cluster, "kube-system", KCM)[0].ready
    with step("And it holds the kube-controller-manager Lease, renewing it"):
        first = lease(cluster, "kube-system", "kube-controller-manager")
        assert (first.holder or "").startswith(f"{cp}_"), first
        eventually(lambda: lease(cluster, "kube-system", "kube-controller-manager"),
                   until=lambda now: now.holder == first.holder and now.renew_time > first.renew_time,
                   timeout=timeouts.controller_sync, desc="Lease renewed by the same holder")
    with step("And a Deployment is scaled by its deployment-controller"):
        ns.apply("controllers/deployment/defaults.yaml", name="probe")
        scaled = eventually(lambda: [e for e in events_of(cluster, ns.name, "probe", kind="Deployment") if e.reason == "ScalingReplicaSet"],
                            until=bool, timeout=timeouts.controller_sync, desc="ScalingReplicaSet event")
        assert (scaled[0].reporting_component or scaled[0].source.component) == "deployment-controller", scaled[0]


@pytest.mark.claim("S003-106")
@pytest.mark.requires(node_access=True)
def test_kube_controller_manager_runs_with_the_default_hpa_timings(cluster):
    """kind starts kube-controller-manager without any --horizontal-pod-autoscaler-* flag, and its running
    configuration has the documented defaults: sync period 15 s, CPU initialization period 5 min,
    initial readiness delay 30 s (and downscale stabilization 5 min, tolerance 10%)."""
    with step("When kube-controller-manager's command line is read"):
        spec = controller_manager(cluster).spec.containers[0]
        command = [*(spec.command or []), *(spec.args or [])]
        assert command and command[0].endswith("kube-controller-manager"), command
    with step("Then no HPA flag overrides a default"):
        assert not [a for a in command if a.startswith("--horizontal-pod-autoscaler")], command
    with step("And its running configuration (/configz) has the default HPA timings"):
        hpa_config = configz(cluster, control_plane(cluster), KCM_PORT)["HPAController"]
        assert {k: hpa_config[f"HorizontalPodAutoscaler{k}"] for k in
                ("SyncPeriod", "CPUInitializationPeriod", "InitialReadinessDelay", "DownscaleStabilizationWindow", "Tolerance")} == {
            "SyncPeriod": "15s", "CPUInitializationPeriod": "5m0s", "InitialReadinessDelay": "30s",
            "DownscaleStabilizationWindow": "5m0s", "Tolerance": 0.1}, hpa_config
