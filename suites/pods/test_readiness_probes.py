"""Readiness probes: a pod that is not ready gets no Service traffic, and is not restarted.

Seed 002 › Pod中的健康检查: "readnessProbe (只读探针): when the check fails, no traffic is let into the Pod"
("只读", read-only, is a mistranslation of readiness). Seed 003 › 生命周期: "if the readiness probe fails, the
endpoints controller removes the Pod's IP from the endpoints of all Services that match the Pod; the
readiness state before the initial delay is Failure; without a readiness probe the default is Success".
Today the endpoint is not removed but kept with `ready: false` (EndpointSlice) / under
`notReadyAddresses` (Endpoints); kube-proxy sends it no traffic.
Source: https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#container-probes,
https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/#conditions
"""
import time

import pytest

from fixtures import timeline
from fixtures.podexec import exec_in
from fixtures.polling import eventually
from fixtures.pods import is_ready, view, wait_pod, wait_ready
from fixtures.reporting import step
from fixtures.services import endpoint_slices, endpoints

pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(images=["busybox", "nginx"])]

REQUESTS = 40  # P(one of two ready backends never answers) = 2 * 0.5^40
INITIAL_DELAY = 10


def _answered_by(cluster, ns: str) -> set[str]:
    """Which pods answered REQUESTS requests to Service `web`'s ClusterIP from the client pod (busybox nc:
    this static busybox's wget crashes on non-loopback addresses and resolves no cluster names)."""
    ip = cluster.core.read_namespaced_service("web", ns).spec.cluster_ip
    get = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {ip} 80 | tail -n 1"
    cmd = f'for i in $(seq {REQUESTS}); do r=$({get}); echo "${{r:-FAILED}}"; done'
    out = exec_in(cluster, ns, "client", "client", ["sh", "-c", cmd], timeout=REQUESTS * 2 + 10)
    return set(out.stdout.split())


@pytest.mark.claim("S002-108")
def test_pod_failing_readiness_gets_no_service_traffic_and_is_not_restarted(ns, cluster, timeouts):
    """When one of two replicas fails its readiness probe, its EndpointSlice endpoint turns ready=false (kept,
    not deleted), requests through the Service reach only the other replica, and the container runs on."""
    with step("Given two ready nginx replicas behind Service `web`, both answering"):
        ns.apply("pods/probes/readiness-web.yaml")
        pods = wait_ready(cluster, ns.name, "app=web", 2, timeouts)
        wait_pod(cluster, ns.name, "client", is_ready, timeouts)
        names = {p.name for p in pods}
        eventually(lambda: _answered_by(cluster, ns.name), until=lambda got: got == names,
                   timeout=timeouts.network_programming, desc="both replicas answer through the Service")
    sick, healthy = pods
    with step(f"When {sick.name}'s readiness check starts failing"):
        assert exec_in(cluster, ns.name, sick.name, "web", ["rm", "/tmp/ready"]).returncode == 0
    with step("Then it turns NotReady and its endpoint stays listed with ready=false"):
        wait_pod(cluster, ns.name, sick.name, lambda p: p.condition("Ready") == "False", timeouts, desc="NotReady")
        slices = eventually(lambda: endpoint_slices(cluster, ns.name, "web"),
                            until=lambda s: sick.ip in s.addresses and s.ready == (healthy.ip,),
                            timeout=timeouts.controller_sync, desc="the sick pod's endpoint ready=false")
        assert sorted(slices.addresses) == sorted([sick.ip, healthy.ip]), slices
        legacy = endpoints(cluster, ns.name, "web")
        assert legacy.not_ready == (sick.ip,) and legacy.ready == (healthy.ip,), legacy
    with step(f"And requests through the Service are all answered by {healthy.name}"):
        eventually(lambda: _answered_by(cluster, ns.name), until=lambda got: got == {healthy.name},
                   timeout=timeouts.network_programming, desc=f"only {healthy.name} answers")
    with step("And the not-ready container was not restarted"):
        assert view(cluster, ns.name, sick.name).container("web").restarts == 0


def _both_slices(cluster, ns: str) -> dict[str, dict[str, bool | None]]:
    return {svc: {a: r for s in endpoint_slices(cluster, ns, svc).slices for a, r in s.addresses.items()}
            for svc in ("svc-a", "svc-b")}


@pytest.mark.claim("S003-018")
def test_readiness_is_failure_before_the_initial_delay_and_a_failure_marks_the_pod_unready_in_every_service(ns, cluster, timeouts):
    """Before initialDelaySeconds the pod is not ready and both Services that select it list its endpoint
    as ready=false; the first probe runs no sooner than the delay. A later failure marks it ready=false in
    both Services' EndpointSlices, still listed. A pod without a readiness probe is ready once it runs."""
    with step(f"Given pods `late` (readiness probe, initialDelaySeconds {INITIAL_DELAY}) and `plain` (no probe) behind svc-a and svc-b"):
        ns.apply("pods/probes/readiness-two-services.yaml", initial_delay=INITIAL_DELAY)
        plain = wait_pod(cluster, ns.name, "plain", is_ready, timeouts)
    with step("Then, until its first readiness probe, `late` is listed ready=false in both Services"):
        late = wait_pod(cluster, ns.name, "late", lambda p: p.ip is not None, timeouts, desc="late has an IP")
        samples: list[tuple[float, dict]] = []  # (host time after the read, both Services' slices)

        def sample():
            slices = _both_slices(cluster, ns.name)
            samples.append((time.time(), slices))
            return slices

        eventually(sample, until=lambda s: all(a.get(late.ip) for a in s.values()), timeout=timeouts.pod_start,
                   desc="late ready in both Services")
        events = timeline.wait_for(cluster, ns.name, "late", "app", "probe", "app", timeout=timeouts.pod_start)
        # the kind nodes share the host's clock: a read that ended before the first probe saw the pre-delay state
        early = [s for t, s in samples if t < events.at("probe", "app") and all(late.ip in a for a in s.values())]
        assert early, f"no slice read listed `late` before its first probe ({len(samples)} reads):\n{events}"
        assert all(a[late.ip] is False for s in early for a in s.values()), f"ready before the delay: {early}"
    with step("And `plain`, without a readiness probe, is ready=true in both whenever listed before `late`'s first probe"):
        listed = [a[plain.ip] for s in early for a in s.values() if plain.ip in a]
        assert listed and all(r is True for r in listed), early
    with step(f"And the first probe ran no sooner than {INITIAL_DELAY} s after the container started"):
        # the kubelet counts from the runtime's start (status startedAt, cut to the second: never later than the
        # real start); the app's own "start" line comes later, by however long the process took to get there
        started = view(cluster, ns.name, "late").container("app").started_at.timestamp()
        assert events.at("probe", "app") - started >= INITIAL_DELAY, f"probe before the delay (started {started}):\n{events}"
    with step("When its readiness probe then fails"):
        assert exec_in(cluster, ns.name, "late", "app", ["rm", "/tmp/ready"]).returncode == 0
    with step("Then both Services keep its endpoint, marked ready=false; Endpoints lists it under notReadyAddresses"):
        after = eventually(lambda: _both_slices(cluster, ns.name), until=lambda s: all(a.get(late.ip) is False for a in s.values()),
                           timeout=timeouts.controller_sync, desc="late ready=false in both Services")
        assert all(a.get(plain.ip) is True for a in after.values()), after
        # the Endpoints controller follows on its own, a moment after the EndpointSlice controller
        eventually(lambda: [svc for svc in ("svc-a", "svc-b") if late.ip not in endpoints(cluster, ns.name, svc).not_ready],
                   until=lambda missing: not missing, timeout=timeouts.controller_sync, desc="late under notReadyAddresses in both")
