"""The suite's machinery against a live cluster: the existing provider, namespace cleanup after a failing
and an interrupted test, diagnostics on failure, and the sweep of leftovers.

Uses the cluster in $KUBEPROOF_SELFTEST_KUBECONFIG, else creates a single-node kind cluster for this module.
"""
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from kindcluster import CLUSTER_DIR, create_cluster, delete_cluster

from fixtures.kube import load_api_client
from fixtures.polling import eventually
from fixtures.versions import ROOT

pytestmark = [pytest.mark.integration]
PLUGINS = ["-p", "fixtures.plugin", "-p", "fixtures.session", "-p", "fixtures.per_test"]


@pytest.fixture(scope="module")
def kubeconfig(offline_tools, tmp_path_factory):
    """The cluster in $KUBEPROOF_SELFTEST_KUBECONFIG, else a single-node kind cluster for this module."""
    given = os.environ.get("KUBEPROOF_SELFTEST_KUBECONFIG")
    if given:
        yield Path(given)
        return
    c = create_cluster(offline_tools, f"kp-self-{uuid.uuid4().hex[:4]}", CLUSTER_DIR / "single-node.yaml",
                       tmp_path_factory.mktemp("kc"), nodes=1)
    try:
        yield c.kubeconfig
    finally:
        delete_cluster(c)


@pytest.fixture(scope="module")
def core(kubeconfig):
    from kubernetes import client

    return client.CoreV1Api(load_api_client(kubeconfig, None))


def suite_file(tmp_path: Path, body: str) -> Path:
    (tmp_path / "suites").mkdir(exist_ok=True)
    (tmp_path / "suites" / "__init__.py").touch()
    f = tmp_path / "suites" / "test_x.py"
    f.write_text(textwrap.dedent(body))
    return f


def run_suite(tmp_path, kubeconfig, run_id, *args, **popen):
    env = {**os.environ, "KUBEPROOF_RUN_ID": run_id, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "pytest", *PLUGINS, "--strict-markers", "-p", "no:cacheprovider",
           f"--rootdir={tmp_path}", str(tmp_path / "suites"), f"--kubeconfig={kubeconfig}", *args]
    return subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


def run_namespaces(core, run_id):
    return [(n.metadata.name, n.status.phase) for n in core.list_namespace(label_selector=f"kubeproof.io/run={run_id}").items]


def gone_or_terminating(core, run_id):
    return all(phase == "Terminating" for _, phase in run_namespaces(core, run_id))


PASSING = """
    import pytest
    @pytest.mark.claim("S000-24")
    def test_ok(ns, cluster):
        assert cluster.core.read_namespace(ns.name).metadata.labels["kubeproof.io/run"]
"""

FAILING = """
    import pytest
    @pytest.mark.claim("S000-24")
    def test_fails(ns, cluster):
        cluster.core.create_namespaced_config_map(ns.name, {"metadata": {"name": "evidence"}})
        assert False, "deliberate failure"
"""

BLOCKING = """
    import pytest
    from fixtures.polling import eventually
    @pytest.mark.claim("S000-24")
    def test_blocks(ns, cluster):
        print("namespace", ns.name, flush=True)
        eventually(lambda: False, until=bool, timeout=300, interval=0.5, desc="never")
"""


def test_existing_provider_runs_a_behaviour_test_and_removes_its_namespace(tmp_path, kubeconfig, core):
    suite_file(tmp_path, PASSING)
    rid = uuid.uuid4().hex[:8]
    proc = run_suite(tmp_path, kubeconfig, rid)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "existing cluster" in out and "1 passed" in out
    eventually(lambda: run_namespaces(core, rid), until=lambda v: all(p == "Terminating" for _, p in v), timeout=30)


def test_a_failing_test_reports_diagnostics_and_still_removes_its_namespace(tmp_path, kubeconfig, core):
    suite_file(tmp_path, FAILING)
    rid = uuid.uuid4().hex[:8]
    proc = run_suite(tmp_path, kubeconfig, rid, "--alluredir", str(tmp_path / "allure"), "-o", "junit_logging=system-out")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, out
    assert "kubeproof diagnostics" in out and "--- events" in out and "--- pods" in out
    junit = (tmp_path / "reports" / "junit.xml").read_text()  # written by default, diagnostics in system-out
    assert "<system-out>" in junit and "kubeproof diagnostics" in junit and "--- events" in junit, junit[:2000]
    assert any("diagnostics (" in f.read_text() and "): events" in f.read_text() for f in (tmp_path / "allure").glob("*-result.json"))
    assert (tmp_path / "allure" / "environment.properties").read_text().count("server_version=v1.")
    eventually(lambda: run_namespaces(core, rid), until=lambda v: all(p == "Terminating" for _, p in v), timeout=30)


def test_keep_namespace_on_failure_keeps_it(tmp_path, kubeconfig, core):
    suite_file(tmp_path, FAILING)
    rid = uuid.uuid4().hex[:8]
    proc = run_suite(tmp_path, kubeconfig, rid, "--keep-namespace-on-failure")
    out, _ = proc.communicate(timeout=120)
    kept = run_namespaces(core, rid)
    try:
        assert proc.returncode == 1 and "kept namespace" in out, out
        # the session-end sweep of this run's namespaces must respect the flag too
        # (the health gate's own namespace of this run may still be Terminating)
        assert [p for n, p in kept if not n.startswith("kp-health-")] == ["Active"], kept
    finally:
        for name, _ in kept:
            if not name.startswith("kp-health-"):
                core.delete_namespace(name)


def test_an_interrupted_run_leaves_no_namespace_behind(tmp_path, kubeconfig, core):
    suite_file(tmp_path, BLOCKING)
    rid = uuid.uuid4().hex[:8]
    proc = run_suite(tmp_path, kubeconfig, rid, "-s", start_new_session=True)
    eventually(lambda: run_namespaces(core, rid), until=lambda v: len(v) == 1, timeout=60, desc="test namespace created")
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the foreground process group
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out  # pytest's "interrupted"
    eventually(lambda: run_namespaces(core, rid), until=lambda v: all(p == "Terminating" for _, p in v), timeout=30)


def test_leftovers_of_a_killed_run_are_swept_by_the_next_run(tmp_path, kubeconfig, core):
    suite_file(tmp_path, BLOCKING)
    rid = uuid.uuid4().hex[:8]
    proc = run_suite(tmp_path, kubeconfig, rid, "-s", start_new_session=True)
    eventually(lambda: run_namespaces(core, rid), until=lambda v: len(v) == 1, timeout=60, desc="test namespace created")
    os.killpg(proc.pid, signal.SIGKILL)  # a crash: no teardown at all
    proc.communicate(timeout=30)
    assert [p for _, p in run_namespaces(core, rid)] == ["Active"]
    suite_file(tmp_path, PASSING)
    nxt = run_suite(tmp_path, kubeconfig, uuid.uuid4().hex[:8])
    out, _ = nxt.communicate(timeout=120)
    assert nxt.returncode == 0, out
    eventually(lambda: run_namespaces(core, rid), until=lambda v: all(p == "Terminating" for _, p in v), timeout=30)


@pytest.mark.parametrize("args,expected", [
    (["--kind-image=kubeproof/node:v0.0.0-nope"], "node image kubeproof/node:v0.0.0-nope is not in the local Docker image store"),
    (["--kind-config=five-node"], "kind config 'five-node' not found"),
    (["--reuse-cluster=kp-no-such-cluster"], "--reuse-cluster kp-no-such-cluster: no such kind cluster"),
])
def test_a_bad_kind_request_stops_the_run_within_seconds_and_creates_nothing(tmp_path, args, expected):
    suite_file(tmp_path, PASSING)
    rid = uuid.uuid4().hex[:8]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KUBEPROOF_RUN_ID": rid}
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "pytest", *PLUGINS, "-p", "no:cacheprovider", f"--rootdir={tmp_path}",
                          str(tmp_path / "suites"), "--cluster-provider=kind", *args],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    out = res.stdout + res.stderr
    assert res.returncode == pytest.ExitCode.USAGE_ERROR and expected in out and "Traceback" not in out, out
    assert time.monotonic() - t0 < 20
    # the run would have named its cluster kubeproof-<run id>
    made = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.x-k8s.kind.cluster=kubeproof-{rid}"],
                          capture_output=True, text=True).stdout.split()
    assert made == []


def test_ctrl_c_while_the_kind_cluster_is_being_created_leaves_no_cluster(tmp_path):
    """Interrupting the run mid-`kind create` still deletes the cluster this run was making."""
    suite_file(tmp_path, PASSING)
    rid = uuid.uuid4().hex[:8]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KUBEPROOF_RUN_ID": rid}
    proc = subprocess.Popen([sys.executable, "-m", "pytest", *PLUGINS, "-p", "no:cacheprovider", f"--rootdir={tmp_path}",
                             str(tmp_path / "suites"), "--cluster-provider=kind", "--kind-config=single-node"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    label = f"label=io.x-k8s.kind.cluster=kubeproof-{rid}"

    def containers():
        return subprocess.run(["docker", "ps", "-aq", "--filter", label], capture_output=True, text=True).stdout.split()

    eventually(containers, until=bool, timeout=120, interval=0.5, desc="the run's node container exists")
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 2, out
    assert containers() == [], f"node containers of kubeproof-{rid} left behind:\n{out}"


def test_watch_until_sees_a_pushed_change_and_times_out_with_the_last_object(core):
    """fixtures.watching: the object created after the watch starts is returned; a miss names the last one seen."""
    import threading

    from fixtures.polling import WaitTimeout
    from fixtures.watching import watch_until

    name = f"kp-watch-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "kubeproof"}}})
    try:
        timer = threading.Timer(0.5, lambda: core.create_namespaced_config_map(name, {"metadata": {"name": "late"}}))
        timer.start()
        got = watch_until(core.list_namespaced_config_map, lambda cm: cm.metadata.name == "late", timeout=30,
                          desc="configmap late", namespace=name)
        assert got.metadata.name == "late"
        with pytest.raises(WaitTimeout, match=r"(?s)waiting for configmap never.*last observed.*name: late"):
            watch_until(core.list_namespaced_config_map, lambda cm: cm.metadata.name == "never", timeout=2,
                        desc="configmap never", namespace=name, field_selector="metadata.name=late")
    finally:
        core.delete_namespace(name)


def test_a_broken_substrate_stops_the_run_with_one_message_naming_it(tmp_path, kubeconfig):
    """CoreDNS scaled to 0: the health gate names DNS within its budget, instead of each test timing out."""
    from kubernetes import client

    apps = client.AppsV1Api(load_api_client(kubeconfig, None))
    suite_file(tmp_path, PASSING)
    apps.patch_namespaced_deployment_scale("coredns", "kube-system", {"spec": {"replicas": 0}})
    try:
        # DNS keeps answering until the CoreDNS pods have stopped: start the run once they are gone
        eventually(lambda: client.CoreV1Api(apps.api_client).list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns").items,
                   until=lambda pods: not pods, timeout=120, desc="CoreDNS pods gone")
        t0 = time.monotonic()
        proc = run_suite(tmp_path, kubeconfig, uuid.uuid4().hex[:8], "--timeout-scale", "0.25")
        out, _ = proc.communicate(timeout=180)
        took = time.monotonic() - t0
    finally:
        apps.patch_namespaced_deployment_scale("coredns", "kube-system", {"spec": {"replicas": 1}})
    assert proc.returncode != 0, out
    assert "substrate broken" in out and "cluster DNS resolving kubernetes.default" in out, out[-3000:]
    assert took < 90, f"the verdict took {took:.0f}s"
