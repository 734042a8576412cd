"""TCP listen queues inside a pod's network namespace: the accept queue's length, what happens when it is
full, the SYN queue's size and syncookies; somaxconn and the other net.* knobs are per network namespace.

Source: seed 001 2021-05-24~30 › TCP 半连接队列与全连接队列. Upstream: Linux 5.4 (somaxconn default
128 -> 4096), Linux 4.4 listener rewrite (the SYN queue is bounded by the listen backlog, no more
roundup_pow_of_two(tcp_max_syn_backlog) table), tcp_conn_request(); Kubernetes sysctls (safe set: e.g.
net.ipv4.tcp_syncookies; net.core.somaxconn is unsafe unless the kubelet allows it).
Every sysctl here is written in the pod's own network namespace, never the node's.
"""
import pytest

from fixtures.podexec import exec_in
from fixtures.pods import wait_pod, wait_ready
from fixtures.reporting import step

pytestmark = [pytest.mark.area("networking"), pytest.mark.requires(images=["agnhost", "nginx"]),
              pytest.mark.xdist_group("networking-tcp-queues")]

# half-open handshakes offered to the backlog-16 port: well above 16, below the old formula's 32
HALF_OPEN = 30


@pytest.fixture(scope="module")
def servers(module_ns, cluster, timeouts):
    """q-default: the kernel's defaults; q-tuned: somaxconn=64 (own netns) and tcp_syncookies=0 (a safe sysctl)."""
    module_ns.apply("networking/tcp-queues/server.yaml", name="q-default", somaxconn="", sysctls="[]")
    module_ns.apply("networking/tcp-queues/server.yaml", name="q-tuned", somaxconn=64,
                    sysctls='[{name: net.ipv4.tcp_syncookies, value: "0"}]')
    wait_ready(cluster, module_ns.name, "role=tcp-queues", 2, timeouts)
    return module_ns.name


def _sh(cluster, ns, pod, script, timeout=20):
    return exec_in(cluster, ns, pod, "probe", ["bash", "-c", script], timeout=timeout)


def _send_q(cluster, ns, pod) -> dict[int, int]:
    """Listening port -> Send-Q of `ss -lnt` (for a listener: its accept-queue limit)."""
    out = _sh(cluster, ns, pod, "ss -lntH").stdout
    return {int(f[3].rsplit(":", 1)[1]): int(f[2]) for f in (line.split() for line in out.splitlines())}


def _netstat(cluster, ns, pod) -> dict[str, int]:
    """TcpExt counters of the pod's network namespace (/proc/net/netstat)."""
    lines = [line.split() for line in _sh(cluster, ns, pod, "grep ^TcpExt: /proc/net/netstat").stdout.splitlines()]
    return dict(zip(lines[0][1:], map(int, lines[1][1:])))


def _sysctl(cluster, ns, pod, key) -> str:
    return _sh(cluster, ns, pod, f"cat /proc/sys/{key.replace('.', '/')}").stdout.strip()


@pytest.mark.claim("S001-17")
def test_accept_queue_is_min_of_backlog_and_the_pods_own_somaxconn(module_ns, cluster, servers):
    """The accept queue holds min(somaxconn, backlog). The document: somaxconn defaults to 128. It is 4096
    since Linux 5.4, and it belongs to the pod's network namespace: 64 set in one pod caps that pod only."""
    with step("Then in the default pod somaxconn is 4096 and ss shows Send-Q 4096 for backlog 10000, 16 for 16"):
        assert _sysctl(cluster, servers, "q-default", "net.core.somaxconn") == "4096", "[behaviour-changed] somaxconn default"
        q = _send_q(cluster, servers, "q-default")
        assert (q[9001], q[9002], q[9003]) == (4096, 16, 1), q
    with step("And in the pod whose own somaxconn is 64, backlog 10000 is capped at 64"):
        q = _send_q(cluster, servers, "q-tuned")
        assert (q[9001], q[9002]) == (64, 16), q
    with step("And the default pod kept 4096: the setting is per network namespace"):
        assert _sysctl(cluster, servers, "q-default", "net.core.somaxconn") == "4096"


@pytest.mark.claim("S001-17")
def test_somaxconn_in_the_pod_security_context_is_refused_unless_the_kubelet_allows_it(module_ns, cluster, timeouts):
    """net.core.somaxconn is a namespaced but unsafe sysctl: without --allowed-unsafe-sysctls the kubelet
    rejects the pod (SysctlForbidden); the safe net.ipv4.tcp_syncookies is applied (q-tuned reads 0)."""
    module_ns.apply("networking/tcp-queues/unsafe-sysctl.yaml", name="unsafe", somaxconn=64)
    with step("Then the kubelet rejects the pod with reason SysctlForbidden"):
        pod = wait_pod(cluster, module_ns.name, "unsafe", lambda p: p.phase == "Failed", timeouts, desc="unsafe pod rejected")
        assert pod.reason == "SysctlForbidden", pod
    with step("And the safe sysctl of q-tuned was applied in its network namespace"):
        assert _sysctl(cluster, module_ns.name, "q-tuned", "net.ipv4.tcp_syncookies") == "0"


@pytest.mark.claim("S001-18")
def test_a_full_accept_queue_drops_new_handshakes_without_reset_by_default(module_ns, cluster, servers):
    """With tcp_abort_on_overflow=0 (the default) a full accept queue sends no RST: the kernel drops the
    handshake and the client's connect times out. (Linux admits backlog + 1 connections.)"""
    ns, pod = servers, "q-default"
    assert _sysctl(cluster, ns, pod, "net.ipv4.tcp_abort_on_overflow") == "0"
    with step("Given nginx is frozen (SIGSTOP), so nothing accepts on 9003 (backlog 1)"):
        _sh(cluster, ns, pod, "kill -STOP $(pgrep nginx)")
        before = _netstat(cluster, ns, pod)
    with step("When 2 clients connect and stay, then 2 more try"):
        out = _sh(cluster, ns, pod, "for i in 1 2; do (exec 3<>/dev/tcp/127.0.0.1/9003; sleep 5) 2>/dev/null & done; sleep 0.5; "
                                    "ss -lntH 'sport = :9003'; "
                                    "for i in 1 2; do /agnhost connect --timeout=1s 127.0.0.1:9003 2>&1; echo rc=$?; done").stdout
    after = _netstat(cluster, ns, pod)
    _sh(cluster, ns, pod, "kill -CONT $(pgrep nginx)")
    listener = next(line.split() for line in out.splitlines() if line.startswith("LISTEN"))
    with step("Then the listener holds backlog + 1 = 2 connections nobody accepted (Recv-Q 2, Send-Q 1)"):
        assert listener[1:3] == ["2", "1"], out
    with step("And further connects time out instead of being reset, and ListenOverflows counts the drops"):
        assert "TIMEOUT" in out and "REFUSED" not in out and "reset" not in out.lower(), out
        assert after["ListenOverflows"] > before["ListenOverflows"], (before["ListenOverflows"], after["ListenOverflows"])


@pytest.mark.claim("S001-19")
def test_syn_queue_is_bounded_by_the_backlog_and_syncookies_take_over_beyond_it(module_ns, cluster, servers):
    """The document computes the SYN queue as roundup_pow_of_two(min(backlog, somaxconn, tcp_max_syn_backlog)+1)
    (32 for backlog 16): the pre-4.4 algorithm. Today it is bounded by the backlog itself, and with
    tcp_syncookies=1 further SYNs are answered with cookies; with tcp_syncookies=0 they are dropped."""
    script = (f"iptables -A OUTPUT -o lo -p tcp --dport 9002 --tcp-flags SYN,ACK,RST,FIN ACK -j DROP; "
              f"for i in $(seq {HALF_OPEN}); do (exec 3<>/dev/tcp/127.0.0.1/9002; sleep 3) 2>/dev/null & done; sleep 1; "
              "ss -tnH state syn-recv '( sport = :9002 )' | wc -l; "
              "iptables -D OUTPUT -o lo -p tcp --dport 9002 --tcp-flags SYN,ACK,RST,FIN ACK -j DROP; kill $(jobs -p) 2>/dev/null; true")
    results = {}
    for pod in ("q-default", "q-tuned"):
        with step(f"When {HALF_OPEN} handshakes to port 9002 (backlog 16) stay half-open in {pod} (its clients' ACKs dropped)"):
            before = _netstat(cluster, servers, pod)
            half_open = int(_sh(cluster, servers, pod, script).stdout.split()[0])
            after = _netstat(cluster, servers, pod)
            results[pod] = (half_open, after["SyncookiesSent"] - before["SyncookiesSent"], after["ListenDrops"] - before["ListenDrops"])
    default, tuned = results["q-default"], results["q-tuned"]
    with step(f"Then at most 16 or 17 requests wait in the SYN queue, not the formula's 32: {results}"):
        assert 16 <= default[0] <= 17 and 16 <= tuned[0] <= 17, f"[behaviour-changed] SYN-RECV counts: {results}"
    with step("And with tcp_syncookies=1 (default) the rest were answered with syncookies"):
        assert default[1] >= HALF_OPEN - 17, results
    with step("And with tcp_syncookies=0 (a safe sysctl, set in q-tuned's securityContext) they were dropped, no cookie sent"):
        assert tuned[1] == 0 and tuned[2] > 0, results
