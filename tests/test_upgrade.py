"""The upgrade machinery without a cluster: which upgrades kubeadm allows, and the availability figures."""
import http.server
import socket
import threading

import pytest

from fixtures.availability import Prober, Sample, summarise
from fixtures.upgrade import UpgradeError, check


@pytest.mark.parametrize("frm, to", [("v1.36.3", "v1.37.2"), ("v1.37.1", "v1.37.2"), ("v1.36.3", "v1.36.4")])
def test_one_minor_or_a_patch_forward_is_an_upgrade(frm, to):
    check(frm, to)


@pytest.mark.parametrize("frm, to, says", [
    ("v1.37.2", "v1.36.3", "not newer"), ("v1.37.2", "v1.37.2", "not newer"),
    ("v1.35.4", "v1.37.2", "skips a minor"), ("1.36", "v1.37.2", "not a Kubernetes version"),
])
def test_backwards_same_skipping_or_malformed_versions_are_refused_with_the_reason(frm, to, says):
    with pytest.raises(UpgradeError, match=says):
        check(frm, to)


def test_the_longest_outage_spans_consecutive_unanswered_requests_and_failures_are_counted_by_phase():
    s = [Sample(0.0, "a", True, "p1"), Sample(1.0, "a", False, "p1"), Sample(2.5, "b", False, "p2"),
         Sample(3.0, "a", True, "p2"), Sample(4.0, "a", False, "p3")]
    out = summarise(s)
    assert out["sent"] == 5 and out["answered"] == 2 and out["ratio"] == 0.4
    assert out["longest_outage_seconds"] == 2.0
    assert out["unanswered_by_phase"] == {"p1": 1, "p2": 1, "p3": 1}


def test_the_prober_counts_answers_from_a_live_target_and_none_from_a_closed_port():
    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    live = f"127.0.0.1:{server.server_address[1]}"
    try:
        with Prober([live, f"127.0.0.1:{closed}"], interval=0.01) as p:
            while len(p.samples) < 20:
                p._stop.wait(0.01)
    finally:
        server.shutdown()
    by_target = {t: {x.answered for x in p.samples if x.target == t} for t in (live, f"127.0.0.1:{closed}")}
    assert by_target == {live: {True}, f"127.0.0.1:{closed}": {False}}
