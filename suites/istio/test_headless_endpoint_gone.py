"""A kept-alive connection to a pod IP whose pod is gone (seed 000 「istio 无头服务问题」 问题2).

Source: 000_b2af30f51f81eada.txt ## 2021-02-18~21 › ### istio 无头服务问题 › #### 问题2.
Upstream: envoyproxy.io original destination cluster.

The document: a client reaching a pod IP directly (a headless Service, or a registry like Eureka) over
HTTP keep-alive keeps its connection to its own Envoy when the pod disappears; its next request on that
connection gets Envoy's 503 "upstream connect error or disconnect/reset before headers. reset reason:
connection failure" instead of a TCP reset. Headless destinations are ORIGINAL_DST clusters: Envoy
connects to the address the client dialled, gone or not.
"""
import pytest

from fixtures.podexec import exec_in
from fixtures.pods import wait_gone, wait_ready
from fixtures.polling import eventually
from fixtures.reporting import attach_text, step

pytestmark = [pytest.mark.area("istio"), pytest.mark.requires(istio=True, istio_proxy=True, images=["agnhost"])]
GAP = 12  # seconds between the two requests on one connection: the pod is deleted in between


@pytest.mark.claim("S000-29")
@pytest.mark.slow
def test_second_request_on_a_kept_alive_connection_gets_envoys_503_after_the_pod_ip_is_gone(mesh_ns, cluster, timeouts):
    """Request 1 on a keep-alive connection to the pod IP answers 200; the pod is deleted; request 2 on the SAME
    connection (still open to the client's own Envoy) answers Envoy's 503 "upstream connect error or disconnect/reset
    before headers", not a TCP reset. The reset reason names how the vanished address failed to answer."""
    ns = mesh_ns
    ns.apply("istio/mesh/server.yaml", name="server", app="server", version="v1", inject="false")
    ns.apply("istio/mesh/service.yaml", name="server-h", app="server", port_name="http", cluster_ip="None")
    ns.apply("istio/mesh/client.yaml", name="client", env="test", inject="true")
    pods = {p.name: p for p in wait_ready(cluster, ns.name, "app in (server, client)", 2, timeouts, budget="mesh_pod_start")}
    host = f"server-h.{ns.name}.svc.cluster.local:8080"
    req = f"GET /hostname HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n"
    with step("Given one connection from the client to the server pod's IP carrying a first request"):
        pipeline = f"(printf '{req}'; sleep {GAP}; printf '{req}'; sleep 60) | nc {pods['server'].ip} 8080 >/tmp/replies 2>&1"
        script = f"( {pipeline} ) </dev/null >/dev/null 2>&1 &"
        exec_in(cluster, ns.name, "client", "app", ["sh", "-c", script])

        def replies():
            return exec_in(cluster, ns.name, "client", "app", ["cat", "/tmp/replies"]).stdout

        eventually(replies, until=lambda out: "HTTP/1.1 200" in out, timeout=timeouts.xds_push, desc="the first reply")
    with step("When the server pod is deleted before the second request"):
        cluster.core.delete_namespaced_pod("server", ns.name, grace_period_seconds=0)
        wait_gone(cluster, ns.name, "server", timeouts)
    with step("Then the second reply on the same connection is Envoy's 503 upstream connect error"):
        out = eventually(replies, until=lambda o: o.count("HTTP/1.1 ") >= 2, timeout=GAP + 2 * timeouts.xds_push,
                         desc="the second reply")
        attach_text("replies", out)
        second = out[out.index("HTTP/1.1 ", out.index("HTTP/1.1 200") + 1):]
        assert second.startswith("HTTP/1.1 503"), second
        assert "upstream connect error or disconnect/reset before headers" in second, second
        reason = second.rsplit("reset reason: ", 1)[-1].strip()
        # the reset reason depends on how the network answers for a vanished IP: a refusal or an ICMP error gives
        # "connection failure" (the document; today's Envoy says "remote connection failure"), silently dropped
        # packets give Envoy's connect timeout; both were seen on this flannel kind cluster
        assert reason in ("connection failure", "remote connection failure", "connection timeout"), second
