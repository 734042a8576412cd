"""Report writers: allure environment, the Allure 3 categories, the benchmark summary."""
import json
import shutil
import subprocess

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
