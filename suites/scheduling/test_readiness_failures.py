"""Readiness (seed 003 「就绪探针失败」): a pod is Ready only when all its containers are ready and every
readiness gate is True, and an unready pod is taken out of its Service whole, not container by
container; a probe checked every second that fails at the first timeout makes readiness flap;
successThreshold above 1 is for readiness probes only.

Source: kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-readiness-gate,
/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/#configure-probes
"""
import pytest
from kubernetes.client import ApiException

from fixtures.podexec import exec_in
from fixtures.pods import is_ready, view, wait_pod
from fixtures.polling import consistently, eventually
from fixtures.reporting import step
from fixtures.services import endpoint_slices

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.requires(images=["agnhost", "busybox"])]


def _curl(cluster, namespace: str, url: str) -> str:
    """What the client pod gets from `url`: the body, or curl's exit code."""
    res = exec_in(cluster, namespace, "ready-client", "client", ["curl", "-sS", "-m", "2", url])
    return res.stdout.strip() if res.returncode == 0 else f"curl exit {res.returncode}"


@pytest.mark.claim("S003-050")
def test_one_unready_container_takes_the_whole_pod_out_of_its_service(ns, cluster, timeouts):
    """With one of its two containers unready, the pod is not Ready and its endpoint is not ready:
    requests through the Service fail although the ready container answers on the pod IP; once the
    other container is ready, the Service answers."""
    with step("Given a Service over a pod whose 'web' container serves and is ready, 'helper' is not"):
        ns.apply("scheduling/pod-failures/two-container-readiness.yaml", name="ready")
        pod = wait_pod(cluster, ns.name, "ready", lambda p: "web" in p.containers and p.container("web").ready, timeouts)
        wait_pod(cluster, ns.name, "ready-client", is_ready, timeouts)
    with step("Then the pod is not Ready, and its endpoint is listed not ready"):
        pod = view(cluster, ns.name, "ready")
        assert pod.condition("Ready") == "False" and not pod.container("helper").ready, pod
        slices = eventually(lambda: endpoint_slices(cluster, ns.name, "ready"), until=lambda s: pod.ip in s.addresses,
                            timeout=timeouts.controller_sync, desc="the pod in the Service's slices")
        assert pod.ip not in slices.ready, slices
    with step("And the web container answers on the pod IP (the negative control), but not through the Service"):
        assert _curl(cluster, ns.name, f"http://{pod.ip}:8080/hostname") == "ready"
        consistently(lambda: _curl(cluster, ns.name, "http://ready:8080/hostname"), holds=lambda a: a != "ready",
                     duration=timeouts.short_hold, desc="Service gives no answer from the unready pod")
    with step("When the helper becomes ready, the pod is Ready and the Service answers"):
        exec_in(cluster, ns.name, "ready", "helper", ["touch", "/tmp/ready"])
        wait_pod(cluster, ns.name, "ready", is_ready, timeouts)
        eventually(lambda: _curl(cluster, ns.name, "http://ready:8080/hostname"), until=lambda a: a == "ready",
                   timeout=timeouts.network_programming, desc="Service answers from the pod")


@pytest.mark.claim("S003-050")
def test_pod_with_a_readiness_gate_is_ready_only_once_the_gate_condition_is_true(ns, cluster, timeouts):
    """All containers ready is not enough when the pod has a readiness gate: Ready stays False
    (ContainersReady True) until the gate's condition is set True in the pod's status."""
    gate = "kubeproof.io/ok"
    with step(f"Given a pod with readiness gate {gate}, its container ready"):
        ns.apply("scheduling/pod-failures/pod-readiness-gate.yaml", name="gated", gate=gate)
        wait_pod(cluster, ns.name, "gated", lambda p: p.condition("ContainersReady") == "True", timeouts)
    with step("Then the pod is not Ready while the gate's condition is missing"):
        consistently(lambda: view(cluster, ns.name, "gated").condition("Ready"), holds=lambda r: r == "False",
                     duration=timeouts.short_hold, desc="gated pod not Ready")
    with step("When the gate's condition is set True in the pod status, the pod becomes Ready"):
        cluster.core.patch_namespaced_pod_status("gated", ns.name, {"status": {"conditions": [
            {"type": gate, "status": "True", "reason": "Kubeproof"}]}})
        wait_pod(cluster, ns.name, "gated", is_ready, timeouts)


@pytest.mark.claim("S003-051")
def test_probe_failing_at_the_first_timeout_flips_readiness_on_a_single_slow_answer(ns, cluster, timeouts):
    """With periodSeconds 1, timeoutSeconds 1 and failureThreshold 1 a single slow answer makes the
    pod unready (then ready again: flapping); with failureThreshold 3 the same slow answer is absorbed."""
    with step("Given two ready pods probed every second: failureThreshold 1 and failureThreshold 3"):
        ns.apply("scheduling/pod-failures/pod-slow-readiness.yaml", name="touchy", failure_threshold=1)
        ns.apply("scheduling/pod-failures/pod-slow-readiness.yaml", name="tolerant", failure_threshold=3)
        for name in ("touchy", "tolerant"):
            wait_pod(cluster, ns.name, name, is_ready, timeouts)
    before = {name: view(cluster, ns.name, name).since["Ready"] for name in ("touchy", "tolerant")}
    with step("When each answers one probe slowly (3 s, beyond the 1 s timeout)"):
        for name in ("touchy", "tolerant"):
            exec_in(cluster, ns.name, name, "app", ["touch", "/tmp/slow-once"])
    with step("Then the failureThreshold 1 pod turned unready and ready again (its Ready condition transitioned)"):
        wait_pod(cluster, ns.name, "touchy", lambda p: is_ready(p) and p.since["Ready"] > before["touchy"], timeouts,
                 budget="controller_sync", desc="touchy pod flapped: Ready transitioned, Ready again")
    with step("And the failureThreshold 3 pod (the negative control) answered slowly too, and never left Ready"):
        eventually(lambda: exec_in(cluster, ns.name, "tolerant", "app", ["test", "-f", "/tmp/slow-once"]).returncode,
                   until=lambda code: code != 0, timeout=timeouts.controller_sync, desc="tolerant pod's slow probe ran")
        consistently(lambda: view(cluster, ns.name, "tolerant"), holds=is_ready, duration=timeouts.short_hold,
                     desc="tolerant pod ready")
        assert view(cluster, ns.name, "tolerant").since["Ready"] == before["tolerant"], "the tolerant pod's Ready flipped"


@pytest.mark.claim("S003-051")
def test_success_threshold_above_one_is_refused_for_liveness_and_startup_probes(ns, cluster):
    """successThreshold > 1 is valid only for readiness probes: liveness and startup probes must use
    1 (the API refuses with 422)."""
    with step("Then a readiness probe with successThreshold 2 is accepted"):
        ns.apply("scheduling/pod-failures/pod-probe-success-threshold.yaml", name="readiness", probe="readinessProbe", threshold=2)
    for probe in ("livenessProbe", "startupProbe"):
        with step(f"And a {probe} with successThreshold 2 is refused"):
            with pytest.raises(ApiException) as refused:
                ns.apply("scheduling/pod-failures/pod-probe-success-threshold.yaml", name=probe.lower(), probe=probe, threshold=2)
            assert refused.value.status == 422 and "successThreshold" in str(refused.value.body), refused.value.body
