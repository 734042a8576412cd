"""Probe handlers and their results: what counts as success, and a timeout is a failure.

Seed 003 › 生命周期 (容器探针): "ExecAction: success if the command exits 0; TCPSocketAction: success if
the port is open; HTTPGetAction: success if the status code is >= 200 and < 400" and "each probe has one
of three results: Success, Failure, Unknown (the diagnosis failed, no action is taken)". All hold; there
is also a gRPC handler (GA 1.27). A probe that exceeds timeoutSeconds is a Failure (kubelet event
"Readiness probe failed"), not Unknown ("probe errored").
One pod with one readiness probe per container; containers share the pod's network, so every probe
reaches the same nginx (302 and 404 locations) and gRPC health server.
Source: https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#probe-outcome
"""
import pytest

from fixtures.polling import consistently, eventually
from fixtures.pods import events_of, view
from fixtures.reporting import step

pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(images=["busybox", "nginx", "agnhost"]),
              pytest.mark.xdist_group("pods-probe-handlers")]

POD = "handlers"
SUCCEEDING = {"web", "grpc", "http-302", "tcp-open", "exec-0"}  # `web` has no probe: ready when running
FAILING = {"http-404": "HTTP probe failed with statuscode: 404", "tcp-closed": "connection refused",
           "exec-1": "", "exec-timeout": "timed out"}


def _readiness(cluster, ns: str) -> dict[str, bool]:
    return {name: c.ready for name, c in view(cluster, ns, POD).containers.items()}


def _probe_failures(cluster, ns: str) -> dict[str, list[str]]:
    """Per container: the messages of its Unhealthy events (the kubelet's probe verdicts)."""
    out: dict[str, list[str]] = {}
    for e in events_of(cluster, ns, POD):
        path = e.involved_object.field_path or ""
        if e.reason == "Unhealthy" and path.startswith("spec.containers{"):
            out.setdefault(path[len("spec.containers{"):-1], []).append(e.message)
    return out


@pytest.fixture(scope="module")
def probed(module_ns, cluster, timeouts):
    """The pod, once every succeeding probe has passed and every failing one has been reported by the kubelet."""
    with step("Given one pod with a readiness probe per handler and outcome"):
        module_ns.apply("pods/probes/handlers.yaml", name=POD)
        eventually(lambda: _readiness(cluster, module_ns.name),
                   until=lambda r: all(r.get(c) for c in SUCCEEDING), timeout=timeouts.pod_start,
                   desc="the succeeding probes' containers ready")
        eventually(lambda: _probe_failures(cluster, module_ns.name), until=lambda f: set(FAILING) <= set(f),
                   timeout=timeouts.controller_sync, desc="an Unhealthy event for each failing probe")
    return module_ns


@pytest.mark.claim("S003-015", "S002-110")
def test_exec_0_open_tcp_port_http_302_and_grpc_serving_count_as_success(probed, cluster, timeouts):
    """Exit code 0, an open TCP port, an HTTP 302 (in 200-399) and a SERVING gRPC health check (the grpc
    handler, GA 1.27, which the documents do not list) make the container ready; exit 1, a closed port and HTTP 404 keep it unready (the control, same probe kinds)."""
    with step("Then the containers probed by exec 0 / open port / HTTP 302 / gRPC are ready, and stay ready"):
        consistently(lambda: _readiness(cluster, probed.name), holds=lambda r: all(r[c] for c in SUCCEEDING),
                     duration=timeouts.short_hold, desc="succeeding probes keep their containers ready")
    with step("And those probed by exec 1 / closed port / HTTP 404 are not, with the kubelet's reason"):
        readiness, failures = _readiness(cluster, probed.name), _probe_failures(cluster, probed.name)
        for name in ("http-404", "tcp-closed", "exec-1"):
            assert readiness[name] is False, (name, readiness)
            assert any(FAILING[name] in m for m in failures[name]), (name, failures[name])
        assert not set(SUCCEEDING) & set(failures), f"a succeeding probe was reported failing: {failures}"


@pytest.mark.claim("S003-016")
def test_probe_exceeding_its_timeout_is_a_failure_not_an_unknown_result(probed, cluster):
    """An exec probe running 3 s with timeoutSeconds: 1 is reported "Readiness probe failed ... timed out"
    (Failure: the container is kept unready), not "probe errored" (Unknown, which takes no action)."""
    with step("Then the timed-out probe's container is not ready"):
        assert _readiness(cluster, probed.name)["exec-timeout"] is False
    with step("And the kubelet reported a failed probe that timed out, never an errored one"):
        messages = _probe_failures(cluster, probed.name)["exec-timeout"]
        assert any(m.startswith("Readiness probe failed") and "timed out" in m for m in messages), messages
        assert not any("errored" in m for m in messages), messages
