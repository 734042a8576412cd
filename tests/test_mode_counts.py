"""Outcomes per kube-proxy mode: tests are counted by the mode in their node id, claims proven per mode."""
from fixtures.mode_counts import per_mode


def test_claims_and_outcomes_are_counted_per_mode_from_the_node_id():
    tests = {
        "suites/n/test_a.py::test_x[iptables]": {"outcome": "passed", "claims": "S002-177"},
        "suites/n/test_a.py::test_x[nftables]": {"outcome": "failed", "claims": "S002-177"},
        "suites/n/test_a.py::test_y[nftables]": {"outcome": "xfailed", "claims": "S001-11"},
        "suites/n/test_a.py::test_x[ipvs]": {"outcome": "skipped", "claims": "S002-177"},
        "suites/n/test_b.py::test_z": {"outcome": "passed", "claims": "S002-191"},
    }
    modes = per_mode(tests, {"S002-177": "wrong", "S001-11": "changed"})
    assert set(modes) == {"iptables", "nftables", "ipvs"}, "a test without a mode is not counted"
    assert modes["iptables"]["proven"] == ["S002-177"] and modes["iptables"]["changed"] == ["S002-177"]
    assert modes["nftables"]["proven"] == ["S001-11"] and modes["nftables"]["outcomes"]["failed"] == 1
    assert modes["ipvs"]["needs"] == ["S002-177"] and modes["ipvs"]["proven"] == []
