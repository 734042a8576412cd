"""Before Envoy is configured, the app's traffic is already captured (seed 000 「在应用启动命令中判断 Envoy 初始化状态」).

istio-init installs the iptables redirect before any container starts; if the app starts before Envoy
has listeners, its first outbound call fails. Hold (postStart `pilot-agent wait`) or a native sidecar
keeps the app from starting until the proxy is ready. The race is made deterministic by pointing one
proxy at an istiod that does not exist, so it never gets configuration. All of this needs a proxy
image that can run.
"""
import pytest

from fixtures.polling import consistently, eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("istio"), pytest.mark.requires(istio=True, istio_proxy=True, images=["agnhost", "busybox"])]
NOWHERE = "does-not-exist.istio-system.svc:15012"


def _client(ns, *, native: str, hold: str, discovery: str):
    ns.apply("istio/startup/target.yaml", name="target")
    ns.apply("istio/startup/client-first-call.yaml", name="client", native=native, hold=hold, discovery=discovery,
             target=f"target.{ns.name}.svc.cluster.local")


def _first_call(cluster, ns, timeouts) -> str:
    def line():
        return cluster.core.read_namespaced_pod_log("client", ns.name, container="app").strip()

    return eventually(line, until=lambda text: text.startswith("first call:"), timeout=timeouts.pod_start, desc="the app's first-call log line")


def _container_state(cluster, ns, name: str) -> str:
    pod = cluster.core.read_namespaced_pod("client", ns.name)
    for st in (pod.status.init_container_statuses or []) + (pod.status.container_statuses or []):
        if st.name == name:
            return "running" if st.state.running else ("waiting" if st.state.waiting else "terminated")
    return "absent"


@pytest.mark.claim("S000-21")
def test_first_outbound_call_fails_when_the_app_starts_before_the_proxy_is_configured(mesh_ns, cluster, timeouts):
    """Legacy sidecar without hold: the app starts at once, its traffic is redirected to an unconfigured Envoy, and fails."""
    with step("Given a legacy sidecar (no hold) whose proxy never gets configuration"):
        _client(mesh_ns, native="false", hold="false", discovery=NOWHERE)
    with step("Then the app's first outbound call fails"):
        assert _first_call(cluster, mesh_ns, timeouts) == "first call: failed"


@pytest.mark.claim("S000-21", "S000-26")
@pytest.mark.parametrize("native", ["false", "true"])
def test_app_never_starts_while_the_proxy_is_unconfigured_when_hold_or_native_sidecars_are_on(mesh_ns, cluster, timeouts, native):
    """With hold or a native sidecar the kubelet does not start the app until the proxy is ready: never, here."""
    with step(f"Given hold (nativeSidecar={native}) and a proxy that never gets configuration"):
        _client(mesh_ns, native=native, hold="true", discovery=NOWHERE)
    with step("When istio-proxy is running"):
        eventually(lambda: _container_state(cluster, mesh_ns, "istio-proxy"), until=lambda s: s == "running",
                   timeout=timeouts.pod_start, desc="istio-proxy running")
    with step("Then the app container does not start"):
        consistently(lambda: _container_state(cluster, mesh_ns, "app"), holds=lambda s: s != "running",
                     duration=timeouts.short_hold, desc="app held back")


@pytest.mark.claim("S000-21", "S000-26")
def test_first_outbound_call_succeeds_when_hold_is_set_and_istiod_is_reachable(mesh_ns, cluster, timeouts, istio):
    """The control: with hold and a reachable istiod, the app starts after the proxy is ready and its first call works."""
    istiod = "istiod" if istio.revision == "default" else f"istiod-{istio.revision}"
    with step("Given a legacy sidecar with hold and the real istiod"):
        _client(mesh_ns, native="false", hold="true", discovery=f"{istiod}.istio-system.svc:15012")
    with step("Then the app's first outbound call succeeds"):
        assert _first_call(cluster, mesh_ns, timeouts) == "first call: ok"
