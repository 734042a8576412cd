"""Report writers: allure environment and categories, the benchmark summary."""
import json

from fixtures import bench, reporting
from fixtures.polling import WAITS, WaitRecord


def test_environment_properties_are_one_key_per_line(tmp_path):
    reporting.write_environment(tmp_path, {"server_version": "v1.34.4", "kube_proxy_mode": "iptables", "note": "a\nb"})
    lines = (tmp_path / "environment.properties").read_text().splitlines()
    assert lines == ["kube_proxy_mode=iptables", "note=a b", "server_version=v1.34.4"]


def test_categories_separate_changed_behaviour_from_defects_and_infrastructure(tmp_path):
    reporting.write_categories(tmp_path)
    names = [c["name"] for c in json.loads((tmp_path / "categories.json").read_text())]
    assert names[0] == "Documented behaviour changed"
    assert {"Infrastructure failure", "Product defect"} <= set(names)


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
