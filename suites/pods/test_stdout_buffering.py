"""stdout buffering: without a TTY a stdio program's output reaches the container log only when its buffer flushes.

Seed 001 2021-05-10~16 › stdout-buffering: "stdout (not a TTY) output fully-buffered", so logs appear
late; a TTY makes stdout line-buffered. Holds: busybox grep (glibc stdio) in a container without a TTY
writes nothing to `kubectl logs` while it runs, and everything when it exits; with `tty: true` the line
is in the log at once.
Source: setvbuf(3) / stdio(3); https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#debugging
"""
import pytest

from fixtures.pods import container_is, view, wait_pod
from fixtures.podexec import exec_in
from fixtures.polling import consistently, eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(images=["busybox"])]


def _start(ns, cluster, timeouts, name, tty):
    ns.apply("pods/buffering/pipeline.yaml", name=name, tty=tty)
    wait_pod(cluster, ns.name, name, container_is("app", "running"), timeouts)
    eventually(lambda: exec_in(cluster, ns.name, name, "app", ["test", "-f", "/tmp/wrote"]).returncode,
               until=lambda rc: rc == 0, timeout=timeouts.pod_start, desc=f"{name}: the line is in grep's pipe")


def _log(cluster, ns, name) -> str:
    return cluster.core.read_namespaced_pod_log(name, ns.name, container="app")


@pytest.mark.claim("S001-21")
def test_without_a_tty_a_printed_line_reaches_the_log_only_when_the_program_exits(ns, cluster, timeouts):
    """No TTY: stdout is fully buffered; the line grep printed is missing from the log until grep exits."""
    with step("Given grep in a container without a TTY has received and printed 'hello'"):
        _start(ns, cluster, timeouts, "piped", tty=False)
    with step("Then the container log stays empty while grep runs"):
        consistently(lambda: _log(cluster, ns, "piped"), holds=lambda text: "hello" not in text,
                     duration=timeouts.short_hold, desc="log still empty")
        assert view(cluster, ns.name, "piped").container("app").running, "grep ended early"
    with step("And when grep exits (the writer closes the pipe), the buffer is flushed into the log"):
        assert exec_in(cluster, ns.name, "piped", "app", ["touch", "/tmp/release"]).returncode == 0
        wait_pod(cluster, ns.name, "piped", container_is("app", "terminated"), timeouts)
        assert _log(cluster, ns, "piped").splitlines() == ["hello"], _log(cluster, ns, "piped")


@pytest.mark.claim("S001-21")
def test_with_tty_true_the_line_reaches_the_log_at_once(ns, cluster, timeouts):
    """tty: true: stdout is a terminal, line-buffered, so the same line is in the log while grep still runs."""
    with step("Given the same pipeline in a container with tty: true"):
        _start(ns, cluster, timeouts, "tty", tty=True)
    with step("Then 'hello' is in the log while grep still runs"):
        text = eventually(lambda: _log(cluster, ns, "tty"), until=lambda t: "hello" in t,
                          timeout=timeouts.short_hold, desc="hello in the log")
        assert text.splitlines() == ["hello"], repr(text)
        assert view(cluster, ns.name, "tty").container("app").running, "grep ended: the flush proves nothing"
