"""Self-tests of the offline cluster: real kind clusters from kubeproof/node, nothing pulled.

Opt-in (`make test-integration`, or `pytest tests/integration -m integration`): each creates
and deletes its own clusters, named kp-it-*, and never touches other clusters.
"""
from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from string import Template

import pytest
import yaml

from fixtures.polling import eventually
from fixtures.timeouts import Timeouts
from fixtures.versions import build_cache, offline_node_image

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_DIR = ROOT / "manifests" / "cluster"
SELFTEST_DIR = CLUSTER_DIR / "selftest"
T = Timeouts()


def offline_images() -> dict[str, str]:
    return yaml.safe_load((ROOT / "manifests" / "images.yaml").read_text())["offline"]


def run(*args: str, input: str | None = None, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    res = subprocess.run(args, input=input, capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(args[:4])} ... exited {res.returncode}: {res.stderr.strip()[-2000:]}")
    return res


@dataclass
class Tools:
    kind: str
    kubectl: str
    node_image: str


@pytest.fixture(scope="session")
def tools() -> Tools:
    cache = build_cache()
    kind, kubectl, image = cache.tool("kind"), cache.tool("kubectl"), offline_node_image()
    missing = [str(p) for p in (kind, kubectl) if not p.exists()]
    if run("docker", "image", "inspect", image, check=False).returncode != 0:
        missing.append(f"docker image {image}")
    if missing:
        pytest.skip(f"offline cluster artefacts missing ({', '.join(missing)}): run `make cluster-image`")
    return Tools(str(kind), str(kubectl), image)


@dataclass
class Cluster:
    name: str
    kubeconfig: Path
    tools: Tools
    create_seconds: float = 0.0
    mode: str = ""

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        return run(self.tools.kubectl, "--kubeconfig", str(self.kubeconfig), *args, input=input, check=check).stdout

    def get(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", *args, "-o", "json"))

    def apply(self, manifest: str, **params: str) -> None:
        text = Template((SELFTEST_DIR / manifest).read_text()).substitute(params)
        self.kubectl("apply", "-f", "-", input=text)

    def exec(self, namespace: str, pod: str, *cmd: str) -> str:
        return self.kubectl("exec", "-n", namespace, pod, "--", *cmd)

    def nodes_ready(self) -> dict[str, bool]:
        return {
            n["metadata"]["name"]: any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
            for n in self.get("nodes")["items"]
        }


def kind_containers(name: str) -> list[str]:
    return run("docker", "ps", "-aq", "--filter", f"label=io.x-k8s.kind.cluster={name}").stdout.split()


def create_cluster(tools: Tools, name: str, config: Path, tmp: Path, nodes: int) -> Cluster:
    """kind create from the offline node image; returns once all `nodes` are Ready."""
    if kind_containers(name):  # a leftover from an interrupted run
        run(tools.kind, "delete", "cluster", "--name", name)
    c = Cluster(name, tmp / f"{name}.kubeconfig", tools)
    t0 = time.monotonic()
    run(tools.kind, "create", "cluster", "--name", name, "--image", tools.node_image, "--config", str(config),
        "--kubeconfig", str(c.kubeconfig), "--retain=false", timeout=T.cluster_create)
    eventually(c.nodes_ready, until=lambda r: len(r) == nodes and all(r.values()), timeout=T.cluster_create,
               interval=1, desc=f"{nodes} Ready nodes in {name}")
    c.create_seconds = time.monotonic() - t0
    return c


def delete_cluster(c: Cluster) -> None:
    run(c.tools.kind, "delete", "cluster", "--name", c.name, "--kubeconfig", str(c.kubeconfig))


CONFIGS = {"iptables": "three-node.yaml", "nftables": "three-node-nftables.yaml"}


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def cluster(request, tools, tmp_path_factory) -> Cluster:
    """A three-node cluster per kube-proxy mode (tests run grouped by mode, one cluster at a time)."""
    mode = request.param
    c = create_cluster(tools, f"kp-it-{mode}", CLUSTER_DIR / CONFIGS[mode], tmp_path_factory.mktemp(mode), 3)
    c.mode = mode
    yield c
    delete_cluster(c)


@dataclass
class NetPod:
    name: str
    ip: str
    host_ip: str
    node: str


NET_NS, HOST_PORT = "selftest-net", "8123"


@pytest.fixture(scope="module")
def netpods(cluster) -> list[NetPod]:
    """agnhost netexec on every node, Ready, behind a NodePort Service and a hostPort."""
    cluster.apply("netcheck.yaml", namespace=NET_NS, agnhost=offline_images()["agnhost"], host_port=HOST_PORT)

    def ready():
        ds = cluster.get("ds", "-n", NET_NS, "netexec")["status"]
        assert ds.get("desiredNumberScheduled") == 3 and ds.get("numberReady") == 3, ds
        return cluster.get("pods", "-n", NET_NS, "-l", "app=netexec")["items"]

    pods = eventually(ready, timeout=T.pod_start, desc="netexec Ready on all 3 nodes")
    return [NetPod(p["metadata"]["name"], p["status"]["podIP"], p["status"]["hostIP"], p["spec"]["nodeName"]) for p in pods]
