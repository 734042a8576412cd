"""Container lifecycle hooks: postStart runs beside the entrypoint, preStop runs before SIGTERM within the
grace period, handler kinds, and what a failing hook does.

Seed 002 › 配置相关: "postStart is not serial: it starts after the ENTRYPOINT, whose work may not be done
yet; preStop (written preStart) runs before the container is killed, which happens only after it
completes". Seed 003 › Hook: "hooks are exec or HTTP"; "postStart ... the kubelet locks the container and
does not let the application process start; only after postStart completes is the state RUNNING";
"PreStop is called synchronously before the container terminates"; "if a postStart or preStop hook
fails, the container is killed". Timings are the containers' own (fixtures/timeline.py stamps; for
stopping containers, their termination messages in the pod's final status).
Source: https://kubernetes.io/docs/concepts/containers/container-lifecycle-hooks/,
https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination
"""
import ipaddress
import time

import pytest

from fixtures import timeline
from fixtures.polling import eventually, retry_not_found
from fixtures.pods import delete_and_watch_final, is_ready, view, wait_pod
from fixtures.reporting import step

pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(images=["busybox"])]

HOOK_SECONDS = 3
PRE_STOP_SECONDS = 3
SLEEP_SECONDS = 4
GRACE = 30
SHORT_GRACE, LONG_PRE_STOP = 3, 60
# after a preStop hook uses up the grace period the kubelet still grants this much before SIGKILL
# (pkg/kubelet/kuberuntime/kuberuntime_container.go: minimumGracePeriodInSeconds)
MINIMUM_GRACE = 2


def _run_and_delete(ns, cluster, timeouts, manifest: str, **params) -> timeline.Timeline:
    """Run pods/hooks/<manifest> until Ready, delete it, and merge its containers' termination messages
    (the timeline lines they wrote while being stopped) into one timeline."""
    ns.apply(f"pods/hooks/{manifest}", name="stopping", **params)
    wait_pod(cluster, ns.name, "stopping", is_ready, timeouts)
    pod = delete_and_watch_final(cluster, ns.name, "stopping", timeouts)
    return timeline.parse("\n".join(c.message or "" for c in pod.containers.values()))


@pytest.mark.claim("S003-020", "S002-231")
def test_entrypoint_runs_while_the_post_start_hook_runs_but_the_container_is_not_running_until_it_returns(ns, cluster, timeouts):
    """postStart runs concurrently with the entrypoint: the app process starts before the hook returns
    (the document's "does not let the application start" is wrong). What waits for the hook is the
    status: the container is reported waiting (ContainerCreating) and the pod not Ready until it returns.

    While the hook runs the kubelet serves no exec into the pod either, so the API status is sampled
    (host wall clock around each GET) and matched afterwards with the pod's own timeline: the kind
    nodes share the host's clock.
    """
    samples: list[tuple[float, object, float]] = []

    def sample():
        before = time.time()
        pod = view(cluster, ns.name, "hooked")
        samples.append((before, pod, time.time()))
        return pod

    with step(f"Given a pod whose 'app' has a {HOOK_SECONDS} s postStart hook"):
        ns.apply("pods/hooks/post-start-concurrent.yaml", name="hooked", hook_seconds=HOOK_SECONDS)
    with step("When its status is sampled until it is Ready"):
        eventually(retry_not_found(sample), until=is_ready, timeout=timeouts.pod_start, desc="hooked Ready")
        events = timeline.wait_for(cluster, ns.name, "hooked", "reader", "hook-end", "app", timeout=timeouts.pod_start)
    with step("Then the entrypoint had started before the hook returned: it runs beside the hook"):
        assert events.at("hook-start", "app") < events.at("hook-end", "app")
        assert events.at("start", "app") < events.at("hook-end", "app"), f"entrypoint waited for the hook:\n{events}"
    with step("And every status read while the hook ran reported 'app' waiting in ContainerCreating, the pod not Ready"):
        during = [p for t0, p, t1 in samples if events.at("hook-start", "app") < t0 and t1 < events.at("hook-end", "app")]
        assert during, f"no status read fell inside the hook ({len(samples)} samples):\n{events}"
        seen = [(c.state, c.reason, p.ready) if (c := p.containers.get("app")) else ("no status", None, p.ready) for p in during]
        assert all(state != "running" and not ready for state, _, ready in seen), f"reported running during the hook: {seen}"
        assert ("waiting", "ContainerCreating", False) in seen, seen


@pytest.mark.claim("S003-021")
def test_pre_stop_hook_completes_before_the_container_gets_sigterm(ns, cluster, timeouts):
    """On deletion the kubelet runs the exec preStop hook to completion and only then sends SIGTERM; a
    container without a hook in the same pod gets SIGTERM at once (the control)."""
    with step(f"Given a running pod: 'hooked' with a {PRE_STOP_SECONDS} s preStop hook, 'unhooked' without; when it is deleted"):
        events = _run_and_delete(ns, cluster, timeouts, "pre-stop.yaml", grace=GRACE, pre_stop_seconds=PRE_STOP_SECONDS)
    with step("Then 'hooked' got SIGTERM only after its preStop hook had finished"):
        assert events.at("sigterm", "hooked") >= events.at("prestop-end", "hooked"), f"SIGTERM during the hook:\n{events}"
        assert events.at("prestop-end", "hooked") - events.at("prestop-start", "hooked") >= PRE_STOP_SECONDS, events
    with step("And 'unhooked' got SIGTERM while the hook still ran"):
        assert events.at("sigterm", "unhooked") < events.at("prestop-end", "hooked"), f"no concurrent control:\n{events}"


@pytest.mark.claim("S002-231")
def test_pre_stop_hook_longer_than_the_grace_period_is_cut_short_by_sigterm(ns, cluster, timeouts):
    """The document: the container is killed only after preStop completes. Bounded: a {LONG_PRE_STOP} s hook
    with a {SHORT_GRACE} s grace period is abandoned; SIGTERM comes when the grace period is used up
    (plus at most the kubelet's 2 s minimum), and the hook never finishes."""
    with step(f"Given a pod with a {LONG_PRE_STOP} s preStop hook and terminationGracePeriodSeconds {SHORT_GRACE}; when it is deleted"):
        events = _run_and_delete(ns, cluster, timeouts, "pre-stop.yaml", grace=SHORT_GRACE, pre_stop_seconds=LONG_PRE_STOP)
    with step("Then SIGTERM reached 'hooked' about one grace period after its hook started, and the hook never ended"):
        waited = events.at("sigterm", "hooked") - events.at("prestop-start", "hooked")
        assert not events.has("prestop-end", "hooked"), f"the hook ran to completion:\n{events}"
        assert waited >= SHORT_GRACE - 1, f"SIGTERM {waited:.2f}s after the hook started, before the grace period ran out:\n{events}"
        assert waited < LONG_PRE_STOP / 4, (
            f"[behaviour-changed] SIGTERM only {waited:.2f}s after the hook started (grace {SHORT_GRACE}s + {MINIMUM_GRACE}s minimum):\n{events}")


@pytest.mark.claim("S003-019")
@pytest.mark.requires(min_version="1.30")
def test_sleep_pre_stop_action_delays_sigterm_by_its_duration(ns, cluster, timeouts):
    """Beside exec and httpGet the document lists, hooks have a `sleep` action (beta, on by default 1.30; GA
    1.34): the kubelet waits that long before SIGTERM, without running anything in the container."""
    with step(f"Given a pod: 'hooked' with preStop sleep {SLEEP_SECONDS} s, 'unhooked' without; when it is deleted"):
        events = _run_and_delete(ns, cluster, timeouts, "pre-stop-sleep.yaml", sleep_seconds=SLEEP_SECONDS)
    with step(f"Then 'hooked' got SIGTERM about {SLEEP_SECONDS} s after 'unhooked' (1 s allowed for the kubelet's stop calls)"):
        delay = events.at("sigterm", "hooked") - events.at("sigterm", "unhooked")
        assert delay >= SLEEP_SECONDS - 1, f"sleep action did not delay SIGTERM ({delay:.2f}s):\n{events}"


@pytest.mark.claim("S003-019")
@pytest.mark.requires(images=["busybox", "nginx"], min_version="1.29")
def test_http_get_hook_is_sent_by_the_kubelet_from_the_node_to_the_pod_ip(ns, cluster, timeouts):
    """An httpGet postStart hook is an HTTP request the kubelet makes from the node's network to the pod's
    IP: nginx in the pod logs it with a node-side client address, not the pod's own."""
    with step("Given a pod whose nginx sidecar is listening before 'app' starts with an httpGet postStart hook"):
        ns.apply("pods/hooks/http-hook.yaml", name="http-hook")
        pod = wait_pod(cluster, ns.name, "http-hook", is_ready, timeouts)
    with step("When nginx's access log is read"):
        line = eventually(lambda: [x for x in cluster.core.read_namespaced_pod_log("http-hook", ns.name, container="web").splitlines()
                                   if "/index.nginx-debian.html" in x], until=bool, timeout=timeouts.apply, desc="hook request logged")[0]
    with step("Then the request came from the node side: the node's IP or its pod-network gateway, not the pod"):
        client_ip = line.split()[0]
        node = cluster.core.read_node(pod.node)
        gateway = str(next(ipaddress.ip_network(node.spec.pod_cidr).hosts()))
        node_ips = {a.address for a in node.status.addresses if a.type == "InternalIP"}
        assert client_ip != pod.ip and client_ip in node_ips | {gateway}, (client_ip, pod.ip, node_ips, gateway, line)
