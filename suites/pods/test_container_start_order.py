"""Container start order: sequential start, postStart blocking, native sidecars.

Seed 000, 2021-02-18~21 › istio网络问题 › 通过 pod 容器启动顺序进行控制. The document relies on two
kubelet habits that are "not an API contract and may break in future": containers start one by one
in spec order, and a container's postStart hook blocks the next one. Both still hold; native
sidecars are the supported way to order startup now. Ordering is read from microsecond stamps the
containers write themselves (fixtures/timeline.py): API startedAt is second-granular.
"""
import pytest

from fixtures import timeline
from fixtures.polling import consistently, eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(images=["busybox"])]

# Behaviour parameters (not timeouts): long enough to see, short enough for ~3 s per claim.
HOOK_SECONDS = 8  # long against the few seconds a loaded kubelet takes between two container starts (3.3 s seen)
SHORT_HOOK_SECONDS = 0.3
SIDECAR_READY_AFTER = 1


@pytest.mark.claim("S000-25")
def test_containers_start_one_at_a_time_in_spec_order_when_a_pod_starts(ns, cluster, timeouts):
    """The kubelet starts a pod's regular containers one at a time, in spec.containers order.

    Claim: containers MUST start in the order they are defined, each only after the previous one
    (including its postStart hook) has started. The document calls this an implementation detail
    that may break in future; it still holds (checked on v1.34).
    Source: seed 000; kubelet pkg/kubelet/kuberuntime/kuberuntime_manager.go (SyncPod, step 7).
    Since: always (not an API guarantee).
    """
    with step("Given a pod of five containers named out of alphabetical order, each with a short postStart hook"):
        ns.apply("pods/start-order/spec-order.yaml", name="ordered", hook_seconds=SHORT_HOOK_SECONDS)
        spec_order = [c.name for c in cluster.core.read_namespaced_pod("ordered", ns.name).spec.containers]
        assert spec_order != sorted(spec_order), "the manifest must not list its containers in sorted order"

    with step("When the kubelet starts the pod"):
        events = timeline.wait_for(cluster, ns.name, "ordered", spec_order[0], "hook-end", spec_order[-1],
                                   timeout=timeouts.pod_start)

    with step("Then the containers started in spec order"):
        assert events.order("start") == spec_order, (
            f"[behaviour-changed] start order {events.order('start')} is not spec order {spec_order}:\n{events}")

    with step("And each container started only after the previous one's postStart hook had returned"):
        for before, after in zip(spec_order, spec_order[1:]):
            assert events.at("start", after) >= events.at("hook-end", before), (
                f"[behaviour-changed] {after} started before {before} had finished starting:\n{events}")


@pytest.mark.claim("S000-24")
def test_next_container_waits_for_the_post_start_hook_when_the_previous_container_has_one(ns, cluster, timeouts):
    """A container's postStart hook holds back the start of the next container until it returns.

    Claim: for containers A then B, the kubelet MUST NOT start B until A's postStart hook has
    returned (the document's `pilot-agent wait` pattern). A container after one without a hook
    is not held.
    Source: seed 000; https://kubernetes.io/docs/concepts/containers/container-lifecycle-hooks/
    Since: always (kubelet runs postStart synchronously in startContainer; not an API guarantee).
    """
    with step(f"Given a pod: 'proxy' with a {HOOK_SECONDS} s postStart hook, then 'app', then 'control' (no hooks)"):
        ns.apply("pods/start-order/post-start-blocks.yaml", name="hooked", hook_seconds=HOOK_SECONDS)

    with step("When the kubelet starts the pod"):
        events = timeline.wait_for(cluster, ns.name, "hooked", "proxy", "start", "control",
                                   timeout=timeouts.pod_start)

    with step("Then 'app' started only after the proxy's postStart hook had returned"):
        assert events.at("start", "app") >= events.at("hook-end", "proxy"), (
            f"[behaviour-changed] app started while the proxy's postStart hook was running:\n{events}")
        held = events.at("start", "app") - events.at("hook-start", "proxy")
        assert held >= HOOK_SECONDS, f"app was held {held:.3f}s, less than the {HOOK_SECONDS} s hook:\n{events}"

    with step("And 'control', after 'app' which has no hook, was held clearly less: the wait was the hook's"):
        gap = events.at("start", "control") - events.at("start", "app")
        assert gap < held - HOOK_SECONDS / 2, (
            f"control waited {gap:.3f}s after app (no hook), about as long as app waited behind the hook ({held:.3f}s):\n{events}")


def _container_states(cluster, namespace: str, pod: str) -> dict[str, dict]:
    """Per container (init and regular): running?, started, restartCount: a compact observation."""
    status = cluster.core.read_namespaced_pod(pod, namespace).status
    return {s.name: {"running": s.state.running is not None, "started": s.started, "restarts": s.restart_count}
            for s in [*(status.init_container_statuses or []), *(status.container_statuses or [])]}


@pytest.mark.claim("S000-25", "S002-076")
@pytest.mark.requires(min_version="1.29")
def test_native_sidecar_is_started_before_the_app_and_keeps_running_when_it_has_a_startup_probe(ns, cluster, timeouts):
    """A native sidecar with a startupProbe is started before the app starts, then runs beside it.

    Claim: an init container with `restartPolicy: Always` MUST pass its startupProbe before the
    kubelet starts the next container, and MUST keep running while the app runs: the supported
    ordering mechanism that replaces the document's postStart workaround. Without a startupProbe
    a sidecar holds nothing back (the control).
    Source: https://kubernetes.io/docs/concepts/workloads/pods/sidecar-containers/
    Since: 1.28 alpha, 1.29 beta (on by default), 1.33 GA.
    """
    with step(f"Given sidecar 'unprobed' (never ready), sidecar 'probed' (startupProbe, ready after {SIDECAR_READY_AFTER} s), then 'app'"):
        ns.apply("pods/start-order/native-sidecar.yaml", name="sidecar", ready_after=SIDECAR_READY_AFTER)

    with step("When the kubelet starts the pod"):
        events = timeline.wait_for(cluster, ns.name, "sidecar", "unprobed", "start", "app",
                                   timeout=timeouts.pod_start)

    with step("Then 'probed' and 'app' started although 'unprobed' never got ready: without a startupProbe it holds nothing"):
        assert events.has("start", "probed") and not events.has("ready", "unprobed"), f"observed:\n{events}"

    with step("And 'app' started only after the probed sidecar was ready"):
        assert events.at("start", "app") >= events.at("ready", "probed"), (
            f"[behaviour-changed] app started before the sidecar's startupProbe could pass:\n{events}")

    with step("And both sidecars keep running beside the app, never restarted"):
        def all_up(states):
            return set(states) == {"unprobed", "probed", "app"} and all(
                s["running"] and s["started"] and s["restarts"] == 0 for s in states.values())

        eventually(lambda: _container_states(cluster, ns.name, "sidecar"), until=all_up,
                   timeout=timeouts.pod_start, desc="sidecars and app all running")
        consistently(lambda: _container_states(cluster, ns.name, "sidecar"), holds=all_up,
                     duration=timeouts.short_hold, desc="sidecars running beside the app")
