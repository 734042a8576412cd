"""Autoscaling: the HPA scales through the /scale subresource (so not a DaemonSet), clamps replicas
to min/max even without metrics, and needs the resource metrics API for CPU targets; in-place
vertical resize of a running pod (the resize subresource, 1.33 beta).

Source: seed 003 「扩缩容」 (003_d8925e36aedd8024.txt); kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/,
.../configure-pod-container/resize-container-resources/.
"""
import pytest

from fixtures.addons.metrics_server import served, without_metrics_api
from fixtures.api_calls import answer_of
from fixtures.autoscaling import hpa
from fixtures.polling import eventually
from fixtures.pods import events_of, view, wait_pod, wait_ready
from fixtures.reporting import step
from fixtures.workloads import deployment

pytestmark = [pytest.mark.area("controllers")]

HPA = "controllers/autoscaling/hpa.yaml"
APP = "controllers/drain/app.yaml"


@pytest.mark.claim("S003-103")
@pytest.mark.requires(images=["agnhost"])
def test_an_hpa_cannot_scale_a_daemonset_which_has_no_scale_subresource(ns, cluster, timeouts):
    """The HPA reads and writes replicas through /scale; a DaemonSet has none, so the HPA reports
    AbleToScale=False with reason FailedGetScale."""
    with step("Given a DaemonSet and an HPA targeting it"):
        ns.apply("controllers/daemonset/ds.yaml", name="ds", update_strategy="{type: RollingUpdate}", version="a",
                 node_selector="{}", tolerations="[]")
        ns.apply(HPA, name="ds", kind="DaemonSet", target="ds", min=1, max=3, cpu_percent=50, scale_down_window=0)
    with step("Then the HPA reports AbleToScale=False, FailedGetScale"):
        eventually(lambda: hpa(cluster, ns.name, "ds")["conditions"].get("AbleToScale"),
                   until=lambda c: c == ("False", "FailedGetScale"), timeout=timeouts.controller_sync, desc="AbleToScale False")


@pytest.mark.claim("S003-104", "S003-069")
@pytest.mark.requires(images=["agnhost"])
def test_an_hpa_clamps_replicas_to_min_and_max_even_without_metrics(ns, cluster, timeouts):
    """Without any usable metric, an HPA still raises a Deployment below minReplicas to minReplicas and
    lowers one above maxReplicas to maxReplicas (SuccessfulRescale, lastScaleTime set)."""
    with step("Given Deployment 'low' at 1 replica (HPA min 3, max 5) and 'high' at 4 (HPA min 1, max 2)"):
        ns.apply(APP, name="low", replicas=1, affinity="{}", cpu="10m")
        ns.apply(APP, name="high", replicas=4, affinity="{}", cpu="10m")
        ns.apply(HPA, name="low", kind="Deployment", target="low", min=3, max=5, cpu_percent=50, scale_down_window=0)
        ns.apply(HPA, name="high", kind="Deployment", target="high", min=1, max=2, cpu_percent=50, scale_down_window=0)
    with step("Then 'low' is scaled up to 3 and 'high' down to 2"):
        for name, want in (("low", 3), ("high", 2)):
            eventually(lambda: deployment(cluster, ns.name, name)["replicas"], until=lambda n: n == want,
                       timeout=timeouts.controller_sync, desc=f"{name} scaled to {want}")
    with step("And each HPA recorded the rescale and its time, naming the bound"):
        # the controller writes the target's scale first, then its own status and the event
        for name, bound in (("low", "below Spec.MinReplicas"), ("high", "above Spec.MaxReplicas")):
            eventually(lambda: hpa(cluster, ns.name, name)["last_scale"], until=lambda t: t is not None,
                       timeout=timeouts.controller_sync, desc=f"HPA {name}'s lastScaleTime")
            eventually(lambda: [e.message for e in events_of(cluster, ns.name, name, kind="HorizontalPodAutoscaler")
                                if e.reason == "SuccessfulRescale"],
                       until=lambda messages: any(bound in m for m in messages), timeout=timeouts.controller_sync,
                       desc=f"HPA {name}'s SuccessfulRescale event naming {bound!r}")
        wait_ready(cluster, ns.name, "app=low", 3, timeouts)


@pytest.mark.claim("S003-105")
@pytest.mark.serial  # it hides the metrics API that the HPAs of test_autoscaling_metrics.py read
@pytest.mark.requires(images=["agnhost"])
def test_a_cpu_hpa_without_the_metrics_api_reports_failed_get_resource_metric(ns, cluster, timeouts):
    """Without metrics-server (kind's default) the resource metrics API is not served, and a CPU
    utilisation HPA reports ScalingActive=False with reason FailedGetResourceMetric. (A metrics-server
    this run installed is set aside meanwhile: its APIService is deleted and restored afterwards.)"""
    with without_metrics_api(cluster, timeouts):
        with step("Given a Deployment with CPU requests, an HPA on 50% CPU, and no metrics.k8s.io API"):
            assert not served(cluster), "metrics.k8s.io is still served with its APIService deleted"
            ns.apply(APP, name="web", replicas=2, affinity="{}", cpu="50m")
            ns.apply(HPA, name="web", kind="Deployment", target="web", min=1, max=4, cpu_percent=50, scale_down_window=0)
        with step("Then the HPA reports ScalingActive=False, FailedGetResourceMetric, and does not scale"):
            eventually(lambda: hpa(cluster, ns.name, "web")["conditions"].get("ScalingActive"),
                       until=lambda c: c == ("False", "FailedGetResourceMetric"), timeout=timeouts.controller_sync,
                       desc="ScalingActive False")
            assert deployment(cluster, ns.name, "web")["replicas"] == 2


@pytest.mark.claim("S003-102")
@pytest.mark.requires(min_version="1.33", images=["busybox"])
def test_a_running_pods_cpu_is_resized_in_place_without_a_restart(ns, cluster, timeouts):
    """Through the resize subresource, a container's CPU (resizePolicy NotRequired) goes from 200m to
    400m: its cgroup quota changes, status reports the new resources, the container is not restarted;
    the same change on the pod itself is refused."""
    from fixtures import cgroups  # the cgroup probe (fixtures/cgroups.py) is added by the pods area

    with step("Given a running pod limited to 200m CPU"):
        ns.apply("controllers/autoscaling/resizable-pod.yaml", name="vpa")
        before = wait_pod(cluster, ns.name, "vpa", lambda p: p.ready, timeouts)
        assert cgroups.read(cluster, ns.name, "vpa", "app").cpu_limit_cores == pytest.approx(0.2), "the probe reads the 200m quota"
    body = {"spec": {"containers": [{"name": "app", "resources": {"requests": {"cpu": "400m"}, "limits": {"cpu": "400m"}}}]}}
    with step("When the same change is patched onto the pod itself, it is refused"):
        refused = answer_of(lambda: cluster.core.patch_namespaced_pod("vpa", ns.name, body))
        assert refused.status == 422, refused
    with step("When requests and limits become 400m through the resize subresource"):
        cluster.core.patch_namespaced_pod_resize("vpa", ns.name, body)
    with step("Then the container's cgroup quota becomes 400m"):
        eventually(lambda: cgroups.read(cluster, ns.name, "vpa", "app").cpu_limit_cores, until=lambda c: c == pytest.approx(0.4),
                   timeout=timeouts.controller_sync, desc="cgroup quota 400m")
    with step("And status reports the new resources, with no restart"):
        def status_resources():
            s = cluster.core.read_namespaced_pod("vpa", ns.name).status.container_statuses[0]
            return s.resources.limits.get("cpu") if s.resources else None, s.restart_count

        eventually(status_resources, until=lambda r: r == ("400m", 0), timeout=timeouts.controller_sync, desc="status 400m")
        assert view(cluster, ns.name, "vpa").container("app").container_id == before.container("app").container_id
