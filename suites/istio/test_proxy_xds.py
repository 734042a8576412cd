"""The sidecar proxy as the documents describe it: pilot-agent running Envoy, xDS over one ADS stream
from istiod, the admin API on 127.0.0.1:15000, istioctl's diagnostics, workload certificates per
ServiceAccount (seed 000 2021-02-01~07 「istio api 接口」, 2021-02-18~21 「istio网络问题」「Istio 证书分发流程」;
seed 002 「Istio」, 「调试」).

Source: 000_b2af30f51f81eada.txt; 002_620e0a9d2c440bc2.txt 「Istio」「调试」.
Upstream: istio.io/latest/docs/ops/diagnostic-tools/proxy-cmd/, istio.io/latest/docs/concepts/security/#pki.

The module shares one meshed server, two meshed clients with different ServiceAccounts and a client
without sidecar; tests that add config use their own names.
"""
import json
import time
import urllib.request

import pytest

from fixtures.addons import istio_debug, istio_proxies, mesh_http
from fixtures.addons.istio import NAMESPACE, IstioctlTimeout
from fixtures.addons.istio_client import analyze, client_tools, dashboard, istioctl
from fixtures.podexec import exec_in
from fixtures.pods import wait_ready
from fixtures.polling import eventually
from fixtures.reporting import attach_text, step

pytestmark = [pytest.mark.area("istio"), pytest.mark.requires(istio=True, istio_proxy=True, images=["agnhost"])]


@pytest.fixture(scope="module")
def mesh(mesh_module_ns, cluster, timeouts):
    ns = mesh_module_ns
    ns.apply("istio/mesh/server.yaml", name="server", app="server", version="v1", inject="true")
    ns.apply("istio/mesh/service.yaml", name="server", app="server", port_name="http", cluster_ip="")
    for name, inject in (("client", "true"), ("other", "true"), ("outsider", "false")):
        ns.apply("istio/mesh/client.yaml", name=name, env="test", inject=inject)
    pods = {p.name: p for p in wait_ready(cluster, ns.name, "app in (server, client, other, outsider)", 4, timeouts, budget="mesh_pod_start")}
    eventually(lambda: mesh_http.get(cluster, ns.name, "client", f"http://server.{ns.name}.svc.cluster.local:8080/hostname").status,
               until=lambda s: s == 200, timeout=timeouts.xds_push, desc="the mesh answering")
    return ns, pods


def _ictl(cluster, timeouts, *args) -> str:
    return istioctl(client_tools(), cluster, *args, timeout=timeouts.controller_sync).stdout


@pytest.mark.claim("S000-16", "S002-246")
def test_proxy_gets_listeners_clusters_routes_endpoints_and_secrets_over_one_ads_stream_from_istiod(mesh, cluster, timeouts):
    """The bootstrap points Envoy at one aggregated stream (ads_config, gRPC, cluster xds-grpc) and takes LDS and CDS
    from it; the config dump then holds dynamic listeners, clusters, routes, endpoints and the SDS secrets
    default and ROOTCA; istiod reports every xDS type of the proxy SYNCED."""
    ns, _ = mesh
    dump = istio_proxies.config_dump(cluster, ns.name, "client", include_eds=True)
    boot = next(d["bootstrap"] for d in dump if "bootstrap" in d)
    with step("Then the bootstrap has one ADS stream (gRPC to xds-grpc) serving LDS and CDS"):
        ads = boot["dynamic_resources"]["ads_config"]
        assert ads["api_type"] in ("GRPC", "DELTA_GRPC") and ads["grpc_services"][0]["envoy_grpc"]["cluster_name"] == "xds-grpc", ads
        assert "ads" in boot["dynamic_resources"]["lds_config"] and "ads" in boot["dynamic_resources"]["cds_config"], boot["dynamic_resources"]
    with step("And the dump holds xDS-delivered listeners, clusters, routes, endpoints and secrets"):
        kinds = {k for d in dump for k in d if k.startswith("dynamic_")}
        assert {"dynamic_listeners", "dynamic_active_clusters", "dynamic_route_configs", "dynamic_endpoint_configs",
                "dynamic_active_secrets"} <= kinds, sorted(kinds)
        assert {"default", "ROOTCA"} <= set(istio_proxies.secrets(cluster, ns.name, "client")), "SDS secrets"
    with step("And istioctl proxy-status shows the proxy SYNCED for each xDS type (STALE while a push awaits its ACK)"):
        def row():
            try:
                out = _ictl(cluster, timeouts, "proxy-status", "-v", "1", "-n", ns.name)
            except IstioctlTimeout as exc:  # a slow answer is "not yet"
                raise AssertionError(str(exc)) from None
            return next((line for line in out.splitlines() if line.startswith(f"client.{ns.name}")), out)

        synced = eventually(row, until=lambda r: r.count("SYNCED") >= 4 and not any(w in r for w in ("STALE", "ERROR", "NACK")),
                            timeout=timeouts.xds_push, desc="the client proxy SYNCED for CDS, EDS, LDS and RDS")
        attach_text("proxy-status", synced)


@pytest.mark.claim("S002-249")
def test_pilot_agent_is_pid_1_of_istio_proxy_and_runs_envoy_from_the_bootstrap_it_wrote(mesh, cluster):
    """In istio-proxy, PID 1 is `pilot-agent proxy sidecar`; its child is envoy -c etc/istio/proxy/envoy-rev.json,
    a file the agent generated; the agent serves readiness on 15021 (and 15020)."""
    ns, _ = mesh
    with step("Then /proc/1 is pilot-agent proxy sidecar, and an envoy process runs the generated bootstrap"):
        ps = exec_in(cluster, ns.name, "client", "istio-proxy", ["sh", "-c", "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done"]).stdout
        lines = [line.strip() for line in ps.splitlines() if line.strip()]
        pid1 = exec_in(cluster, ns.name, "client", "istio-proxy", ["sh", "-c", "tr '\\0' ' ' </proc/1/cmdline"]).stdout
        assert pid1.split()[:3] == ["/usr/local/bin/pilot-agent", "proxy", "sidecar"], pid1
        envoy = [line for line in lines if line.split()[0].endswith("envoy")]
        assert envoy and "-c etc/istio/proxy/envoy-rev.json" in envoy[0], lines
    with step("And the bootstrap file exists, and the agent answers ready on 15021"):
        assert exec_in(cluster, ns.name, "client", "istio-proxy", ["test", "-s", "/etc/istio/proxy/envoy-rev.json"]).returncode == 0
        got = mesh_http.get(cluster, ns.name, "client", "http://localhost:15021/healthz/ready")
        assert got.status == 200, got


@pytest.mark.claim("S000-14", "S002-275")
def test_envoy_admin_is_only_on_the_pods_own_loopback_and_istiod_has_no_port_15000(mesh, cluster, timeouts):
    """The admin API (/listeners, /config_dump, /logging) answers on 127.0.0.1:15000 inside the pod; the document's
    istiod:15000 refuses, and so does <pod IP>:15000 from another pod. POST /logging?level=debug sets every logger."""
    ns, pods = mesh
    with step("Then inside the pod, config_dump and listeners answer"):
        assert istio_proxies.config_dump(cluster, ns.name, "client")
        assert "0.0.0.0:15006" in istio_proxies.admin(cluster, ns.name, "client", "listeners")
    with step("And istiod has no 15000: its Service has no such port, its pod refuses the connection"):
        assert 15000 not in [p.port for p in cluster.core.read_namespaced_service("istiod", NAMESPACE).spec.ports]
        istiod_ip = cluster.core.read_namespaced_pod(istio_debug.istiod_pod(cluster.core), NAMESPACE).status.pod_ip
        got = mesh_http.get(cluster, ns.name, "outsider", f"http://{istiod_ip}:15000/listeners", max_time=5)
        assert got.status == 0, got
    with step("And <pod IP>:15000 from another pod never reaches the admin API (bound to 127.0.0.1): the sidecar's "
              "inbound capture finds nothing listening on the pod IP and answers 503 itself"):
        got = mesh_http.get(cluster, ns.name, "outsider", f"http://{pods['client'].ip}:15000/listeners", max_time=5)
        assert got.status in (0, 503) and "15006" not in got.body, got
    with step("When POST logging?level=debug is sent to the admin API"):
        exec_in(cluster, ns.name, "other", "istio-proxy", ["pilot-agent", "request", "POST", "logging?level=debug"])
    with step("Then every logger reports debug"):
        levels = exec_in(cluster, ns.name, "other", "istio-proxy", ["pilot-agent", "request", "POST", "logging"]).stdout  # POST without a level lists them
        loggers = [line.split(":")[-1].strip() for line in levels.splitlines() if line.startswith("  ")]
        assert loggers and set(loggers) == {"debug"}, levels[:500]


@pytest.mark.claim("S000-15", "S002-274", "S002-271")
def test_istioctl_diagnostics_read_the_live_mesh(mesh, cluster, timeouts, ns):
    """istioctl's aliases and diagnostics work against the live mesh: `ps` (proxy-status) lists the proxies,
    `pc cluster --direction inbound` returns the inbound cluster, `x describe pod` names the Service, and `analyze`
    reports IST0102 for a namespace without injection (and `--suppress` removes it) and IST0101 for a VirtualService
    naming a missing Gateway."""
    mns, _ = mesh
    with step("Then `istioctl ps` lists the module's proxies"):
        assert f"client.{mns.name}" in _ictl(cluster, timeouts, "ps", "-n", mns.name)
    with step("And `istioctl pc cluster --direction inbound -o json` returns the inbound cluster of port 8080"):
        inbound = json.loads(_ictl(cluster, timeouts, "pc", "cluster", f"server.{mns.name}", "--direction", "inbound", "--port", "8080", "-o", "json"))
        assert inbound and inbound[0]["name"].startswith("inbound|8080"), inbound
    with step("And `istioctl x describe pod` names the Service"):
        assert "Service: server" in _ictl(cluster, timeouts, "x", "describe", "pod", "server", "-n", mns.name)
    with step("When an unlabelled namespace has a pod, and a VirtualService names a missing Gateway"):
        cluster.core.patch_namespace(ns.name, {"metadata": {"labels": {"istio-injection": None}}})
        ns.apply("istio/mesh/client.yaml", name="plain", env="none", inject="false")
        ns.apply("istio/gateway/vs-bound.yaml", name="dangling", host="dangling.test", gateways="missing", backend="server")
        wait_ready(cluster, ns.name, "app=plain", 1, timeouts, budget="mesh_pod_start")
    with step("Then analyze reports IST0102 for the namespace and IST0101 for the VirtualService; --suppress drops IST0102"):
        def codes(*extra):
            return {m["code"] for m in analyze(cluster, ns.name, *extra, timeout=timeouts.controller_sync)}

        assert {"IST0102", "IST0101"} <= codes(), codes()
        assert "IST0102" not in codes("--suppress", f"IST0102=Namespace {ns.name}")


@pytest.mark.claim("S000-20", "S002-248")
def test_new_service_and_virtualservice_reach_the_client_proxy_within_seconds(mesh, cluster, timeouts):
    """istiod watches Services, EndpointSlices and Istio config and pushes them: a new Service appears as cluster
    outbound|8080||<svc> in the client within seconds, its endpoints follow pod readiness, and a new VirtualService
    changes the client's routes."""
    ns, _ = mesh
    host = f"late.{ns.name}.svc.cluster.local"
    name = f"outbound|8080||{host}"
    with step("When a Service and its pod are created"):
        t0 = time.monotonic()
        ns.apply("istio/mesh/service.yaml", name="late", app="late", port_name="http", cluster_ip="")
        eventually(lambda: name in istio_proxies.dynamic_clusters(cluster, ns.name, "client"), until=bool,
                   timeout=timeouts.xds_push, desc=f"{name} in the client")
        pushed = time.monotonic() - t0
    with step(f"Then the cluster appeared in the client within seconds ({pushed:.1f}s)"):
        assert pushed < 10, pushed
    with step("And its endpoint shows up once the pod is Ready"):
        ns.apply("istio/mesh/server.yaml", name="late", app="late", version="v1", inject="true")
        pod = wait_ready(cluster, ns.name, "app=late", 1, timeouts, budget="mesh_pod_start")[0]

        def endpoints():
            data = json.loads(istio_proxies.admin(cluster, ns.name, "client", "clusters?format=json"))
            return [h["address"]["socket_address"]["address"] for c in data["cluster_statuses"] if c["name"] == name for h in c.get("host_statuses", [])]

        eventually(endpoints, until=lambda ips: ips == [pod.ip], timeout=timeouts.xds_push, desc="the ready pod as endpoint")
    with step("When a VirtualService sets a route timeout for it, the client's routes carry it within seconds"):
        t0 = time.monotonic()
        ns.apply("istio/mesh/vs-timeout.yaml", name="late", host=host, timeout="7s")
        eventually(lambda: istio_proxies.route_values(cluster, ns.name, "client", "timeout"), until=lambda t: "7s" in t,
                   timeout=timeouts.xds_push, desc="the 7s route timeout")
        assert time.monotonic() - t0 < 10


@pytest.mark.claim("S000-36", "S002-250")
def test_each_workload_holds_an_istiod_signed_24h_certificate_naming_its_service_account(mesh, cluster, timeouts):
    """pilot-agent gets a certificate for the pod's ServiceAccount from istiod and hands it to Envoy over SDS: URI SAN
    spiffe://cluster.local/ns/<ns>/sa/<sa>, valid 24 h, signed by the root istiod publishes in istio-ca-root-cert;
    two pods with different ServiceAccounts get different identities."""
    ns, _ = mesh
    root = cluster.core.read_namespaced_config_map("istio-ca-root-cert", ns.name).data["root-cert.pem"]
    certs = {pod: istio_proxies.workload_cert(cluster, ns.name, pod, root) for pod in ("client", "other")}
    attach_text("certificates", repr(certs))
    for pod, cert in certs.items():
        with step(f"Then {pod}'s certificate names its ServiceAccount, lives 24 h and chains to the published root"):
            assert cert.uris == (f"spiffe://cluster.local/ns/{ns.name}/sa/{pod}",), cert
            assert 23 <= cert.lifetime_hours <= 25 and cert.issued_by_root, cert
    with step("And the two identities differ"):
        assert certs["client"].uris != certs["other"].uris


@pytest.mark.claim("S002-272")
def test_istioctl_dashboard_port_forwards_to_envoys_admin_and_to_istiods_controlz(mesh, cluster, timeouts):
    """`istioctl dashboard envoy <pod>.<ns> --browser=false` port-forwards the pod's admin port (/server_info: LIVE);
    `istioctl dashboard controlz <istiod-pod>.istio-system` reaches istiod's ControlZ page."""
    ns, _ = mesh
    with step("Then through `dashboard envoy`, /server_info reports the proxy LIVE"):
        with dashboard(cluster, "envoy", f"client.{ns.name}", timeout=timeouts.controller_sync) as url:
            info = eventually(lambda: json.loads(urllib.request.urlopen(f"{url.rstrip('/')}/server_info", timeout=5).read()),
                              timeout=timeouts.controller_sync, retry_on=lambda e: isinstance(e, OSError), desc="server_info")
        assert info.get("state") == "LIVE", info
    with step("And through `dashboard controlz`, istiod answers its ControlZ page"):
        with dashboard(cluster, "controlz", f"{istio_debug.istiod_pod(cluster.core)}.{NAMESPACE}", timeout=timeouts.controller_sync) as url:
            page = eventually(lambda: urllib.request.urlopen(url, timeout=5).read().decode(), timeout=timeouts.controller_sync,
                              retry_on=lambda e: isinstance(e, OSError), desc="ControlZ")
        assert "ControlZ" in page, page[:300]
