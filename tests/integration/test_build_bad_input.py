"""`make cluster-image` refuses bad input early, with one line naming the fix, and creates nothing."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_ALL = str(ROOT / "hack" / "build-all.sh")
pytestmark = pytest.mark.integration


def build_all(tmp_path: Path, prefix: tuple[str, ...] = (), **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "KUBEPROOF_CACHE": str(tmp_path / "cache"), **env}
    return subprocess.run([*prefix, BUILD_ALL], env=full, capture_output=True, text=True, timeout=60)


def error_line(res: subprocess.CompletedProcess) -> str:
    lines = [line for line in res.stderr.splitlines() if "ERROR:" in line]
    assert res.returncode != 0 and len(lines) == 1, res.stderr
    return lines[0]


def test_build_fails_naming_the_version_when_kubernetes_version_is_unknown(tmp_path):
    """An unknown KUBERNETES_VERSION is refused before any cache directory is made, listing the releases there are."""
    line = error_line(build_all(tmp_path, KUBERNETES_VERSION="v1.99.0"))
    assert "k8s.io/kubernetes@v1.99.0 is not on the Go module proxy" in line and "versions.env" in line
    served = line.partition("it serves ")[2].partition(";")[0].split()
    assert served and all(v.startswith("v1.") for v in served) and "v1.99.0" not in served, line
    assert not (tmp_path / "cache").exists()


def test_build_fails_naming_the_floor_when_kubernetes_version_is_older_than_kind_supports(tmp_path):
    """A KUBERNETES_VERSION the Go proxy serves but the pinned kind does not support is refused, naming the floor."""
    line = error_line(build_all(tmp_path, KUBERNETES_VERSION="v1.32.13"))
    assert "is below v1.33.0, the oldest Kubernetes kind v0.32.0 supports" in line, line
    assert not (tmp_path / "cache").exists()


def test_build_fails_naming_the_format_when_kubernetes_version_is_malformed(tmp_path):
    """A KUBERNETES_VERSION that is not vX.Y.Z is refused with the expected shape."""
    assert "is not a release like v1.34.4" in error_line(build_all(tmp_path, KUBERNETES_VERSION="1.34"))


def test_build_fails_asking_for_go_when_go_is_missing(tmp_path):
    """Without Go on PATH the build says to install it."""
    assert "go not found: install Go" in error_line(build_all(tmp_path, PATH="/usr/bin:/bin"))


def test_build_fails_naming_the_space_needed_when_disk_is_short(tmp_path):
    """Too little free space under the cache names the need and the KUBEPROOF_CACHE way out."""
    line = error_line(build_all(tmp_path, KUBEPROOF_MIN_FREE_GIB="100000"))
    assert "the build needs 100000 GiB" in line and "KUBEPROOF_CACHE" in line


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv to drop to an unprivileged user")
def test_build_fails_naming_docker_permissions_when_the_user_cannot_use_docker(tmp_path):
    """A user outside the docker group is told to run as root or join the group."""
    tmp_path.chmod(0o777)
    res = build_all(tmp_path, ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"), HOME=str(tmp_path))
    assert "no permission to use Docker" in error_line(res)
