"""The upgrade gate: outcomes per test, and the comparison of two runs."""
import json
import types

from fixtures import outcomes


def report(nodeid, when, outcome, **kw):
    return types.SimpleNamespace(nodeid=nodeid, when=when, outcome=outcome, user_properties=[("claims", "S000-49")],
                                 skipped=outcome == "skipped", failed=outcome == "failed", longrepr=kw.pop("longrepr", None), **kw)


def test_each_test_gets_one_outcome_from_its_phase_reports(tmp_path):
    rec = outcomes.Recorder()
    for r in [report("a", "setup", "passed"), report("a", "call", "passed"), report("a", "teardown", "passed"),
              report("b", "setup", "skipped", longrepr=("f", 1, "Skipped: needs Istio")),
              report("c", "setup", "passed"), report("c", "call", "skipped", wasxfail="documented: hostPort wins"),
              report("d", "setup", "failed"),
              report("e", "setup", "passed"), report("e", "call", "failed")]:
        rec.add(r)
    got = {k: (v["outcome"], v["reason"]) for k, v in rec.rows.items()}
    assert got == {"a": ("passed", ""), "b": ("skipped", "Skipped: needs Istio"), "c": ("xfailed", "documented: hostPort wins"),
                   "d": ("error", ""), "e": ("failed", "")}
    rec.write(tmp_path / "o.json", {"server_version": "v1.34.4"})
    assert json.loads((tmp_path / "o.json").read_text())["tests"]["a"]["claims"] == "S000-49"


def test_the_gate_fails_on_any_changed_outcome_and_passes_when_nothing_changed(tmp_path, capsys):
    before = {"environment": {}, "tests": {"t1": {"outcome": "passed", "claims": "S000-49", "reason": ""},
                                           "t2": {"outcome": "xfailed", "claims": "S001-13", "reason": ""}}}
    after = json.loads(json.dumps(before))
    (tmp_path / "b.json").write_text(json.dumps(before))
    (tmp_path / "a.json").write_text(json.dumps(after))
    assert outcomes.main([str(tmp_path / "b.json"), str(tmp_path / "a.json")]) == 0
    after["tests"]["t2"]["outcome"] = "failed"
    del after["tests"]["t1"]
    (tmp_path / "a.json").write_text(json.dumps(after))
    assert outcomes.main([str(tmp_path / "b.json"), str(tmp_path / "a.json")]) == 1
    out = capsys.readouterr().out
    assert "t1 [S000-49]: passed -> absent" in out and "t2 [S001-13]: xfailed -> failed" in out


def test_the_gate_fails_when_a_test_fails_after_the_upgrade_as_it_did_before(tmp_path, capsys):
    both = {"environment": {}, "tests": {"t1": {"outcome": "failed", "claims": "S000-49", "reason": ""},
                                         "t2": {"outcome": "passed", "claims": "S001-13", "reason": ""}}}
    for name in ("b.json", "a.json"):
        (tmp_path / name).write_text(json.dumps(both))
    assert outcomes.main([str(tmp_path / "b.json"), str(tmp_path / "a.json")]) == 1
    assert "FAILING t1 [S000-49]: failed before and after" in capsys.readouterr().out
    assert outcomes.main(["--changes-only", str(tmp_path / "b.json"), str(tmp_path / "a.json")]) == 0
