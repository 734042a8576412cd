"""North-south traffic through an Istio ingress gateway: Gateway + VirtualService (seed 000 2021-02-01~07
「创建一个istio管理的服务」「istio sidecar流量劫持」; seed 002 「核心CRD」 Gateway and its YAML, 「调试」).

Source: 000_b2af30f51f81eada.txt ## 2021-02-01~07; 002_620e0a9d2c440bc2.txt 「核心CRD」「调试」.
Upstream: istio.io/latest/docs/reference/config/networking/gateway/.

The gateway runs the same proxy image as the sidecars (Istio's gateway injection template), behind a
NodePort Service: requests come from a pod without sidecar to <node IP>:<nodePort>, the path a client
outside the cluster takes (kind has no LoadBalancer, so the document's `.status.loadBalancer` stays empty).
Gateways select pods by label cluster-wide, so this module keeps to one worker (one gateway at a time).
"""
from pathlib import Path

import pytest
import yaml

from fixtures.addons import istio_proxies, mesh_http, tls_certs
from fixtures.addons.dry_run import dry_run_apply
from fixtures.addons.istio_client import client_tools, istioctl
from fixtures.manifests import render
from fixtures.podexec import exec_in
from fixtures.pods import wait_ready
from fixtures.polling import eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("istio"), pytest.mark.requires(istio=True, istio_proxy=True, images=["agnhost"]),
              pytest.mark.xdist_group("istio-ingress-gateway")]


@pytest.fixture(scope="module")
def edge(mesh_module_ns, cluster, images, timeouts, tmp_path_factory):
    """The gateway, an `outsider` client without sidecar, a meshed client, and the backends: `web` (kube-injected by
    hand, as the document does), `order` stable + canary, and a plain TCP server `tcp-echo`."""
    ns = mesh_module_ns
    ns.apply("istio/gateway/ingressgateway.yaml")
    ns.apply("istio/mesh/client.yaml", name="outsider", env="none", inject="false")
    ns.apply("istio/mesh/client.yaml", name="client", env="test", inject="true")
    _kube_inject_and_apply(ns, cluster, images, timeouts, tmp_path_factory.mktemp("kube-inject"))
    ns.apply("istio/mesh/service.yaml", name="web", app="web", port_name="http", cluster_ip="")
    for version in ("stable", "canary"):
        ns.apply("istio/mesh/server.yaml", name=f"order-{version}", app="order", version=version, inject="true")
    ns.apply("istio/mesh/service.yaml", name="order", app="order", port_name="http", cluster_ip="")
    ns.apply("istio/headless-mtls/server.yaml", server="tcp-echo")
    wait_ready(cluster, ns.name, "app in (istio-ingressgateway, outsider, client, web, order, tcp-echo)", 7, timeouts, budget="mesh_pod_start")
    svc = cluster.core.read_namespaced_service("ingressgateway", ns.name)
    ports = {p.name: p.node_port for p in svc.spec.ports}
    node = cluster.core.list_node().items[0]
    ip = next(a.address for a in node.status.addresses if a.type == "InternalIP")
    return ns, ip, ports


def _kube_inject_and_apply(ns, cluster, images, timeouts, tmp: Path):
    """The document's `istioctl kube-inject -f app.yaml | kubectl apply -f -` for the `web` server pod (the webhook
    then leaves the already-injected pod alone)."""
    docs = render("istio/mesh/server.yaml", name="web", app="web", version="v1", inject="true", **{f"image_{r}": ref for r, ref in images.items()})
    (tmp / "web.yaml").write_text(yaml.safe_dump_all(docs))
    injected = istioctl(client_tools(), cluster, "kube-inject", "-f", str(tmp / "web.yaml"), timeout=timeouts.controller_sync).stdout
    cluster.kubectl("apply", "-n", ns.name, "-f", "-", input=injected)


def _via_gateway(cluster, ns, ip, port, path: str, host: str) -> mesh_http.Reply:
    return mesh_http.get(cluster, ns.name, "outsider", f"http://{ip}:{port}{path}", headers={"Host": host})


@pytest.mark.claim("S000-02", "S000-17")
def test_kube_injected_app_is_reachable_through_the_ingress_gateway_only_while_its_virtualservice_is_bound(edge, cluster, timeouts):
    """A kube-injected Deployment + Service + Gateway + VirtualService is reachable at /app/ through the gateway's
    NodePort; a VirtualService not bound to the Gateway does not affect ingress traffic (404 from the gateway)."""
    ns, ip, ports = edge
    with step("Given a Gateway for app.test and, first, a VirtualService bound to it"):
        ns.apply("istio/gateway/gateway.yaml", name="app", host="app.test")
        ns.apply("istio/gateway/vs-bound.yaml", name="app", host="app.test", gateways="app", backend="web")
    with step("Then GET /app/ with Host app.test through the NodePort answers 200 from the app"):
        got = eventually(lambda: _via_gateway(cluster, ns, ip, ports["http"], "/app/hostname", "app.test"),
                         until=lambda r: r.status == 200, timeout=timeouts.xds_push, desc="200 through the gateway")
        assert got.body.strip() == "web", got
    with step("When the VirtualService is bound to the mesh only (gateways: [mesh])"):
        ns.apply("istio/gateway/vs-bound.yaml", name="app", host="app.test", gateways="mesh", backend="web")
    with step("Then the gateway answers 404 for the same request"):
        eventually(lambda: _via_gateway(cluster, ns, ip, ports["http"], "/app/hostname", "app.test"),
                   until=lambda r: r.status == 404, timeout=timeouts.xds_push, desc="404 once unbound")


@pytest.mark.claim("S000-17", "S002-258")
def test_tcp_server_on_the_gateway_forwards_raw_tcp_when_a_virtualservice_tcp_route_is_bound(edge, cluster, timeouts):
    """A Gateway server with protocol TCP plus a VirtualService `tcp:` route forwards raw TCP: nc to the gateway's
    NodePort reads the plain TCP server's hostname."""
    ns, ip, ports = edge
    with step("When a TCP Gateway server on 9000 and a tcp route to tcp-echo-vip:6379 are applied"):
        ns.apply("istio/gateway/tcp.yaml", name="tcp", backend=f"tcp-echo-vip.{ns.name}.svc.cluster.local")
    with step("Then a TCP connection to the gateway's NodePort gets the backend's hostname"):
        def read():
            return exec_in(cluster, ns.name, "outsider", "app", ["sh", "-c", f"nc -w 2 {ip} {ports['tcp']} </dev/null"]).stdout.strip()

        eventually(read, until=lambda got: got == "tcp-echo", timeout=timeouts.xds_push, desc="tcp-echo through the gateway")


@pytest.mark.claim("S002-261", "S002-274")
def test_documents_order_routing_reaches_only_stable_pods_through_the_gateway_and_not_mesh_traffic(edge, cluster, timeouts):
    """The document's Gateway + VirtualService + DestinationRule (TAB fixed): Host api.xxx.com and /order/v1 through the
    gateway reach only version=stable pods; other hosts and paths get 404; the VS binds only the gateway, so mesh
    calls to `order` ignore it and reach both versions. `istioctl pc routes` on the gateway shows that route only."""
    ns, ip, ports = edge
    with step("Given the document's block as written: kubectl cannot parse it (a TAB before '# 路由匹配')"):
        assert dry_run_apply(cluster, "istio/documents/s002-order-gateway-routing.yaml", ns.name).verdict == "rejected"
    with step("When the fixed block is applied"):
        ns.apply("istio/gateway/order-fixed.yaml")
        eventually(lambda: _via_gateway(cluster, ns, ip, ports["http"], "/order/v1/list", "api.xxx.com"),
                   until=lambda r: r.status == 200, timeout=timeouts.xds_push, desc="the order route")
    with step("Then 20 gateway requests all land on order-stable, none on order-canary"):
        before = {v: mesh_http.server_root_hits(cluster, ns.name, f"order-{v}") for v in ("stable", "canary")}
        assert mesh_http.statuses(cluster, ns.name, "outsider", f"http://{ip}:{ports['http']}/order/v1/list", 20,
                                  headers={"Host": "api.xxx.com"}) == {"200": 20}
        after = {v: mesh_http.server_root_hits(cluster, ns.name, f"order-{v}") for v in ("stable", "canary")}
        assert (after["stable"] - before["stable"], after["canary"] - before["canary"]) == (20, 0), (before, after)
    with step("And another host, or another path, gets 404 from the gateway"):
        assert _via_gateway(cluster, ns, ip, ports["http"], "/order/v1/list", "other.test").status == 404
        assert _via_gateway(cluster, ns, ip, ports["http"], "/shop/v1/list", "api.xxx.com").status == 404
    with step("And mesh traffic to `order` ignores the gateway-only VirtualService: both versions answer"):
        seen = {v: mesh_http.server_root_hits(cluster, ns.name, f"order-{v}") for v in ("stable", "canary")}
        mesh_http.statuses(cluster, ns.name, "client", f"http://order.{ns.name}.svc.cluster.local:8080/order/v1/list", 30)
        grew = {v: mesh_http.server_root_hits(cluster, ns.name, f"order-{v}") - seen[v] for v in seen}
        assert grew["stable"] > 0 and grew["canary"] > 0, grew
    with step("And `istioctl pc routes` (proxy-config alias) on the gateway pod lists api.xxx.com and no mesh service"):
        gw = wait_ready(cluster, ns.name, "istio=ingressgateway", 1, timeouts, budget="mesh_pod_start")[0].name
        routes = istioctl(client_tools(), cluster, "pc", "routes", f"{gw}.{ns.name}", "-o", "json", timeout=timeouts.apply).stdout
        domains = {d for d in istio_proxies.find(yaml.safe_load(routes), "domains") for d in d}
        assert "api.xxx.com" in domains, sorted(domains)
        assert not [d for d in domains if d.startswith("order.")], sorted(domains)


@pytest.mark.claim("S002-263")
def test_gateway_terminates_https_with_the_credential_secret_and_mutual_requires_a_client_certificate(edge, cluster, timeouts):
    """A Gateway server with tls SIMPLE and credentialName serves HTTPS with the Secret's certificate (verified against
    its CA by the client); switched to MUTUAL, a client without a certificate fails the handshake."""
    ns, ip, ports = edge
    host = "secure.test"
    tls = tls_certs.server_cert(host)
    ns.apply("istio/gateway/tls-secret.yaml", name="secure-cred", key=tls_certs.indented(tls.key_pem),
             cert=tls_certs.indented(tls.cert_pem), ca=tls_certs.indented(tls.ca_pem))
    exec_in(cluster, ns.name, "outsider", "app", ["sh", "-c", f"printf '%s' '{tls.ca_pem}' > /tmp/ca.crt"])
    url = f"https://{host}:{ports['https']}/hostname"
    curl = ["--cacert", "/tmp/ca.crt", "--resolve", f"{host}:{ports['https']}:{ip}"]
    with step("When a Gateway terminates HTTPS for secure.test with tls SIMPLE and that credential"):
        ns.apply("istio/gateway/https.yaml", name="secure", host=host, mode="SIMPLE", secret="secure-cred", backend="web")
    with step("Then a client trusting only the test CA gets 200 from the backend over HTTPS"):
        got = eventually(lambda: mesh_http.get(cluster, ns.name, "outsider", url, extra=tuple(curl)), until=lambda r: r.status == 200,
                         timeout=timeouts.xds_push, desc="HTTPS through the gateway")
        assert got.body.strip() == "web", got
    with step("When the server is switched to MUTUAL"):
        ns.apply("istio/gateway/https.yaml", name="secure", host=host, mode="MUTUAL", secret="secure-cred", backend="web")
    with step("Then the same client, without a certificate, gets no HTTP answer (handshake refused)"):
        refused = eventually(lambda: mesh_http.get(cluster, ns.name, "outsider", url, extra=tuple(curl)), until=lambda r: r.status == 0,
                             timeout=timeouts.xds_push, desc="client certificate required")
        # no HTTP answer at all; curl's exit code names the moment the server aborted the handshake (35, 16, 55, 56 seen)
        assert refused.curl_exit != 0 and refused.body == "", refused
