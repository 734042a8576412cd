"""Bad input fails early with one clear line: markers, claims, kubeconfigs, API servers."""
import textwrap
import time

import pytest

pytest_plugins = ["pytester"]
PLUGINS = ["-p", "fixtures.plugin", "-p", "fixtures.session", "-p", "fixtures.per_test"]


@pytest.fixture
def suite(pytester):
    """A throw-away suites/ tree holding one behaviour test."""

    def make(body: str):
        pytester.mkpydir("suites")
        pytester.path.joinpath("suites", "test_x.py").write_text(textwrap.dedent(body))
        return pytester

    return make


def run(p, *args):
    t0 = time.monotonic()
    res = p.runpytest_subprocess(*PLUGINS, "--strict-markers", "-p", "no:cacheprovider", "suites", *args, timeout=60)
    return res, time.monotonic() - t0


def test_an_unknown_claim_id_is_a_usage_error_naming_the_test(suite):
    p = suite("""
        import pytest
        @pytest.mark.claim("S999-01")
        def test_something(): pass
    """)
    res, _ = run(p, "--collect-only")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*test_something*S999-01*not in the catalogue*"])


def test_an_unregistered_marker_is_rejected(suite):
    p = suite("""
        import pytest
        @pytest.mark.claimz("S000-24")
        def test_something(): pass
    """)
    res, _ = run(p, "--collect-only")
    assert res.ret != 0
    assert "claimz" in res.stdout.str() + res.stderr.str()


def test_an_unknown_requirement_is_rejected(suite):
    p = suite("""
        import pytest
        @pytest.mark.claim("S000-24")
        @pytest.mark.requires(gpu=True)
        def test_something(): pass
    """)
    res, _ = run(p, "--collect-only")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    assert "test_something: unknown requirement(s) ['gpu']" in res.stderr.str()


@pytest.mark.parametrize("kubeconfig,expected", [
    ("missing.yaml", "*kubeconfig*missing.yaml does not exist*"),
    ("garbage.yaml", "*kubeconfig*garbage.yaml*"),
])
def test_a_bad_kubeconfig_stops_the_run_within_seconds(suite, kubeconfig, expected):
    p = suite("""
        import pytest
        @pytest.mark.claim("S000-24")
        def test_something(cluster): pass
    """)
    p.path.joinpath("garbage.yaml").write_text("{not: [valid")
    res, took = run(p, f"--kubeconfig={p.path / kubeconfig}")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stdout.fnmatch_lines([expected])
    assert "kubeproof:" in res.stdout.str() + res.stderr.str()
    assert "Traceback" not in res.stdout.str() + res.stderr.str()
    assert took < 20


KUBECONFIG = """
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: t}
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
"""


def test_an_unreachable_api_server_stops_the_run_within_seconds(suite):
    p = suite("""
        import pytest
        @pytest.mark.claim("S000-24")
        def test_something(cluster): pass
    """)
    p.path.joinpath("kc.yaml").write_text(KUBECONFIG)
    res, took = run(p, f"--kubeconfig={p.path / 'kc.yaml'}")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    out = res.stdout.str() + res.stderr.str()
    assert "API server https://127.0.0.1:1 did not answer" in out and "Traceback" not in out
    assert took < 20


def test_an_unknown_context_names_the_contexts_that_exist(suite):
    p = suite("""
        import pytest
        @pytest.mark.claim("S000-24")
        def test_something(cluster): pass
    """)
    p.path.joinpath("kc.yaml").write_text(KUBECONFIG)
    res, _ = run(p, f"--kubeconfig={p.path / 'kc.yaml'}", "--context=nope")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    assert "context 'nope' is not in" in res.stdout.str() + res.stderr.str()
    assert "it has: ctx" in res.stdout.str() + res.stderr.str()
