"""Sidecar startup order, the Istio form: where the injector puts istio-proxy (seed 000 2021-02-18~21, seed 002 Istio).

The document's world: istio-proxy is a regular container, after the app unless
holdApplicationUntilProxyStarts moves it first with a postStart `pilot-agent wait`. Since Istio 1.27
on kubelets >= 1.33 the injector defaults to native sidecars instead: istio-proxy is an init container
with restartPolicy: Always, which the kubelet starts (and waits for) before any app container.
Everything here is read from pod specs the real istiod webhook produced, whatever the pull state.
"""
import pytest

from fixtures.addons.istio_layout import PROXY, layout
from fixtures.reporting import attach_text, step

pytestmark = [pytest.mark.area("istio"), pytest.mark.requires(istio=True, images=["busybox"])]


def _create(ns, manifest: str, **params):
    """The object the create returned: injection happens inside the request, so this is final."""
    return layout(ns.apply(f"istio/injection/{manifest}", **params)[0].to_dict())


@pytest.mark.claim("S000-05")
def test_proxy_is_appended_after_the_app_containers_when_native_sidecars_are_off_and_hold_is_unset(mesh_ns):
    """Without native sidecars or hold, istio-proxy is the last regular container, so the app starts first."""
    with step("Given a pod opting out of native sidecars, without holdApplicationUntilProxyStarts"):
        got = _create(mesh_ns, "pod-annotated.yaml", name="legacy", native="false", hold="false")
    with step("Then istio-proxy comes after app and helper, with no postStart hook, and istio-init captures traffic"):
        assert got.proxy_where == "containers" and got.containers == ["app", "helper", PROXY], got
        assert got.post_start is None, got
        assert got.init == ["istio-init"], got


@pytest.mark.claim("S000-05")
def test_proxy_moves_first_with_poststart_pilot_agent_wait_when_hold_is_set_and_native_sidecars_are_off(mesh_ns):
    """holdApplicationUntilProxyStarts puts istio-proxy first with postStart `pilot-agent wait`, so the kubelet
    starts the app only after the proxy reports ready (the postStart hook blocks the next container)."""
    with step("Given a pod with holdApplicationUntilProxyStarts: true and native sidecars off"):
        got = _create(mesh_ns, "pod-annotated.yaml", name="hold", native="false", hold="true")
    with step("Then istio-proxy is the first container and its postStart hook is `pilot-agent wait`"):
        assert got.proxy_first and got.containers == [PROXY, "app", "helper"], got
        assert got.post_start == ["pilot-agent", "wait"], got


@pytest.mark.claim("S000-05")
@pytest.mark.parametrize("hold", ["false", "true"])
def test_proxy_is_a_restartable_init_container_without_poststart_when_native_sidecars_are_on(mesh_ns, hold):
    """With native sidecars istio-proxy is an init container with restartPolicy: Always after istio-init; the
    kubelet starts apps only once its startupProbe passes, so hold needs no postStart hook."""
    with step(f"Given a pod with native sidecars on and holdApplicationUntilProxyStarts: {hold}"):
        got = _create(mesh_ns, "pod-annotated.yaml", name=f"native-{hold}", native="true", hold=hold)
    with step("Then istio-proxy is the second init container, restartPolicy Always, gated by a startupProbe"):
        assert got.proxy_where == "init" and got.init == ["istio-init", PROXY], got
        assert got.proxy_restart_policy == "Always", got
        assert got.containers == ["app", "helper"], got
        assert got.proxy_startup and got.proxy_startup["httpGet"]["port"] == 15021, got.proxy_startup
    with step("And it has no postStart wait but a preStop drain through the agent's 15020 debug port"):
        assert got.post_start is None, got
        assert got.pre_stop and got.pre_stop[:2] == ["pilot-agent", "request"] and "--debug-port=15020" in got.pre_stop, got.pre_stop


@pytest.mark.claim("S000-05", "S002-252")
def test_default_injection_uses_native_sidecars_when_every_kubelet_is_at_least_1_33(mesh_ns, istio, cluster):
    """The document's layout (proxy a regular container) is today's default only where native sidecars are off:
    Istio >= 1.27 defaults ENABLE_NATIVE_SIDECARS to auto, on when every node's kubelet is >= 1.33."""
    kubelets = sorted({n.status.node_info.kubelet_version for n in cluster.core.list_node().items})
    with step(f"Given Istio {istio.version} and kubelets {kubelets}: native sidecars expected {istio.native_sidecars}"):
        got = _create(mesh_ns, "pod.yaml", name="defaults")
    with step("Then the proxy sits where that prediction says"):
        attach_text("injected layout", repr(got))
        if istio.native_sidecars:
            assert got.proxy_where == "init" and got.proxy_restart_policy == "Always", got
        else:
            assert got.proxy_where == "containers" and got.proxy_after_apps, got
        assert got.status.get("initContainers") is not None and (PROXY in got.status["initContainers"]) == istio.native_sidecars, got.status


@pytest.mark.claim("S000-04")
def test_proxy_readiness_is_15021_and_app_probes_go_through_the_agent_on_15020_when_injected(mesh_ns):
    """The injector's template wires the proxy's readiness to pilot-agent's /healthz/ready (probe port 15021) and rewrites
    app HTTP probes to the agent's 15020 /app-health/<container>/readyz (the runtime 503/200 is in test_startup_race)."""
    with step("Given an injected pod whose app has an HTTP readiness probe on 8080"):
        got = _create(mesh_ns, "pod-annotated.yaml", name="probes", native="false", hold="true")
    with step("Then istio-proxy's readinessProbe is GET :15021/healthz/ready"):
        assert got.proxy_readiness["httpGet"]["port"] == 15021 and got.proxy_readiness["httpGet"]["path"] == "/healthz/ready", got.proxy_readiness
    with step("And the app's probe is rewritten to the agent on 15020, with metrics merged there too"):
        assert got.app_probes["app"]["httpGet"]["port"] == 15020, got.app_probes
        assert got.app_probes["app"]["httpGet"]["path"] == "/app-health/app/readyz", got.app_probes
        assert got.annotations.get("prometheus.io/port") == "15020", got.annotations


@pytest.mark.claim("S000-04")
def test_traffic_capture_is_an_istio_init_container_with_net_admin_when_istio_cni_is_absent(mesh_ns, istio_injector_values):
    """The injector adds the traffic-capture init container: istio-init (root, NET_ADMIN/NET_RAW) with the redirect
    arguments (outbound 15001, inbound 15006, UID 1337 exempt); with istio-cni istio-validation, which only checks.
    The rules it writes and the traffic they capture are in test_traffic_capture."""
    cni = bool(((istio_injector_values.get("pilot") or {}).get("cni") or {}).get("enabled"))
    with step(f"Given the injector's values (istio-cni enabled: {cni})"):
        got = _create(mesh_ns, "pod-annotated.yaml", name="capture", native="true", hold="false")
    name = "istio-validation" if cni else "istio-init"
    with step(f"Then the first init container is {name} running istio-iptables -p 15001 -z 15006 -u 1337"):
        assert got.init[0] == name, got
        args = got.init_args[name]
        assert args[0] == "istio-iptables" and args[args.index("-p") + 1] == "15001" and args[args.index("-z") + 1] == "15006", args
        assert args[args.index("-u") + 1] == "1337", args
    with step("And it holds NET_ADMIN and NET_RAW only when it applies the rules itself"):
        assert (set(got.init_caps[name]) >= {"NET_ADMIN", "NET_RAW"}) != cni, got.init_caps
