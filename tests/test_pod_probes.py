"""The pod probes that read restarts: back-off seen through the waiting reason or the kubelet's BackOff
event (kubernetes#133066: from 1.35 the reason may never reach the API), gaps from the container's own
timestamps."""
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from fixtures import pods
from fixtures.pods import ContainerView, PodView, backing_off, restart_gaps

T0 = datetime(2026, 12, 5, 1, 0, 0, tzinfo=timezone.utc)


def container(state: str, restarts: int, *, reason=None, started=None, finished=None, last_finished=None) -> ContainerView:
    return ContainerView(name="app", init=False, sidecar=False, state=state, reason=reason, message=None, exit_code=None,
                         signal=None, started_at=started, finished_at=finished, restarts=restarts, ready=False, started=None,
                         last_reason=None, last_exit_code=None, last_finished_at=last_finished, last_container_id=None, container_id=None, image=None,
                         image_id=None)


def pod(c: ContainerView) -> PodView:
    return PodView(name="p", uid="u", node=None, ip=None, host_ip=None, phase="Running", reason=None, deleting=False,
                   conditions={}, containers={c.name: c})


def event(reason: str, message: str, at: datetime):
    return SimpleNamespace(reason=reason, message=message, last_timestamp=at, event_time=None)


def test_a_waiting_crash_loop_back_off_reason_is_a_back_off(monkeypatch):
    monkeypatch.setattr(pods, "events_of", lambda *a, **k: [])
    assert backing_off(None, "ns", "p", "app")(pod(container("waiting", 2, reason="CrashLoopBackOff")))


def test_a_terminated_container_backs_off_only_with_a_back_off_event_since_its_end(monkeypatch):
    ended = container("terminated", 2, reason="Completed", started=T0, finished=T0 + timedelta(seconds=1, microseconds=500))
    events = [event("BackOff", "Back-off restarting failed container app in pod p_ns(u)", T0 - timedelta(seconds=30))]
    monkeypatch.setattr(pods, "events_of", lambda *a, **k: events)
    probe = backing_off(None, "ns", "p", "app")
    assert not probe(pod(ended)), "an event older than the container's end is an earlier back-off"
    events.append(event("BackOff", "Back-off restarting failed container other in pod p_ns(u)", T0 + timedelta(seconds=2)))
    assert not probe(pod(ended)), "another container's back-off"
    events.append(event("BackOff", "Back-off restarting failed container app in pod p_ns(u)", T0 + timedelta(seconds=1)))
    assert probe(pod(ended))


def test_a_running_or_never_restarted_container_is_not_backing_off(monkeypatch):
    monkeypatch.setattr(pods, "events_of", lambda *a, **k: [event("BackOff", "Back-off restarting failed container app in", T0)])
    probe = backing_off(None, "ns", "p", "app")
    assert not probe(pod(container("running", 3, started=T0)))
    assert not probe(pod(container("terminated", 0, finished=T0)))


def test_restart_gaps_are_read_per_restart_from_the_run_start_and_the_previous_end():
    gaps = restart_gaps("app")
    first = container("running", 1, started=T0, last_finished=T0)
    assert gaps(pod(first)) == {1: 0.0}
    second = container("terminated", 2, started=T0 + timedelta(seconds=11), finished=T0 + timedelta(seconds=11),
                       last_finished=T0 + timedelta(seconds=1))
    assert gaps(pod(second)) == {1: 0.0, 2: 10.0}
    assert gaps(pod(replace(second, state="waiting", started_at=None))) == {1: 0.0, 2: 10.0}, "a waiting container has no run"

