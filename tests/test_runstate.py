"""Once-per-run state shared by xdist workers, and the leftover-namespace sweep rules."""
import datetime as dt
import os
import types

import pytest

from fixtures import namespaces, runstate


@pytest.fixture(autouse=True)
def fresh_run(monkeypatch):
    monkeypatch.setenv(runstate.RUN_ENV, "selftest" + os.urandom(3).hex())
    yield
    runstate.remove_run_dir()


def test_once_creates_once_and_then_reads():
    calls = []
    make = lambda record: calls.append(1) or {"name": "c1"}  # noqa: E731
    assert runstate.once("cluster", make)["name"] == "c1"
    assert runstate.once("cluster", make)["status"] == "ready"
    assert calls == [1]


def test_an_interrupted_creation_leaves_state_for_cleanup_and_fails_later_callers():
    def make(record):
        record({"name": "half", "created": True, "status": "creating"})
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runstate.once("cluster", make)
    state = runstate.read("cluster")
    assert state["name"] == "half" and state["created"] and "KeyboardInterrupt" in state["error"]
    with pytest.raises(RuntimeError, match="failed earlier in this run"):
        runstate.once("cluster", lambda record: {})


def ns_obj(name, run, host, pid, age_s, phase="Active"):
    created = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=age_s)
    labels = {**namespaces.MANAGED_BY, namespaces.RUN_LABEL: run, namespaces.HOST_LABEL: host, namespaces.PID_LABEL: str(pid)}
    return types.SimpleNamespace(metadata=types.SimpleNamespace(name=name, labels=labels, creation_timestamp=created),
                                 status=types.SimpleNamespace(phase=phase))


def test_sweep_takes_dead_runs_on_this_host_and_stale_ones_elsewhere_but_never_live_runs():
    import socket

    host = socket.gethostname()
    items = [
        ns_obj("mine", "current", host, os.getpid(), 10),
        ns_obj("dead-here", "old", host, 999999, 10),
        ns_obj("alive-here", "other", host, os.getpid(), 10),
        ns_obj("fresh-elsewhere", "x", "other-host", 1, 60),
        ns_obj("stale-elsewhere", "y", "other-host", 1, namespaces.STALE_AFTER_SECONDS + 1),
        ns_obj("going", "z", host, 999999, 10, phase="Terminating"),
    ]
    core = types.SimpleNamespace(list_namespace=lambda label_selector: types.SimpleNamespace(items=items))
    assert namespaces.leftovers(core, "current") == ["dead-here", "stale-elsewhere"]


def test_a_workers_namespaces_share_its_prefix_and_no_other_workers():
    from fixtures import namespaces

    mine = namespaces.new_name("4d2c5641ab", "gw4", "t")
    assert mine.startswith(namespaces.worker_prefix("4d2c5641ab", "gw4")) and mine.startswith("kp-4d2c56-w4-")
    assert not mine.startswith(namespaces.worker_prefix("4d2c5641ab", "gw1"))
    assert namespaces.worker_prefix("4d2c5641ab", "master") == "kp-4d2c56-m-"
