"""--lf, --ff and --sw work: the cache provider is on, its directory under reports/ (pyproject.toml)."""
import textwrap

pytest_plugins = ["pytester"]


def test_lf_reruns_only_the_last_runs_failures(pytester):
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\ncache_dir = "reports/.pytest_cache"\n')
    pytester.mkpydir("checks")
    pytester.path.joinpath("checks", "test_two.py").write_text(textwrap.dedent("""
        import pytest

        @pytest.mark.claim("S000-24")
        def test_passes():
            pass

        @pytest.mark.claim("S000-25")
        def test_fails():
            assert False
    """))
    args = ("-p", "fixtures.plugin", "--strict-markers", "--no-reports", "checks")
    pytester.runpytest_subprocess(*args, timeout=60).assert_outcomes(passed=1, failed=1)
    assert (pytester.path / "reports" / ".pytest_cache" / "v" / "cache" / "lastfailed").is_file()
    again = pytester.runpytest_subprocess("--lf", *args, timeout=60)
    again.assert_outcomes(failed=1)
    again.stdout.fnmatch_lines(["*run-last-failure: rerun previous 1 failure*"])
