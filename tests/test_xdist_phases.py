"""The loadgroup scheduler runs the serial group last and alone: no other test is running, or
still to run, when the first serial test starts (real xdist workers, no cluster)."""
import json
import subprocess
import sys
import textwrap

from fixtures.versions import ROOT

CONFTEST = """
    from fixtures.xdist_phases import ExclusiveLastScheduling

    def pytest_xdist_make_scheduler(config, log):
        return ExclusiveLastScheduling(config, log)
"""

TESTS = """
    import json, os, threading, time
    import pytest

    def record(name, t0, t1):
        with open(os.environ["SPANS"], "a") as f:
            f.write(json.dumps([name, t0, t1]) + "\\n")

    @pytest.mark.parametrize("i", range({ordinary}))
    def test_ordinary(i):
        t0 = time.time(); time.sleep(0.2); record(f"o{{i}}", t0, time.time())

    @pytest.mark.xdist_group("{group}")
    @pytest.mark.parametrize("i", range({serial}))
    def test_serial(i):
        t0 = time.time(); time.sleep(0.2); record(f"s{{i}}", t0, time.time())
"""


def run(tmp_path, ordinary: int, serial: int, workers: int = 3):
    from fixtures.xdist_phases import SERIAL_GROUP

    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (tmp_path / "test_x.py").write_text(textwrap.dedent(TESTS.format(ordinary=ordinary, serial=serial, group=SERIAL_GROUP)))
    spans = tmp_path / "spans.jsonl"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", str(workers), "--dist", "loadgroup",
                           str(tmp_path)], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "SPANS": str(spans), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [json.loads(line) for line in spans.read_text().splitlines()]
    return {n: (a, b) for n, a, b in rows}


def test_serial_tests_start_after_every_other_test_has_ended(tmp_path):
    spans = run(tmp_path, ordinary=9, serial=3)
    assert len(spans) == 12, spans
    last_ordinary_end = max(b for n, (a, b) in spans.items() if n.startswith("o"))
    first_serial_start = min(a for n, (a, b) in spans.items() if n.startswith("s"))
    assert first_serial_start >= last_ordinary_end, spans


def test_serial_tests_run_one_at_a_time(tmp_path):
    spans = sorted(v for n, v in run(tmp_path, ordinary=2, serial=4).items() if n.startswith("s"))
    assert all(b0 <= a1 for (_, b0), (a1, _) in zip(spans, spans[1:])), spans


def test_a_run_of_serial_tests_only_still_runs_them(tmp_path):
    assert len(run(tmp_path, ordinary=0, serial=3)) == 3
