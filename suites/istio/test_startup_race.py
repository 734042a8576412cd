"""Before Envoy is configured, the app's traffic is already captured (seed 000 「istio网络问题」,
「在应用启动命令中判断 Envoy 初始化状态」「通过 pod 容器启动顺序进行控制」).

Source: 000_b2af30f51f81eada.txt ## 2021-02-18~21 › ### istio网络问题 and its two sub-sections.
Upstream: istio.io/latest/docs/ops/common-problems/injection/ (holdApplicationUntilProxyStarts).

istio-init installs the iptables redirect before any container starts; an app that calls out before Envoy
has listeners fails. pilot-agent's 15020/healthz/ready answers 503 until Envoy is configured, then 200; an
app-side wait loop on it, hold (postStart `pilot-agent wait`) or a native sidecar all keep the app's first
call from failing. The race is made deterministic by pointing a proxy at an istiod that does not exist
(it never gets configuration), and every "failed" has a control where only the istiod address differs.
The app records, as its very first action, what pilot-agent says: its own observation, not timestamps.
"""
import pytest

from fixtures.podexec import exec_in
from fixtures.pods import events_of
from fixtures.polling import consistently, eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("istio"), pytest.mark.requires(istio=True, istio_proxy=True, images=["agnhost", "busybox"])]
NOWHERE = "does-not-exist.istio-system.svc:15012"


def _istiod(istio) -> str:
    return ("istiod" if istio.revision == "default" else f"istiod-{istio.revision}") + ".istio-system.svc:15012"


def _pod(ns, cluster, timeouts, *, native: str, hold: str, discovery: str, wait_loop: str = "false", name: str = "app"):
    """The target (Ready first: a failed call can only come from the client's proxy), then the checking app."""
    ns.apply("istio/startup/target.yaml", name="target")
    eventually(lambda: _target_ready(cluster, ns), until=bool, timeout=timeouts.mesh_pod_start, desc="the target Ready")
    ns.apply("istio/startup/app-checks-proxy.yaml", name=name, native=native, hold=hold, discovery=discovery, wait_loop=wait_loop,
             target=f"target.{ns.name}.svc.cluster.local")


def _target_ready(cluster, ns) -> bool:
    pod = cluster.core.read_namespaced_pod("target", ns.name)
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def _log(cluster, ns, name: str = "app") -> list[str]:
    try:
        return cluster.core.read_namespaced_pod_log(name, ns.name, container="app").splitlines()
    except Exception:  # noqa: BLE001 - the container has not started yet: no log
        return []


def _line(cluster, ns, timeouts, prefix: str, name: str = "app") -> str:
    return eventually(lambda: next((line for line in _log(cluster, ns, name) if line.startswith(prefix)), None),
                      until=bool, timeout=timeouts.mesh_pod_start, desc=f"the app's {prefix!r} line")


def _state(cluster, ns, container: str, name: str = "app") -> str:
    pod = cluster.core.read_namespaced_pod(name, ns.name)
    for st in (pod.status.init_container_statuses or []) + (pod.status.container_statuses or []):
        if st.name == container:
            return "running" if st.state.running else ("waiting" if st.state.waiting else "terminated")
    return "absent"


@pytest.mark.claim("S000-21", "S000-22")
def test_first_outbound_call_fails_and_15020_answers_503_while_the_proxy_has_no_configuration(mesh_ns, cluster, timeouts):
    """Legacy sidecar without hold: the app starts at once; pilot-agent answers 503 on 15020 (Envoy not configured)
    and the app's first outbound call, already redirected to Envoy, fails, though the target is Ready."""
    with step("Given a legacy sidecar (no hold) whose proxy never gets configuration, and a Ready target"):
        _pod(mesh_ns, cluster, timeouts, native="false", hold="false", discovery=NOWHERE)
    with step("Then the app's first call failed"):
        assert _line(cluster, mesh_ns, timeouts, "first call:") == "first call: failed"
    with step("And 15020/healthz/ready answers 503 from the app container, and keeps doing so"):
        def status():
            return exec_in(cluster, mesh_ns.name, "app", "app", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                                                   "http://localhost:15020/healthz/ready"]).stdout

        eventually(status, until=lambda s: s == "503", timeout=timeouts.xds_push, desc="503 while unconfigured")
        # never 200; under heavy load the agent was once seen not answering at all (000) for a moment
        consistently(status, holds=lambda s: s in ("503", "000"), duration=timeouts.short_hold, desc="no 200 while unconfigured")


@pytest.mark.claim("S000-22", "S000-21")
def test_15020_answers_200_once_the_proxy_is_configured_and_the_first_call_then_succeeds(mesh_ns, cluster, timeouts, istio):
    """The control of the test above, differing only in the istiod address: 15020 turns 200 once xDS is in, and with
    hold the app's first call succeeds."""
    with step("Given the same pod with hold and the real istiod"):
        _pod(mesh_ns, cluster, timeouts, native="false", hold="true", discovery=_istiod(istio))
    with step("Then the app saw 200 on 15020 as its first action, and its first call succeeded"):
        assert _line(cluster, mesh_ns, timeouts, "at start:") == "at start: 200"
        assert _line(cluster, mesh_ns, timeouts, "first call:") == "first call: ok"


@pytest.mark.claim("S000-26", "S000-24", "S000-21")
@pytest.mark.parametrize("native", ["false", "true"])
def test_app_starts_only_after_the_proxy_is_ready_when_hold_or_a_native_sidecar_is_used(mesh_ns, cluster, timeouts, istio, native):
    """Hold (postStart `pilot-agent wait` blocking the next container) or a native sidecar (startupProbe): the app's
    first action already finds the proxy ready (200), and its first outbound call succeeds."""
    with step(f"Given holdApplicationUntilProxyStarts and nativeSidecar={native}"):
        _pod(mesh_ns, cluster, timeouts, native=native, hold="true", discovery=_istiod(istio))
    with step("Then the app's first look at 15020 is already 200, and its first call succeeds"):
        assert _line(cluster, mesh_ns, timeouts, "at start:") == "at start: 200"
        assert _line(cluster, mesh_ns, timeouts, "first call:") == "first call: ok"


@pytest.mark.claim("S000-21", "S000-26", "S000-24")
@pytest.mark.parametrize("native", ["false", "true"])
def test_app_never_starts_while_the_proxy_is_unconfigured_when_hold_or_native_sidecars_are_on(mesh_ns, cluster, timeouts, native):
    """With hold or a native sidecar the kubelet does not start the app until the proxy is ready: never, here."""
    with step(f"Given hold (nativeSidecar={native}) and a proxy that never gets configuration"):
        _pod(mesh_ns, cluster, timeouts, native=native, hold="true", discovery=NOWHERE)
    with step("When the kubelet has started istio-proxy (its Started event: a legacy proxy's state stays 'waiting' "
              "while its postStart hook blocks)"):
        # the container is named by the event's fieldPath (1.35 says only "Container started" in the message)
        eventually(lambda: [e.involved_object.field_path for e in events_of(cluster, mesh_ns.name, "app") if e.reason == "Started"],
                   until=lambda started: any("{istio-proxy}" in (f or "") for f in started), timeout=timeouts.mesh_pod_start,
                   desc="istio-proxy started")
    with step("Then the app container does not start"):
        consistently(lambda: _state(cluster, mesh_ns, "app"), holds=lambda s: s != "running",
                     duration=timeouts.short_hold, desc="app held back")


@pytest.mark.claim("S000-23")
@pytest.mark.parametrize("istiod", ["reachable", "unreachable"])
def test_app_side_wait_loop_on_15020_delays_the_apps_work_until_the_proxy_is_ready(mesh_ns, cluster, timeouts, istio, istiod):
    """The document's awesome-app loop (`while curl 15020/healthz/ready != 200; sleep 1`) without hold: the app's real
    work starts only once the proxy is configured, so its first call succeeds; with a proxy that never gets
    configured it keeps waiting and never calls."""
    discovery = _istiod(istio) if istiod == "reachable" else NOWHERE
    with step(f"Given a legacy sidecar without hold and an app looping on 15020 (istiod {istiod})"):
        _pod(mesh_ns, cluster, timeouts, native="false", hold="false", discovery=discovery, wait_loop="true")
    if istiod == "reachable":
        with step("Then the loop ends and the first call succeeds"):
            assert _line(cluster, mesh_ns, timeouts, "first call:") == "first call: ok"
    else:
        with step("Then the app keeps logging 'Waiting for Sidecar' and never calls out"):
            _line(cluster, mesh_ns, timeouts, "Waiting for Sidecar")
            consistently(lambda: _log(cluster, mesh_ns), holds=lambda lines: not any(x.startswith("first call") for x in lines),
                         duration=timeouts.short_hold, desc="no call while waiting")
            assert _log(cluster, mesh_ns).count("Waiting for Sidecar") >= 2
