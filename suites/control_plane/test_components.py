"""The components of a (kind/kubeadm) cluster and what each one does, read from the cluster itself: kubelet
capacity and runtime, the static pods' flags and images, kube-proxy, CoreDNS, leader-election Leases,
the kubeadm configuration API.

Source: seed 002 «Kubernetes», «基本», «leaderelection机制»; seed 001, 2021-03-22~28 › k8s.gcr.io 镜像下载,
kubeadm 接口信息. Upstream: https://kubernetes.io/docs/concepts/overview/components/,
https://kubernetes.io/docs/reference/config-api/kubeadm-config.v1beta4/
"""
import ipaddress
import json

import pytest
from kubernetes import client

from fixtures import apiserver, kubelet_stats
from fixtures.capabilities import version_tuple
from fixtures.certificates import node_file
from fixtures.nodes import control_plane, kubelet_config, workers
from fixtures.pods import wait_ready
from fixtures.polling import eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("control-plane")]

CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")


def _nodes(cluster):
    return cluster.core.list_node().items


@pytest.mark.claim("S002-001")
def test_each_kubelet_offers_110_pods_not_100(cluster):
    """Claim: at most 100 pods per node. Wrong: the kubelet's default maxPods is 110, published as the node's
    pods capacity. (5000 nodes / 150k pods / 300k containers are scalability guidance, not enforced limits.)"""
    for node in _nodes(cluster):
        name = node.metadata.name
        with step(f"Then {name} publishes 110 pods capacity and allocatable, from its kubelet's maxPods"):
            assert node.status.capacity["pods"] == node.status.allocatable["pods"] == "110", node.status.capacity
            assert kubelet_config(cluster, name)["maxPods"] == 110


@pytest.mark.claim("S002-002")
@pytest.mark.requires(node_access=True)
def test_kubelets_talk_cri_v1_to_containerd_with_no_dockershim(cluster):
    """Claim: each node's docker is reached through dockershim's CRI. Changed (dockershim removed in 1.24): the
    kubelet talks CRI v1 straight to containerd. (crictl is not on these nodes: the CRI version is the kubelet's,
    which has spoken only v1 since 1.26.)"""
    for node in _nodes(cluster):
        name = node.metadata.name
        with step(f"Then {name}'s runtime is containerd, at containerd's own socket"):
            assert node.status.node_info.container_runtime_version.startswith("containerd://"), node.status.node_info
            assert "containerd.sock" in kubelet_config(cluster, name)["containerRuntimeEndpoint"]
        with step("And containerd's CRI plugin is loaded, there is no dockershim socket, and the kubelet (>= 1.26 speaks"
                  " only CRI v1) is Ready on it"):
            plugins = cluster.node_exec(name, "ctr", "plugins", "ls").stdout
            assert any(line.split()[:2] == ["io.containerd.grpc.v1", "cri"] and line.split()[-1] == "ok"
                       for line in plugins.splitlines()), plugins
            assert cluster.node_exec(name, "test", "-e", "/var/run/dockershim.sock").returncode != 0
            kubelet = version_tuple(node.status.node_info.kubelet_version)
            assert kubelet >= (1, 26, 0) and any(c.type == "Ready" and c.status == "True" for c in node.status.conditions), kubelet


@pytest.mark.claim("S002-003")
@pytest.mark.requires(node_access=True)
def test_containers_run_under_containerds_default_runc_handler(cluster):
    """runC is the low-level runtime: containerd's default runtime is runc (shim io.containerd.runc.v2), pods
    without runtimeClassName run under it, and no RuntimeClass objects exist by default."""
    node = control_plane(cluster)
    with step("Then no RuntimeClass exists"):
        assert client.NodeV1Api(cluster.api).list_runtime_class().items == []
    with step("And containerd's CRI plugin defaults to runc"):
        dump = cluster.node_exec(node, "containerd", "config", "dump").stdout
        assert "default_runtime_name = 'runc'" in dump or 'default_runtime_name = "runc"' in dump, dump[:2000]
    with step("And the running pods' shims are runc shims, and nothing else"):
        shims = {line.split()[0].rsplit("/", 1)[-1] for line in cluster.node_exec(node, "ps", "-eo", "args").stdout.splitlines()
                 if "containerd-shim" in line}
        assert shims == {"containerd-shim-runc-v2"}, shims


@pytest.mark.claim("S002-006")
@pytest.mark.requires(node_access=True)
def test_only_the_apiserver_is_configured_with_etcd_and_the_others_talk_to_the_apiserver(cluster):
    """Only kube-apiserver is configured to reach etcd (--etcd-servers); the scheduler, controller manager and
    kubelet are pointed at the API server by their kubeconfigs. ("The only component talking to etcd" as an
    absolute is not observable from outside.)"""
    cp = control_plane(cluster)
    with step("Then of the control-plane static pods only kube-apiserver names etcd servers"):
        with_etcd = {c for c in CONTROL_PLANE if "--etcd-servers" in apiserver.static_pod_flags(cluster, c)}
        assert with_etcd == {"kube-apiserver"}, with_etcd
    with step("And the scheduler's, controller manager's and kubelet's kubeconfigs name the API server (:6443)"):
        for conf in ("scheduler.conf", "controller-manager.conf", "kubelet.conf"):
            text = node_file(cluster, cp, f"/etc/kubernetes/{conf}")
            assert ":6443" in text and ":2379" not in text, f"{conf}:\n{text[:400]}"


@pytest.mark.claim("S002-008")
def test_every_kubelet_serves_cadvisor_metrics_and_the_summary_api(cluster):
    """cAdvisor is built into the kubelet: every node serves /metrics/cadvisor and /stats/summary through the API
    server's node proxy."""
    for node in _nodes(cluster):
        name = node.metadata.name
        with step(f"Then {name} serves cAdvisor container metrics and a summary with the node's memory"):
            cadvisor = cluster.core.connect_get_node_proxy_with_path(name, "metrics/cadvisor", _preload_content=False).data.decode()
            assert "container_cpu_usage_seconds_total" in cadvisor
            summary = kubelet_stats.summary(cluster, name)
            assert summary["node"]["nodeName"] == name and summary["node"]["memory"]["workingSetBytes"] > 0


@pytest.mark.claim("S002-010")
@pytest.mark.requires(node_access=True, images=["agnhost"])
def test_each_node_has_a_cni_config_and_pod_ips_come_from_its_pod_cidr_and_no_csi_driver_is_installed(ns, cluster, timeouts):
    """The kubelet (through the runtime) sets up networking with a CNI plugin configured in /etc/cni/net.d; pod
    IPs fall inside the node's podCIDR. Storage: kind's local-path provisioner is not CSI, so no CSIDriver."""
    with step("Given a pod-network pod of the test's own bound to each worker (not relying on other tests' pods)"):
        for i, worker in enumerate(workers(cluster)):
            ns.apply("scheduling/eviction/bound-pod.yaml", name=f"on-{i}", node=worker, resources="{}")
        wait_ready(cluster, ns.name, "app", len(workers(cluster)), timeouts)
    pods = cluster.core.list_pod_for_all_namespaces(field_selector="status.phase=Running").items
    checked = 0
    for node in _nodes(cluster):
        name = node.metadata.name
        with step(f"Then {name} has a CNI network config"):
            listing = cluster.node_exec(name, "ls", "/etc/cni/net.d").stdout.split()
            assert any(f.endswith((".conflist", ".conf")) for f in listing), listing
        with step(f"And its pod-network pods' IPs lie in its podCIDR {node.spec.pod_cidr}"):
            cidr = ipaddress.ip_network(node.spec.pod_cidr)
            ips = [p.status.pod_ip for p in pods if p.spec.node_name == name and not p.spec.host_network and p.status.pod_ip]
            assert all(ipaddress.ip_address(ip) in cidr for ip in ips), (cidr, ips)
            checked += bool(ips)
    with step("(with pod-network pods seen on at least two nodes)"):
        assert checked >= 2, checked
    with step("And no CSIDriver is registered"):
        assert client.StorageV1Api(cluster.api).list_csi_driver().items == []


@pytest.mark.claim("S002-011")
def test_kube_proxy_runs_as_a_daemon_set_with_one_ready_pod_per_node(cluster):
    """kube-proxy is a DaemonSet: one ready pod on every node."""
    ds = cluster.apps.read_namespaced_daemon_set("kube-proxy", "kube-system")
    pods = cluster.core.list_namespaced_pod("kube-system", label_selector="k8s-app=kube-proxy").items
    nodes = {n.metadata.name for n in _nodes(cluster)}
    assert ds.status.number_ready == len(nodes) == ds.status.desired_number_scheduled, ds.status
    assert sorted(p.spec.node_name for p in pods) == sorted(nodes), [p.spec.node_name for p in pods]


@pytest.mark.claim("S002-012")
@pytest.mark.requires(images=["agnhost"])
def test_endpoints_and_pod_cidrs_are_written_by_the_controller_manager_not_kube_proxy(ns, cluster, timeouts):
    """Claim: kube-proxy manages the host's subnet and creates Endpoints. Wrong: node podCIDRs are allocated by
    kube-controller-manager's node-ipam controller, Endpoints/EndpointSlices by its endpoint controllers;
    kube-proxy only reads them."""
    with step("Given a Service selecting one running pod"):
        ns.apply("control_plane/lifecycle/deployment.yaml", name="svc", replicas=1)
        ns.apply("control_plane/lifecycle/service.yaml", name="svc")
    with step("Then its EndpointSlice is managed by the endpointslice controller, written by kube-controller-manager"):
        # read raw: the generated client cannot decode a slice whose endpoints are still null
        slices = eventually(lambda: apiserver.get(cluster.api, f"/apis/discovery.k8s.io/v1/namespaces/{ns.name}/endpointslices",
                                                  [("labelSelector", "kubernetes.io/service-name=svc")]).json()["items"],
                            until=lambda s: len(s) == 1 and s[0].get("endpoints"), timeout=timeouts.pod_start,
                            desc="an EndpointSlice with an endpoint")
        meta = slices[0]["metadata"]
        assert meta["labels"]["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io", meta["labels"]
        assert {f["manager"] for f in meta["managedFields"]} == {"kube-controller-manager"}, meta["managedFields"]
    with step("And so are its Endpoints"):
        ep = eventually(lambda: cluster.core.read_namespaced_endpoints("svc", ns.name), until=lambda e: e.subsets,
                        timeout=timeouts.controller_sync, desc="Endpoints filled")
        assert {f.manager for f in ep.metadata.managed_fields} == {"kube-controller-manager"}, ep.metadata.managed_fields
    with step("And each node's podCIDR was written by kube-controller-manager"):
        for node in _nodes(cluster):
            writers = {f.manager for f in node.metadata.managed_fields if "f:podCIDR" in json.dumps(f.fields_v1 or {})}
            assert writers == {"kube-controller-manager"}, (node.metadata.name, writers)


@pytest.mark.claim("S002-013")
@pytest.mark.requires(node_access=True, kube_proxy_mode="iptables")
def test_kube_proxy_runs_in_iptables_mode_by_default_not_ipvs(cluster):
    """Claim: since 1.8 kube-proxy uses IPVS. Misleading: IPVS (GA 1.11) was never the default, the default is
    still iptables (nftables GA 1.33; IPVS deprecated in 1.35)."""
    cm = cluster.core.read_namespaced_config_map("kube-proxy", "kube-system")
    with step("Then kube-proxy's configuration asks for iptables (or leaves the mode empty = iptables)"):
        mode = next((line.split(":", 1)[1].strip().strip('"') for line in cm.data["config.conf"].splitlines()
                     if line.strip().startswith("mode:")), "")
        assert mode in ("", "iptables"), mode
    with step("And a node carries kube-proxy's iptables chains and no IPVS dummy interface"):
        node = control_plane(cluster)
        nat = cluster.node_exec(node, "iptables-save", "-t", "nat").stdout
        assert ":KUBE-SERVICES" in nat and "-A KUBE-SERVICES" in nat, nat[:500]
        assert cluster.node_exec(node, "ip", "link", "show", "kube-ipvs0").returncode != 0


@pytest.mark.claim("S002-014")
def test_cluster_dns_is_coredns_behind_the_kube_dns_service(cluster):
    """CoreDNS replaced kube-dns (kubeadm default since 1.11-1.13): Deployment coredns, pods labelled
    k8s-app=kube-dns, behind the Service still named kube-dns; there is no kube-dns Deployment."""
    deployments = {d.metadata.name for d in cluster.apps.list_namespaced_deployment("kube-system").items}
    assert "coredns" in deployments and "kube-dns" not in deployments, deployments
    svc = cluster.core.read_namespaced_service("kube-dns", "kube-system")
    assert svc.spec.selector == {"k8s-app": "kube-dns"}, svc.spec.selector
    pods = cluster.core.list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns").items
    assert pods and all("coredns" in p.spec.containers[0].image for p in pods), [p.spec.containers[0].image for p in pods]
    ready = {a.ip for s in cluster.core.read_namespaced_endpoints("kube-dns", "kube-system").subsets or [] for a in s.addresses or []}
    assert ready == {p.status.pod_ip for p in pods if p.status.pod_ip}, ready


@pytest.mark.claim("S002-172")
def test_scheduler_and_controller_manager_elect_leaders_with_renewed_leases(cluster, timeouts):
    """Claim: leader election locks an Endpoints/ConfigMap (annotation control-plane.alpha.kubernetes.io/leader on
    it / the pod). Changed: kube-scheduler and kube-controller-manager hold coordination.k8s.io/v1 Leases in
    kube-system (leaseDurationSeconds 15, renewed every ~2 s); no leader annotation is written anywhere."""
    leases = client.CoordinationV1Api(cluster.api)
    first = {n: leases.read_namespaced_lease(n, "kube-system").spec for n in ("kube-scheduler", "kube-controller-manager")}
    with step("Then both Leases have a holder and a 15 s duration"):
        for name, spec in first.items():
            assert spec.holder_identity and spec.lease_duration_seconds == 15, (name, spec)
    with step("And their holders renew them within a few seconds"):
        for name, spec in first.items():
            eventually(lambda n=name: leases.read_namespaced_lease(n, "kube-system").spec.renew_time,
                       until=lambda t, s=spec: t > s.renew_time, timeout=spec.lease_duration_seconds,
                       desc=f"{name} lease renewed")
    with step("And no Endpoints, ConfigMap or Pod in kube-system carries the old leader annotation"):
        key = "control-plane.alpha.kubernetes.io/leader"
        objects = [*cluster.core.list_namespaced_endpoints("kube-system").items,
                   *cluster.core.list_namespaced_config_map("kube-system").items,
                   *cluster.core.list_namespaced_pod("kube-system").items]
        assert not [o.metadata.name for o in objects if key in (o.metadata.annotations or {})]


@pytest.mark.claim("S001-36")
def test_control_plane_images_come_from_registry_k8s_io(cluster):
    """Claim: control-plane images are pulled from k8s.gcr.io (through a mirror). Changed: k8s.gcr.io was frozen
    in 2023; kubeadm references registry.k8s.io."""
    images = {p.metadata.labels["component"]: p.spec.containers[0].image for p in cluster.core.list_namespaced_pod(
        "kube-system", label_selector="tier=control-plane").items}
    assert set(images) == set(CONTROL_PLANE), images
    assert all(i.startswith("registry.k8s.io/") for i in images.values()), f"[behaviour-changed] {images}"
    config = cluster.core.read_namespaced_config_map("kubeadm-config", "kube-system").data["ClusterConfiguration"]
    assert "imageRepository: registry.k8s.io" in config and "k8s.gcr.io" not in config, config


def _v1beta2(version: str) -> str:
    # the cluster's own version: kubeadm refuses a kubernetesVersion outside its skew (1.37 wants >= 1.36)
    return f"apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\nkubernetesVersion: {version}\n"


@pytest.mark.claim("S001-37")
@pytest.mark.requires(node_access=True)
def test_kubeadm_speaks_config_v1beta4_and_refuses_the_documents_v1beta2(cluster):
    """Claim: the kubeadm configuration API is v1beta2. Changed: v1beta4 (1.31) is current, v1beta3 still read,
    v1beta2 removed (1.26): kubeadm refuses a v1beta2 document."""
    cp = control_plane(cluster)
    document = _v1beta2(cluster.node_exec(cp, "kubeadm", "version", "-o", "short").stdout.strip())
    with step("Then the cluster's stored kubeadm configuration and kubeadm's defaults are v1beta4"):
        stored = cluster.core.read_namespaced_config_map("kubeadm-config", "kube-system").data["ClusterConfiguration"]
        assert "apiVersion: kubeadm.k8s.io/v1beta4" in stored, stored
        defaults = cluster.node_exec(cp, "kubeadm", "config", "print", "init-defaults")
        assert defaults.returncode == 0 and "apiVersion: kubeadm.k8s.io/v1beta4" in defaults.stdout, defaults
    with step("When the document's v1beta2 configuration is validated by kubeadm"):
        check = cluster.node_exec(cp, "sh", "-c", 'printf "%s" "$1" | kubeadm config validate --config /dev/stdin', "sh", document)
    with step("Then kubeadm refuses it, naming the version"):
        assert check.returncode != 0 and "v1beta2" in check.stderr + check.stdout, check
    with step("And the same document as v1beta4 is accepted (control)"):
        ok = cluster.node_exec(cp, "sh", "-c", 'printf "%s" "$1" | kubeadm config validate --config /dev/stdin', "sh",
                               document.replace("v1beta2", "v1beta4"))
        assert ok.returncode == 0, ok
