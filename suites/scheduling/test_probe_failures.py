"""Health-check failures: a failing liveness probe restarts the container; a failing readiness probe
takes the pod out of its Service's endpoints without restarting anything.

Source: seed 000, 2021-02-22~28 › 「Pod异常状态的常见原因」 §5 (「Pod 健康检查失败」). Upstream:
kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/
"""
import pytest

from fixtures.podexec import exec_in
from fixtures.pods import event_reasons, restarted_at_least, view, wait_pod, wait_ready
from fixtures.polling import eventually
from fixtures.reporting import step
from fixtures.services import endpoint_slices

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.requires(images=["busybox"])]


@pytest.mark.claim("S000-68")
def test_failing_liveness_probe_restarts_the_container_in_the_same_pod(ns, cluster, timeouts):
    """A liveness probe that fails restarts the container (restartCount grows, events Unhealthy then
    Killing); the pod is the same one."""
    with step("Given a container whose liveness probe can never pass (period 1 s, threshold 1)"):
        ns.apply("scheduling/stuck/liveness-failing.yaml", name="unhealthy")
        first = wait_pod(cluster, ns.name, "unhealthy", lambda p: p.node is not None, timeouts)
    with step("Then the kubelet restarts its container"):
        after = wait_pod(cluster, ns.name, "unhealthy", restarted_at_least("main", 1), timeouts)
        assert after.uid == first.uid, (first, after)
    with step("And it said why: Unhealthy (the probe), then Killing (the restart)"):
        reasons = event_reasons(cluster, ns.name, "unhealthy")
        assert "Unhealthy" in reasons and "Killing" in reasons, reasons
        assert reasons.index("Unhealthy") < reasons.index("Killing"), reasons


@pytest.mark.claim("S000-68")
def test_failing_readiness_probe_takes_the_pod_out_of_service_endpoints_without_restarting_it(ns, cluster, timeouts):
    """A readiness probe that starts failing marks the endpoint not ready in the Service's
    EndpointSlice; the container is not restarted."""
    with step("Given a ready pod behind a Service, its endpoint ready"):
        ns.apply("scheduling/stuck/readiness-file.yaml", name="web")
        pod = wait_ready(cluster, ns.name, "app=web", 1, timeouts)[0]
        eventually(lambda: endpoint_slices(cluster, ns.name, "web"), until=lambda s: s.ready == (pod.ip,),
                   timeout=timeouts.controller_sync, desc="web's endpoint ready")
    with step("When its readiness probe starts failing"):
        exec_in(cluster, ns.name, "web", "main", ["rm", "/tmp/ready"])
    with step("Then its endpoint turns not ready"):
        slices = eventually(lambda: endpoint_slices(cluster, ns.name, "web"),
                            until=lambda s: pod.ip in s.addresses and not s.ready,
                            timeout=timeouts.controller_sync, desc="web's endpoint not ready")
        assert slices.addresses == (pod.ip,), slices
    with step("And the container was never restarted"):
        now = view(cluster, ns.name, "web")
        assert (now.restarts, now.ready, now.uid) == (0, False, pod.uid), now
