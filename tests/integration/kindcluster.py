"""kind clusters for the self-tests: create from the offline node image, kubectl, delete."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from string import Template

import yaml

from fixtures.polling import eventually
from fixtures.providers import kind
from fixtures.timeouts import Timeouts

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
    """kind create from the offline node image (the suite's own kind wrapper); returns once all `nodes` are Ready."""
    if kind_containers(name):  # a leftover from an interrupted run
        kind.delete_cluster(name)
    c = Cluster(name, tmp / f"{name}.kubeconfig", tools)
    t0 = time.monotonic()
    kind.create_cluster(name, tools.node_image, config, c.kubeconfig, timeout=T.cluster_create)
    eventually(c.nodes_ready, until=lambda r: len(r) == nodes and all(r.values()), timeout=T.cluster_create,
               interval=1, desc=f"{nodes} Ready nodes in {name}")
    c.create_seconds = time.monotonic() - t0
    return c


def delete_cluster(c: Cluster) -> None:
    kind.delete_cluster(c.name)


CONFIGS = {"iptables": "three-node.yaml", "nftables": "three-node-nftables.yaml"}


@dataclass
class NetPod:
    name: str
    ip: str
    host_ip: str
    node: str


NET_NS, HOST_PORT = "selftest-net", "8123"
