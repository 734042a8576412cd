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
    row = matrix.build(runs, {"S000-01": "holds"})["rows"][0]
    assert row["cells"]["v1.99.0"] == "error: build failed: not on the proxy" and row["differs"]
