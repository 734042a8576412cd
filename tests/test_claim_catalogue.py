"""The project's claim catalogue (suites/<area>/claims.yaml) keeps the coverage rules."""
from pathlib import Path

import pytest

from fixtures import area_catalogue
from fixtures.claims import DEFAULT_CATALOGUE

pytestmark = pytest.mark.skipif(not (Path(DEFAULT_CATALOGUE) / "scopes.json").is_file(),
                                reason=f"no scopes.json in the claim catalogue {DEFAULT_CATALOGUE}")


def test_every_area_catalogue_keeps_the_coverage_rules():
    problems = area_catalogue.check(Path(DEFAULT_CATALOGUE))
    assert not problems, f"{len(problems)} catalogue problem(s):\n" + "\n".join(map(str, problems))


def test_a_test_that_lists_a_claim_it_does_not_carry_is_reported(monkeypatch):
    monkeypatch.setattr(area_catalogue, "test_claims", lambda: {"suites/pods/test_x.py::test_y": ["S000-25"]})
    monkeypatch.setattr(area_catalogue, "scopes", lambda _d: {"pods": ["S000-24"]})
    monkeypatch.setattr(area_catalogue, "load", lambda _a: {"claims": {"S000-24": {
        "verdict": "holds", "tests": ["suites/pods/test_x.py::test_y", "suites/pods/test_x.py::test_gone"]}}})
    found = [str(p) for p in area_catalogue.check(Path("."))]
    assert any("does not carry claim('S000-24')" in p for p in found), found
    assert any("test_gone, which does not exist" in p for p in found), found
    assert any("S000-25: named by" in p for p in found), found


def test_an_entry_with_two_coverage_kinds_or_no_verdict_is_reported(monkeypatch):
    monkeypatch.setattr(area_catalogue, "test_claims", lambda: {})
    monkeypatch.setattr(area_catalogue, "scopes", lambda _d: {"pods": ["S000-24", "S000-61"]})
    monkeypatch.setattr(area_catalogue, "load", lambda _a: {"claims": {"S000-24": {"needs": "x", "not_testable": "y"}}})
    found = [str(p) for p in area_catalogue.check(Path("."))]
    assert any("S000-61: in the area's scope but not catalogued" in p for p in found), found
    assert any("exactly one of" in p for p in found) and any("verdict None" in p for p in found), found


def test_behaviour_test_modules_have_unique_basenames():
    """suites/ has no __init__.py: pytest imports test modules by basename, so two areas cannot share one."""
    from collections import Counter

    names = Counter(p.name for p in area_catalogue.SUITES.rglob("test_*.py"))
    assert not [n for n, c in names.items() if c > 1], names.most_common(3)


def test_every_quarantined_test_exists_and_has_a_reason():
    from fixtures import quarantine

    listed = quarantine.load()
    assert not [k for k in listed if k not in area_catalogue.test_claims()], "quarantine.yaml names tests that do not exist"
