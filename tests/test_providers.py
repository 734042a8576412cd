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


def test_kind_creates_clusters_in_the_repository_root_with_absolute_paths(monkeypatch, tmp_path):
    """The configs' relative extraMounts host paths (the audit policy) are resolved by kind against its working
    directory: the wrapper runs it in the repository root, and hands it absolute config and kubeconfig paths."""
    calls = []
    monkeypatch.setattr(kind, "run_kind", lambda *args, timeout, cwd=None: calls.append((args, cwd)))
    monkeypatch.chdir(tmp_path)
    kind.create_cluster("kp-x", "img", Path("cfg.yaml"), Path("kp-x.kubeconfig"), timeout=1)
    (args, cwd), = calls
    assert cwd == kind.ROOT
    assert args[args.index("--config") + 1] == str(tmp_path / "cfg.yaml")
    assert args[args.index("--kubeconfig") + 1] == str(tmp_path / "kp-x.kubeconfig")


@pytest.mark.parametrize("config", sorted(p.stem for p in kind.CONFIGS.glob("*.yaml")))
def test_every_kind_config_gives_the_apiserver_the_audit_policy_it_mounts(config):
    """Each cluster config (S002-021): the control-plane node gets the repository's audit policy, the static pod
    mounts it and the log directory, and --audit-policy-file / --audit-log-path point into those mounts."""
    import posixpath

    import yaml

    doc = yaml.safe_load(kind.resolve_config(config).read_text())
    cluster_config = next(yaml.safe_load(p) for p in doc["kubeadmConfigPatches"] if "ClusterConfiguration" in p)
    args, volumes = cluster_config["apiServer"]["extraArgs"], cluster_config["apiServer"]["extraVolumes"]
    mounts = [m for n in doc["nodes"] if n["role"] == "control-plane" for m in n.get("extraMounts", [])]
    policy = next(m for m in mounts if m["containerPath"] == args["audit-policy-file"])
    assert (kind.ROOT / policy["hostPath"]).is_file() and not Path(policy["hostPath"]).is_absolute(), policy
    in_pod = {v["mountPath"]: v["hostPath"] for v in volumes}
    assert in_pod.get(args["audit-policy-file"]) == args["audit-policy-file"], volumes
    assert in_pod.get(posixpath.dirname(args["audit-log-path"])) == posixpath.dirname(args["audit-log-path"]), volumes
