"""Report writers: allure environment, the Allure 3 categories, the benchmark summary."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures import bench, report_metadata
from fixtures.polling import WAITS, WaitRecord
from fixtures.versions import ROOT


def test_environment_properties_are_one_key_per_line(tmp_path):
    report_metadata.write_environment(tmp_path, {"server_version": "v1.34.4", "kube_proxy_mode": "iptables", "note": "a\nb"})
    lines = (tmp_path / "environment.properties").read_text().splitlines()
    assert lines == ["kube_proxy_mode=iptables", "note=a b", "server_version=v1.34.4"]


CLASSIFY = """
import(process.argv[1]).then(({default: c}) => {
  const pick = (status, message) => (c.categories.rules.find(r =>
    r.matchers.statuses.includes(status) && (!r.matchers.message || r.matchers.message.test(message))) || {}).id;
  console.log(JSON.stringify(JSON.parse(process.argv[2]).map(([s, m]) => pick(s, m))));
});
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node (Allure 3 runs on it)")
def test_allure_categories_put_each_kind_of_result_in_its_own_category():
    """allurerc.mjs loads as JavaScript and sorts the suite's messages into the right categories."""
    samples = [("skipped", "XFAIL [behaviour-changed] the NodePort answers"), ("failed", "XPASS(strict) documented: x"),
               ("failed", "AssertionError: [behaviour-changed] start order differs"),
               ("failed", "Failed: kubeproof: cluster unavailable: substrate broken: ..."),
               ("failed", "Timed out after 60.0s (12 attempts) waiting for pod x"),
               ("failed", "Failed: Timeout (>300.0s) from pytest-timeout."),
               ("skipped", "Skipped: needs the istio-proxy build of Envoy"), ("failed", "AssertionError: 503 != 200"),
               ("broken", "KeyError: 'x'")]
    out = subprocess.run(["node", "-e", CLASSIFY, str(ROOT / "allurerc.mjs"), json.dumps(samples)],
                         capture_output=True, text=True, check=True, timeout=30).stdout
    assert json.loads(out) == ["behaviour-changed-known", "behaviour-changed", "behaviour-changed", "infrastructure",
                               "timed-out", "timed-out", "capability-missing", "product-defect", "test-defect"]



@pytest.mark.skipif(shutil.which("node") is None, reason="needs node (Allure 3 runs on it)")
def test_a_run_of_each_kind_of_result_lands_each_in_its_category_with_diagnostics(tmp_path):
    """The synthetic run behind `make report-demo` (tests/report_demo/demo_results.py), under the suite's own
    hooks: each result in its category by allurerc.mjs, and each failure carrying its namespace's diagnostics."""
    env = {**os.environ, "KUBEPROOF_REPORT_DEMO_RUN": "2", "TMPDIR": str(tmp_path)}  # the fake cluster's lock directory
    run = subprocess.run([sys.executable, "-m", "pytest", "--noconftest", "-p", "fixtures.plugin", "-p", "fixtures.session",
                          "-p", "fixtures.per_test", "-p", "fixtures.addons.istio_fixtures", "tests/report_demo/demo_results.py", "-q", "-o", f"cache_dir={tmp_path / 'cache'}",
                          "--alluredir", str(tmp_path / "results")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    results = {r["name"]: r for r in map(json.loads, map(Path.read_text, (tmp_path / "results").glob("*-result.json")))}
    names = sorted(results)
    samples = [(results[n]["status"], results[n].get("statusDetails", {}).get("message", "")) for n in names]
    out = subprocess.run(["node", "-e", CLASSIFY, str(ROOT / "allurerc.mjs"), json.dumps(samples)],
                         capture_output=True, text=True, check=True, timeout=30).stdout
    assert dict(zip(names, json.loads(out))) == {
        "test_a_behaviour_that_holds": None, "test_a_documented_behaviour_that_no_longer_holds": "behaviour-changed-known",
        "test_a_behaviour_that_needs_envoy": "capability-missing", "test_a_deliberate_failure": "product-defect",
        "test_a_wait_that_times_out": "timed-out", "test_a_hang_stopped_by_its_ceiling": "timed-out"}
    for name in names:
        attached = {a["name"] for a in results[name].get("attachments", [])}
        if results[name]["status"] == "failed":
            assert {"diagnostics (kp-demo-web): events", "diagnostics (kp-demo-web): log web-5d8c7/web (previous)"} <= attached, name

def test_bench_merges_worker_records_into_one_summary(tmp_path):
    WAITS.clear()
    WAITS.records += [WaitRecord("a", 0.0, ended=1.0, attempts=3, poll_gap=0.2, ok=True),
                      WaitRecord("b", 1.0, ended=1.5, attempts=1, ok=True)]
    bench.record_test(tmp_path, "suites/x.py::test_a", "passed", 2.0)
    WAITS.clear()
    WAITS.records += [WaitRecord("c", 0.0, ended=0.5, attempts=2, poll_gap=0.4, ok=True)]
    bench.record_test(tmp_path, "suites/x.py::test_b", "passed", 1.0)
    summary = bench.merge(tmp_path, tmp_path / "bench.json", 6.0, {"create_seconds": 60.0, "created": True}, 2)
    assert summary["tests"] == 2 and summary["wall_per_test_s"] == 3.0
    assert summary["median_poll_overhead_s"] == 0.3
    assert summary["results"][0]["test"].endswith("test_a") and summary["results"][0]["waiting_s"] == 1.5
    assert json.loads((tmp_path / "bench.json").read_text())["cluster_create_s"] == 60.0
