"""fixtures.timeline and fixtures.podexec: parsing container-written evidence and exec statuses (no cluster)."""
import pytest

from fixtures.podexec import ExecError, _exit_code
from fixtures.timeline import parse

EVIDENCE = """\
1795350672.500000 start app
1795350670.000000 start proxy
1795350670.100000 hook-start proxy

1795350672.100000 hook-end proxy
"""


def test_events_are_sorted_by_time_and_looked_up_by_event_and_who():
    t = parse(EVIDENCE)
    assert t.order("start") == ["proxy", "app"]
    assert t.at("hook-end", "proxy") == pytest.approx(1795350672.1)
    assert t.has("start", "app") and not t.has("start", "control")


def test_a_missing_event_fails_with_the_timeline_in_the_message():
    with pytest.raises(AssertionError, match=r"no 'start control'(?s:.*)\+  2\.500s  start app"):
        parse(EVIDENCE).at("start", "control")


def test_a_malformed_line_is_an_error_naming_it():
    with pytest.raises(ValueError, match="line 2 .*'garbage'"):
        parse("1.0 start a\ngarbage\n")


@pytest.mark.parametrize("status, code", [
    ({"status": "Success"}, 0),
    ({"status": "Failure", "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}, 3),
])
def test_exec_status_gives_the_exit_code(status, code):
    assert _exit_code(status, "exec") == code


def test_exec_that_ran_nothing_is_an_error_with_the_server_message():
    with pytest.raises(ExecError, match="executable file not found"):
        _exit_code({"status": "Failure", "message": "exec: \"nope\": executable file not found in $PATH"}, "exec")
