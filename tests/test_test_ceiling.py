"""No hang eats CI's budget: every behaviour test carries a ceiling from the named budgets, and it fires."""
import textwrap

import pytest

pytest_plugins = ["pytester"]


def test_a_behaviour_test_that_hangs_is_failed_at_its_ceiling(pytester):
    pytester.mkpydir("checks")
    pytester.path.joinpath("checks", "test_hang.py").write_text(textwrap.dedent("""
        import time
        import pytest

        @pytest.mark.claim("S000-24")
        def test_hangs():
            time.sleep(30)

        @pytest.mark.claim("S000-24")
        @pytest.mark.slow
        def test_slow_gets_the_slow_ceiling(request):
            assert request.node.get_closest_marker("timeout").args == (0.9,)
    """))
    # --timeout-scale 0.001: the 300 s `test` budget becomes 0.3 s, the 900 s `slow_test` one 0.9 s
    res = pytester.runpytest_subprocess("-p", "fixtures.plugin", "--strict-markers",
                                        "--timeout-scale", "0.001", "checks", timeout=60)
    res.assert_outcomes(passed=1, failed=1)
    res.stdout.fnmatch_lines(["*Timeout (>0.3s) from pytest-timeout*"])
