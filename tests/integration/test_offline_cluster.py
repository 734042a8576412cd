"""The offline cluster works: kind clusters from kubeproof/node come up with nothing pulled and
provide DNS, pod networking across nodes, Services (iptables and nftables kube-proxy), hostPorts,
local-path storage and `kind load`; `kind delete` leaves nothing behind."""
from __future__ import annotations

import urllib.request
import uuid

import pytest

from fixtures.providers import kind

from fixtures.polling import eventually

from kindcluster import (CLUSTER_DIR, HOST_PORT, NET_NS, T, create_cluster, delete_cluster, kind_containers,
                         offline_images, run)

pytestmark = pytest.mark.integration


def http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - the test's own cluster
        return r.read().decode().strip()


def test_three_nodes_are_ready_within_3_minutes_with_nothing_pulled_when_created_offline(offline_cluster):
    """A three-node kind cluster from the offline node image is Ready in < 3 min and pulls no image."""
    assert offline_cluster.create_seconds < 180, f"{offline_cluster.name} took {offline_cluster.create_seconds:.0f}s to get 3 Ready nodes"
    events = offline_cluster.get("events", "-A", "--field-selector", "reason=Pulling")["items"]
    assert not events, "images were pulled: " + ", ".join(e["message"] for e in events)
    proxy_conf = offline_cluster.get("cm", "-n", "kube-system", "kube-proxy")["data"]["config.conf"]
    assert f"mode: {offline_cluster.mode}" in proxy_conf


def test_coredns_resolves_the_kubernetes_service_when_queried_from_a_pod(offline_cluster, offline_netpods):
    """A pod resolves kubernetes.default.svc.cluster.local to the API server's ClusterIP."""
    want = offline_cluster.get("svc", "-n", "default", "kubernetes")["spec"]["clusterIP"]
    got = eventually(lambda: offline_cluster.exec(NET_NS, offline_netpods[0].name, "dig", "+short", "kubernetes.default.svc.cluster.local").strip(),
                     until=lambda ip: ip == want, timeout=T.network_programming, desc=f"DNS answer {want}")
    assert got == want


def test_pods_reach_each_other_when_on_different_nodes(offline_cluster, offline_netpods):
    """Every netexec pod answers HTTP from the pod on the next node, by pod IP."""
    assert len({p.node for p in offline_netpods}) == 3
    for src, dst in zip(offline_netpods, offline_netpods[1:] + offline_netpods[:1]):
        got = eventually(lambda: offline_cluster.exec(NET_NS, src.name, "curl", "-sS", "-m", "2", f"http://{dst.ip}:8080/hostname"),
                         until=lambda name: name == dst.name, timeout=T.network_programming,
                         desc=f"{src.node} -> {dst.node} pod to pod")
        assert got == dst.name


def test_clusterip_service_answers_when_called_by_name_from_a_pod(offline_cluster, offline_netpods):
    """The Service's ClusterIP, by DNS name, reaches one of its endpoints."""
    names = {p.name for p in offline_netpods}
    url = f"http://netexec.{NET_NS}.svc.cluster.local/hostname"
    got = eventually(lambda: offline_cluster.exec(NET_NS, offline_netpods[0].name, "curl", "-sS", "-m", "2", url),
                     until=lambda name: name in names, timeout=T.network_programming, desc=f"{url} via ClusterIP")
    assert got in names


def test_nodeport_answers_on_every_node_when_called_from_the_host(offline_cluster, offline_netpods):
    """The NodePort answers on each node's IP from outside the offline_cluster."""
    port = offline_cluster.get("svc", "-n", NET_NS, "netexec")["spec"]["ports"][0]["nodePort"]
    names = {p.name for p in offline_netpods}
    for host_ip in sorted({p.host_ip for p in offline_netpods}):
        got = eventually(lambda: http_get(f"http://{host_ip}:{port}/hostname"), until=lambda n: n in names,
                         retry_on=lambda e: isinstance(e, OSError), timeout=T.network_programming,
                         desc=f"NodePort {host_ip}:{port}")
        assert got in names


def test_hostport_answers_with_the_pod_on_that_node_when_called_from_the_host(offline_cluster, offline_netpods):
    """A hostPort on a node reaches the pod running on that node."""
    for p in offline_netpods:
        got = eventually(lambda: http_get(f"http://{p.host_ip}:{HOST_PORT}/hostname"), until=lambda n: n == p.name,
                         retry_on=lambda e: isinstance(e, OSError), timeout=T.network_programming,
                         desc=f"hostPort {p.host_ip}:{HOST_PORT}")
        assert got == p.name


def test_local_path_claim_binds_and_is_writable_when_a_pod_uses_it(offline_cluster):
    """The default StorageClass (local-path) binds a claim for a pod, which writes to it."""
    ns = "selftest-pvc"
    offline_cluster.kubectl("create", "namespace", ns)
    offline_cluster.apply("pvc.yaml", namespace=ns, busybox=offline_images()["busybox"])
    phase = eventually(lambda: offline_cluster.get("pod", "-n", ns, "writer")["status"]["phase"],
                       until=lambda ph: ph in ("Succeeded", "Failed"), timeout=T.pod_start, desc="writer pod done")
    assert phase == "Succeeded", offline_cluster.kubectl("describe", "pod", "-n", ns, "writer")
    assert offline_cluster.get("pvc", "-n", ns, "data")["status"]["phase"] == "Bound"
    assert offline_cluster.kubectl("logs", "-n", ns, "writer").strip() == "kubeproof"
    offline_cluster.kubectl("delete", "namespace", ns, "--wait=false")


def test_kind_load_makes_a_local_image_runnable_when_pulls_are_forbidden(offline_cluster):
    """An image only in the host's Docker runs in the cluster after `kind load docker-image`."""
    ns, image = "selftest-load", f"kubeproof/selftest-load:{uuid.uuid4().hex[:8]}"
    run("docker", "tag", offline_images()["busybox"], image)
    try:
        kind.load_image(offline_cluster.name, image)
        offline_cluster.kubectl("create", "namespace", ns)
        offline_cluster.apply("loaded-pod.yaml", namespace=ns, image=image)
        phase = eventually(lambda: offline_cluster.get("pod", "-n", ns, "loaded")["status"]["phase"],
                           until=lambda ph: ph in ("Succeeded", "Failed"), timeout=T.pod_start, desc="loaded pod done")
        assert phase == "Succeeded", offline_cluster.kubectl("describe", "pod", "-n", ns, "loaded")
        offline_cluster.kubectl("delete", "namespace", ns, "--wait=false")
    finally:
        run("docker", "rmi", image, check=False)


def test_kind_delete_leaves_no_containers_networks_or_volumes_when_a_cluster_is_deleted(offline_tools, tmp_path):
    """After `kind delete cluster`, no container, network or volume of that cluster remains
    (the shared `kind` network is kind's, used by every cluster, and is kept by design)."""
    def snapshot(kind: str) -> set[str]:
        return set(run("docker", kind, "ls", "-q").stdout.split())

    volumes, networks = snapshot("volume"), snapshot("network")
    c = create_cluster(offline_tools, "kp-it-delete", CLUSTER_DIR / "single-node.yaml", tmp_path, 1)
    kind_net = run("docker", "network", "inspect", "-f", "{{.Id}}", "kind").stdout.strip()[:12]
    delete_cluster(c)
    assert kind_containers(c.name) == []
    assert snapshot("volume") - volumes == set()
    assert snapshot("network") - networks - {kind_net} == set()


def test_ingress_config_publishes_ports_80_and_443_of_the_ingress_ready_node_when_created(offline_tools, tmp_path):
    """ingress.yaml labels its node ingress-ready=true and maps the node's ports 80/443 to the host."""
    busy = [p for p in (80, 443) if f":{p} " in run("ss", "-Hltn").stdout]
    if busy:
        pytest.skip(f"host ports {busy} are already in use (another ingress cluster?): ingress.yaml needs them free")
    c = create_cluster(offline_tools, "kp-it-ingress", CLUSTER_DIR / "ingress.yaml", tmp_path, 1)
    try:
        node = c.get("nodes")["items"][0]
        assert node["metadata"]["labels"].get("ingress-ready") == "true"
        c.apply("netcheck.yaml", namespace=NET_NS, agnhost=offline_images()["agnhost"], host_port="80")
        got = eventually(lambda: http_get("http://127.0.0.1:80/hostname"), until=lambda n: n.startswith("netexec-"),
                         retry_on=lambda e: isinstance(e, OSError), timeout=T.pod_start, desc="host port 80 -> node hostPort 80")
        assert got.startswith("netexec-")
        ports = run("docker", "port", f"{c.name}-control-plane").stdout
        assert "443/tcp -> 0.0.0.0:443" in ports, ports
    finally:
        delete_cluster(c)


def test_kind_export_logs_writes_each_nodes_kubelet_and_containerd_logs(offline_cluster, tmp_path):
    """What a failed suite run leaves in reports/kind-logs (KindProvider.export_logs in fixtures/lifecycle.py)."""
    try:
        kind.export_logs(offline_cluster.name, tmp_path / "logs")
    except kind.ProviderError as exc:  # the node image has no crictl; everything else is exported
        assert "crictl" in str(exc), exc
    nodes = [p.name for p in (tmp_path / "logs").iterdir() if p.is_dir()]
    assert len(nodes) == 3, nodes
    for node in nodes:
        assert (tmp_path / "logs" / node / "kubelet.log").stat().st_size > 0, node
        assert (tmp_path / "logs" / node / "containerd.log").exists(), node
