"""A synthetic run for checking the rendered Allure report by eye, without a cluster (hack/report-demo.sh).

One test of each kind of result the report must tell apart: a pass, a strict xfail (documented behaviour no
longer holds), a skip because Envoy is missing, a deliberate failure (product defect), a wait that times out
and a test stopped by its ceiling (pytest-timeout). It runs under the suite's own hooks (fixtures.plugin, the
per-test gate), with the `cluster`, `capabilities` and `ns` fixtures replaced by fakes: the failures get the
same diagnostics attachments (events, pod states, current and previous logs) a real namespace gives.

Not a self-test: its name keeps `pytest tests` from collecting it; run it only through hack/report-demo.sh.
"""
from __future__ import annotations

import os
import threading
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from kubernetes import client

from fixtures.capabilities import Capabilities
from fixtures.per_test import Namespace
from fixtures.polling import eventually
from fixtures.reporting import step

NS = "kp-demo-web"
_T0 = datetime(2026, 5, 1, 9, 30, 0, tzinfo=timezone.utc)


def _pod() -> client.V1Pod:
    waiting = client.V1ContainerState(waiting=client.V1ContainerStateWaiting(reason="CrashLoopBackOff",
                                                                            message="back-off 40s restarting failed container"))
    last = client.V1ContainerState(terminated=client.V1ContainerStateTerminated(exit_code=1, reason="Error"))
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name="web-5d8c7", namespace=NS),
        spec=client.V1PodSpec(node_name="kubeproof-worker", containers=[client.V1Container(name="web", image="agnhost")]),
        status=client.V1PodStatus(phase="Running", conditions=[client.V1PodCondition(type="Ready", status="False", reason="ContainersNotReady")],
                                  container_statuses=[client.V1ContainerStatus(name="web", image="agnhost", image_id="", ready=False,
                                                                               restart_count=3, started=False, state=waiting, last_state=last)]))


def _event(seconds: int, kind: str, reason: str, message: str) -> client.CoreV1Event:
    return client.CoreV1Event(metadata=client.V1ObjectMeta(name=f"web.{seconds}", creation_timestamp=_T0),
                              involved_object=client.V1ObjectReference(kind="Pod", name="web-5d8c7"),
                              last_timestamp=_T0.replace(second=seconds), type=kind, reason=reason, message=message)


class _FakeCore:
    """The three reads fixtures.diagnostics makes of a failed test's namespace."""

    def list_namespaced_event(self, namespace):
        return SimpleNamespace(items=[_event(1, "Normal", "Scheduled", f"Successfully assigned {NS}/web-5d8c7 to kubeproof-worker"),
                                      _event(4, "Normal", "Started", "Started container web"),
                                      _event(9, "Warning", "BackOff", "Back-off restarting failed container web")])

    def list_namespaced_pod(self, namespace):
        return SimpleNamespace(items=[_pod()])

    def read_namespaced_pod_log(self, name, namespace, container, previous, tail_lines):
        if previous:
            return "listening on :8080\npanic: upstream db:5432 refused the connection\n"
        return "listening on :8080\n"


@pytest.fixture(scope="module")
def cluster():
    return SimpleNamespace(kind_name="kubeproof-report-demo", provider="kind", core=_FakeCore())


@pytest.fixture(scope="module")
def capabilities():
    """A one-node cluster with Istio's control plane but without the proxy image (no Envoy to run)."""
    return Capabilities(server_version="v1.36.3", nodes=1, schedulable_nodes=1, kube_proxy_mode="iptables", cni="kindnet",
                        node_access=True, addon_facts={"istio": {"istio_version": "1.31-dev", "istio_proxy_runnable": False,
                                                                 "istio_proxy_image": "kubeproof/proxyv2:1.31-dev"}})


@pytest.fixture(scope="session")
def istio_addon():
    """The Istio add-on's state: nothing installed by this run (its probe keeps the facts above)."""
    return None


@pytest.fixture
def ns(cluster):
    return Namespace(name=NS, cluster=cluster, images={})


@pytest.mark.area("controllers")
@pytest.mark.claim("S000-49")
def test_a_behaviour_that_holds(ns):
    """Passes: the claim holds."""
    with step("Given 3 ready replicas guarded by a PDB"):
        replicas = 3
    with step("Then the eviction of a fourth is refused"):
        assert replicas == 3


@pytest.mark.area("pods")
@pytest.mark.claim("S000-69")
@pytest.mark.xfail(strict=True, reason="[behaviour-changed] documented: the pod shows CrashLoopBackOff after the first exit; "
                                       "observed: the reason appears only once the kubelet syncs the pod during the back-off")
def test_a_documented_behaviour_that_no_longer_holds(ns):
    """A strict xfail: the document says one thing, the cluster does another (the report's own category)."""
    with step("When the container exits once"):
        reason = "Error"
    with step("Then the pod's waiting reason is CrashLoopBackOff"):
        assert reason == "CrashLoopBackOff", f"waiting reason: {reason}"


@pytest.mark.area("istio")
@pytest.mark.claim("S000-20")
@pytest.mark.requires(istio=True, istio_proxy=True)
def test_a_behaviour_that_needs_envoy(ns):
    """Skipped by the gate: the proxy image (Envoy) is not on the nodes; the reason names the fix."""


@pytest.mark.area("pods")
@pytest.mark.claim("S000-69")
def test_a_deliberate_failure(ns):
    """Fails on purpose (a product defect, as the report files it), with the namespace's diagnostics attached.
    It passes in the script's first run, so the second run's report shows it as a regression in its history."""
    with step("When the readiness probe's HTTP GET is answered"):
        status = 200 if os.environ.get("KUBEPROOF_REPORT_DEMO_RUN") == "1" else 503
    with step("Then the pod counts as ready"):
        assert status == 200, f"the probe answered {status}: the container is in CrashLoopBackOff (see the diagnostics)"


@pytest.mark.area("controllers")
@pytest.mark.claim("S000-49")
def test_a_wait_that_times_out(ns):
    """A wait that never sees its state: the timeout names what it waited for and what it last saw."""
    with step("Then the pod becomes Ready"):
        eventually(lambda: ns.cluster.core.list_namespaced_pod(ns.name).items[0].status.conditions[0].status,
                   until=lambda ready: ready == "True", timeout=1.0, interval=0.25, desc=f"pod web-5d8c7 in {ns.name} Ready")


@pytest.mark.area("controllers")
@pytest.mark.claim("S000-49")
@pytest.mark.timeout(2)
def test_a_hang_stopped_by_its_ceiling(ns):
    """A call that never returns: the per-test ceiling (pytest-timeout) ends it and the run goes on."""
    with step("When an API call hangs"):
        threading.Event().wait(30)
