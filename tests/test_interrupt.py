"""A run stopped by SIGTERM (a cancelled CI job), or by SIGINT when started in the background, stops as
Ctrl-C does: pytest's interrupted exit, teardown and session end run (so the cluster is released)."""
import signal
import subprocess
import sys
import textwrap
import time

pytest_plugins = ["pytester"]


def _start(pytester, ignore_sigint: bool) -> subprocess.Popen:
    pytester.mkpydir("checks")
    pytester.path.joinpath("checks", "conftest.py").write_text(textwrap.dedent("""
        def pytest_sessionfinish(session):
            print("SESSION-FINISH-RAN", flush=True)
    """))
    pytester.path.joinpath("checks", "test_long.py").write_text(textwrap.dedent("""
        import time
        import pytest

        @pytest.mark.claim("S000-24")
        def test_long():
            print("STARTED", flush=True)
            time.sleep(60)
    """))
    preexec = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None
    return subprocess.Popen([sys.executable, "-m", "pytest", "-p", "fixtures.plugin", "--no-reports", "-s", "checks"],
                            cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=preexec)


def _stop_when_started(proc: subprocess.Popen, signum: int) -> str:
    out = ""
    deadline = time.monotonic() + 30
    while "STARTED" not in out and time.monotonic() < deadline:
        out += proc.stdout.readline()
    proc.send_signal(signum)
    rest, _ = proc.communicate(timeout=30)
    return out + rest


def test_sigterm_interrupts_the_run_and_its_session_end_still_runs(pytester):
    proc = _start(pytester, ignore_sigint=False)
    out = _stop_when_started(proc, signal.SIGTERM)
    assert proc.returncode == pytest_interrupted(), out
    assert "stopped by signal SIGTERM" in out and "SESSION-FINISH-RAN" in out, out


def test_sigint_stops_a_run_started_in_the_background(pytester):
    proc = _start(pytester, ignore_sigint=True)
    out = _stop_when_started(proc, signal.SIGINT)
    assert proc.returncode == pytest_interrupted() and "SESSION-FINISH-RAN" in out, out


def pytest_interrupted() -> int:
    import pytest

    return int(pytest.ExitCode.INTERRUPTED)
