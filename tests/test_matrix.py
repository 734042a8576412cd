"""The version matrix: verdict cells per claim and version, differing rows first, a failed build a column of errors."""
from fixtures import matrix


def run(version: str, **tests) -> dict:
    return {"environment": {"server_version": version},
            "tests": {name: {"claims": claims, "outcome": outcome, "reason": reason} for name, (claims, outcome, reason) in tests.items()}}


def test_a_claim_whose_verdict_differs_between_versions_comes_first():
    runs = {"v1.34.4": run("v1.34.4", a=("S000-01", "passed", ""), b=("S000-02", "passed", "")),
            "v1.35.4": run("v1.35.4", a=("S000-01", "passed", ""), b=("S000-02", "xfailed", "gone in 1.35"))}
    m = matrix.build(runs, {"S000-01": "holds", "S000-02": "holds"})
    assert [r["claim"] for r in m["rows"]] == ["S000-02", "S000-01"]
    assert m["rows"][0]["cells"] == {"v1.34.4": "holds", "v1.35.4": "changed"} and m["rows"][0]["differs"]
    assert "| **S000-02** | holds | changed |" in matrix.markdown(m)


def test_cells_follow_the_outcomes_and_the_catalogued_verdict():
    assert matrix.cell([("passed", ""), ("failed", "")], "holds") == "failed"
    assert matrix.cell([("passed", "")], "wrong") == "changed"
    assert matrix.cell([("skipped", "needs a kernel with IPVS")], "holds") == "skipped: needs a kernel with IPVS"


def test_a_version_that_failed_to_build_is_a_column_of_errors():
    runs = {"v1.34.4": run("v1.34.4", a=("S000-01", "passed", "")),
            "v1.99.0": {"environment": {"server_version": "v1.99.0", "error": "build failed: not on the proxy"}, "tests": {}}}
    m = matrix.build(runs, {"S000-01": "holds"})
    row = m["rows"][0]
    assert row["cells"]["v1.99.0"] == "error: build failed: not on the proxy"
    assert not row["differs"], "a difference is between versions that ran, not with a failed build"
    assert "| v1.99.0 | build failed: not on the proxy |" in matrix.markdown(m)


def test_a_difference_is_explained_by_the_tests_whose_outcome_changed_and_the_summary_counts_each_version():
    runs = {"v1.35.4": run("v1.35.4", **{"m.py::t_a": ("S000-02", "passed", ""), "m.py::t_b": ("S000-02", "passed", "")}),
            "v1.36.3": run("v1.36.3", **{"m.py::t_a": ("S000-02", "failed", ""), "m.py::t_b": ("S000-02", "passed", "")})}
    m = matrix.build(runs, {"S000-02": "holds"}, {"v1.35.4": {"session_wall_s": 600, "cluster_create_s": 20}})
    assert m["rows"][0]["tests"] == {"t_a": {"v1.35.4": "passed", "v1.36.3": "failed"}}
    assert m["summary"]["v1.36.3"]["failed"] == 1 and m["summary"]["v1.35.4"]["claims_proven"] == 1
    text = matrix.markdown(m)
    assert "- **S000-02** v1.35.4: holds; v1.36.3: failed (t_a v1.35.4 passed, v1.36.3 failed)" in text
    assert "| v1.35.4 | 2 | 0 | 0 | 0 | 1 | 10.0 min | 20.0 s |" in text
