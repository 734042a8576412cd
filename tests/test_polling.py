"""fixtures.polling: timeouts, messages, abort, transient classification — with a fake clock."""
import pytest

from fixtures.polling import Abort, WaitTimeout, consistently, eventually, is_transient, observe_during, retry_not_found


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


def test_eventually_returns_the_first_observation_that_holds(clock):
    values = iter([1, 2, 3, 4])
    assert eventually(lambda: next(values), until=lambda v: v >= 3, timeout=10, interval=1, clock=clock, sleep=clock.sleep) == 3
    assert clock.now == 2


def test_timeout_message_names_the_wait_and_carries_the_last_observation(clock):
    with pytest.raises(WaitTimeout) as err:
        eventually(lambda: {"phase": "Pending", "reason": "Unschedulable"}, until=lambda v: False, timeout=3,
                   interval=1, desc="pod web Running", clock=clock, sleep=clock.sleep)
    text = str(err.value)
    assert text.startswith("Timed out after 3.0s (4 attempts) waiting for pod web Running")
    assert "phase: Pending" in text and "reason: Unschedulable" in text


def test_timeout_is_an_assertion_error_so_reports_show_failed_not_broken(clock):
    def probe():
        assert False, "2 of 3 replicas ready"

    with pytest.raises(AssertionError) as err:
        eventually(probe, timeout=1, interval=0.5, clock=clock, sleep=clock.sleep)
    assert isinstance(err.value, WaitTimeout)
    assert "last failure: AssertionError: 2 of 3 replicas ready" in str(err.value)


def test_abort_stops_polling_at_once(clock):
    calls = []

    def probe():
        calls.append(1)
        raise Abort("container is in CrashLoopBackOff")

    with pytest.raises(Abort, match="CrashLoopBackOff"):
        eventually(probe, timeout=60, interval=1, clock=clock, sleep=clock.sleep)
    assert len(calls) == 1


class ApiError(Exception):
    def __init__(self, status):
        self.status = status


@pytest.mark.parametrize("status,transient", [(429, True), (500, True), (503, True), (404, False), (403, False), (409, False)])
def test_api_errors_are_retried_only_when_transient(status, transient):
    assert is_transient(ApiError(status)) is transient


def test_a_fatal_api_error_is_raised_without_retrying(clock):
    calls = []

    def probe():
        calls.append(1)
        raise ApiError(403)

    with pytest.raises(ApiError):
        eventually(probe, timeout=60, interval=1, clock=clock, sleep=clock.sleep)
    assert len(calls) == 1


def test_retry_not_found_turns_404_into_not_yet(clock):
    answers = iter([ApiError(404), ApiError(404), "found"])

    def probe():
        a = next(answers)
        if isinstance(a, Exception):
            raise a
        return a

    assert eventually(retry_not_found(probe), timeout=10, interval=1, clock=clock, sleep=clock.sleep) == "found"


def test_consistently_fails_on_the_first_violation_naming_it(clock):
    values = iter([1, 1, 0, 1])
    with pytest.raises(AssertionError, match=r"replicas stopped holding after 2.0s"):
        consistently(lambda: next(values), holds=bool, duration=10, interval=1, desc="replicas", clock=clock, sleep=clock.sleep)


def test_consistently_returns_after_its_duration(clock):
    assert consistently(lambda: "ok", holds=lambda v: v == "ok", duration=3, interval=1, clock=clock, sleep=clock.sleep) == "ok"
    assert clock.now == 3


def test_observe_during_samples_until_the_action_returns():
    import threading

    done = threading.Event()
    result, samples = observe_during(lambda: done.wait(5) and "drained", lambda: (done.set(), "sample")[1], interval=0.01)
    assert result == "drained" and samples and set(samples) == {"sample"}
