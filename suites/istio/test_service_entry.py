"""Outbound traffic policy and ServiceEntry: reaching a host outside the registry (seed 000 2021-02-01~07
「istio sidecar流量劫持」 ServiceEntry; seed 002 「核心CRD」 ServiceEntry, 「应用场景」 3).

Source: 000_b2af30f51f81eada.txt ## 2021-02-01~07 › ### istio sidecar流量劫持; 002_620e0a9d2c440bc2.txt 「核心CRD」「应用场景」.
Upstream: istio.io/latest/docs/tasks/traffic-management/egress/egress-control/.

The "external" server is a pod without sidecar and without a Service, reached by its IP with the
external host name in the Host header: the same path an egress call takes, without leaving the machine.
"""
import pytest

from fixtures.addons import istio_proxies, mesh_http
from fixtures.pods import wait_ready
from fixtures.polling import eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("istio"), pytest.mark.requires(istio=True, istio_proxy=True, images=["agnhost"])]
EXTERNAL = "api.external.test"


def _setup(ns, cluster, timeouts):
    ns.apply("istio/mesh/server.yaml", name="outside", app="outside", version="v1", inject="false")
    ns.apply("istio/mesh/client.yaml", name="client", env="test", inject="true")
    pods = {p.name: p for p in wait_ready(cluster, ns.name, "app in (outside, client)", 2, timeouts, budget="mesh_pod_start")}
    return pods["outside"].ip


def _call(cluster, ns, ip, path="/hostname") -> mesh_http.Reply:
    return mesh_http.get(cluster, ns.name, "client", f"http://{ip}:8080{path}", headers={"Host": EXTERNAL})


@pytest.mark.claim("S002-264", "S002-259", "S000-18")
def test_registry_only_blocks_an_unknown_host_until_a_serviceentry_registers_it(mesh_ns, cluster, timeouts):
    """Default ALLOW_ANY: an unknown destination goes through PassthroughCluster (200). With REGISTRY_ONLY it hits
    BlackHoleCluster (502) until a ServiceEntry registers the host; then it answers again, through the ServiceEntry's
    own cluster outbound|8080||<host>."""
    ip = _setup(mesh_ns, cluster, timeouts)
    # an HTTP Service of the mesh on port 8080 makes the client's 8080 listener HTTP, whose blackhole answers 502;
    # without one (nothing else on 8080 in the cluster) the blackhole is a TCP reset
    mesh_ns.apply("istio/mesh/service.yaml", name="http-8080", app="client", port_name="http", cluster_ip="")
    with step("Given ALLOW_ANY (no Sidecar resource): the unknown host answers through the passthrough"):
        got = eventually(lambda: _call(cluster, mesh_ns, ip), until=lambda r: r.status == 200, timeout=timeouts.xds_push, desc="passthrough")
        assert got.body.strip() == "outside", got
    with step("When the namespace's Sidecar sets outboundTrafficPolicy REGISTRY_ONLY"):
        mesh_ns.apply("istio/mesh/sidecar-registry-only.yaml", name="default")
    with step("Then the same request gets 502 from the BlackHoleCluster"):
        eventually(lambda: _call(cluster, mesh_ns, ip), until=lambda r: r.status == 502, timeout=timeouts.xds_push, desc="blackholed")
        assert "BlackHoleCluster" in istio_proxies.dynamic_clusters(cluster, mesh_ns.name, "client")
    with step("When a ServiceEntry registers the host with the server's address"):
        mesh_ns.apply("istio/mesh/serviceentry.yaml", name="external", host=EXTERNAL, address=ip)
    with step("Then it answers 200 again, and the client's proxy has the cluster outbound|8080||<host>"):
        got = eventually(lambda: _call(cluster, mesh_ns, ip), until=lambda r: r.status == 200, timeout=timeouts.xds_push, desc="registered")
        assert got.body.strip() == "outside", got
        assert f"outbound|8080||{EXTERNAL}" in istio_proxies.dynamic_clusters(cluster, mesh_ns.name, "client")


@pytest.mark.claim("S000-18", "S002-259")
def test_virtualservice_timeout_and_fault_apply_to_a_serviceentry_host(mesh_ns, cluster, timeouts):
    """Once registered by a ServiceEntry, the external host takes VirtualService policies: a 1 s delay fault delays every
    request, and a 2 s route timeout turns a 3 s upstream into 504 (Envoy's route timeout starts after the fault's
    delay, so that request takes 1 s of delay + 2 s). The timeout leaves a fast request 2 s: a loaded node's
    upstream may take over half a second."""
    ip = _setup(mesh_ns, cluster, timeouts)
    mesh_ns.apply("istio/mesh/serviceentry.yaml", name="external", host=EXTERNAL, address=ip)
    with step("Given the registered host answering in well under the 2 s timeout (a loaded node's upstream can take seconds)"):
        got = eventually(lambda: _call(cluster, mesh_ns, ip), until=lambda r: r.status == 200 and r.seconds < 1.0,
                         timeout=timeouts.xds_push, desc="registered and answering in under 1 s")
        assert got.body.strip() == "outside", got
    with step("When a VirtualService for it sets timeout 2s and a 1s delay fault"):
        mesh_ns.apply("istio/mesh/vs-fault-timeout.yaml", name="external", host=EXTERNAL, timeout="2s", delay="1s")
    with step("Then a fast request answers 200 only after the 1 s delay"):
        got = eventually(lambda: _call(cluster, mesh_ns, ip), until=lambda r: r.seconds >= 1.0, timeout=timeouts.xds_push, desc="delayed")
        assert got.status == 200, got
    with step("And a 3 s upstream gets 504 after the delay plus the 2 s timeout, before it would have answered (4 s)"):
        got = _call(cluster, mesh_ns, ip, "/shell?cmd=sleep%203")
        # Envoy's timers fire on millisecond ticks, a hair early at times (2.9986 s seen): 50 ms of tolerance
        assert got.status == 504 and got.body.strip() == "upstream request timeout" and 2.95 <= got.seconds < 4.0, got
