"""Telemetry is produced in the proxy, not by Mixer (seed 002 「Istio」 Mixer / istio-proxy reporting metrics).

Source: 002_620e0a9d2c440bc2.txt 「Istio」. Upstream: istio.io/latest/docs/reference/config/metrics/.

Mixer was removed in Istio 1.8; each sidecar's Envoy now computes Istio's standard metrics (istio.stats
filter) and exposes them on :15090/stats/prometheus, merged by pilot-agent on :15020. Stock Envoy (the
offline data plane here) lacks Istio's stats filter, so this needs the istio-proxy build of Envoy: it
runs unchanged where upstream's proxyv2 can be pulled (--images online).
"""
import pytest

from fixtures.addons import istio_proxies, mesh_http
from fixtures.pods import wait_ready
from fixtures.polling import eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("istio"),
              pytest.mark.requires(istio=True, istio_proxy=True, istio_proxy_build=True, images=["agnhost"])]


@pytest.mark.claim("S002-253")
def test_client_sidecar_counts_istio_requests_total_by_source_and_destination_workload(mesh_ns, cluster, timeouts):
    """After 10 requests, the client sidecar's Prometheus endpoint exposes istio_requests_total for the destination
    workload with response_code 200, counting at least 10; no Mixer component exists."""
    mesh_ns.apply("istio/mesh/server.yaml", name="server", app="server", version="v1", inject="true")
    mesh_ns.apply("istio/mesh/service.yaml", name="server", app="server", port_name="http", cluster_ip="")
    mesh_ns.apply("istio/mesh/client.yaml", name="client", env="test", inject="true")
    wait_ready(cluster, mesh_ns.name, "app in (server, client)", 2, timeouts, budget="mesh_pod_start")
    url = f"http://server.{mesh_ns.name}.svc.cluster.local:8080/hostname"
    with step("When the client sends 10 requests"):
        eventually(lambda: mesh_http.get(cluster, mesh_ns.name, "client", url).status, until=lambda s: s == 200,
                   timeout=timeouts.xds_push, desc="the server answering")
        assert mesh_http.statuses(cluster, mesh_ns.name, "client", url, 10) == {"200": 10}
    with step("Then its sidecar's istio_requests_total for destination workload server, code 200, is at least 11"):
        def total():
            text = istio_proxies.admin(cluster, mesh_ns.name, "client", "stats/prometheus")
            rows = [line for line in text.splitlines() if line.startswith("istio_requests_total{")
                    and 'destination_workload="server"' in line and 'response_code="200"' in line and 'reporter="source"' in line]
            return sum(float(r.rsplit(" ", 1)[1]) for r in rows)

        eventually(total, until=lambda n: n >= 11, timeout=timeouts.xds_push, desc="istio_requests_total")
