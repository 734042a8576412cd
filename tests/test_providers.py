"""kind provider preflight: missing Docker, a silent daemon, a missing kind binary — each named with its fix."""
import subprocess
import types
from pathlib import Path

import pytest

from fixtures.providers import kind

SETTINGS = kind.KindSettings(name="kp-x", image="kubeproof/node:v1.34.4", config=Path("three-node.yaml"))


def test_missing_docker_names_the_setup_script(monkeypatch):
    monkeypatch.setattr(kind.shutil, "which", lambda name: None)
    with pytest.raises(kind.ProviderError, match=r"docker is not installed: run `hack/setup-docker.sh`"):
        kind.preflight(SETTINGS)


def test_a_docker_daemon_that_does_not_answer_is_named(monkeypatch):
    monkeypatch.setattr(kind.shutil, "which", lambda name: "/usr/bin/docker")
    monkeypatch.setattr(kind.subprocess, "run", lambda *a, **k: types.SimpleNamespace(
        returncode=1, stdout="", stderr="Cannot connect to the Docker daemon at unix:///var/run/docker.sock"))
    with pytest.raises(kind.ProviderError, match="the Docker daemon does not answer .*Cannot connect"):
        kind.preflight(SETTINGS)


def test_a_missing_kind_binary_names_the_build(monkeypatch, tmp_path):
    monkeypatch.setattr(kind, "build_cache", lambda: types.SimpleNamespace(tool=lambda name: tmp_path / name))
    with pytest.raises(kind.ProviderError, match=r"pinned kind binary .* is missing: run `make cluster-image`"):
        kind.kind_binary()


def test_an_unknown_kind_config_lists_the_known_ones():
    with pytest.raises(kind.ProviderError, match=r"kind config 'five-node' not found \(known in manifests/cluster/: .*three-node"):
        kind.resolve_config("five-node")
