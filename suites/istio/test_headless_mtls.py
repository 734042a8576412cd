"""Headless Service + mTLS (seed 000 「istio 无头服务问题」).

The document: before Istio 1.6 a sidecar client spoke mTLS to a plain-TCP server (redis, no sidecar)
behind a headless Service and failed; the workaround was a DestinationRule disabling TLS. Today
auto-mTLS only uses mTLS towards endpoints labelled as having a sidecar, so no DestinationRule is
needed; forcing ISTIO_MUTUAL reproduces the failure. Headless Services are Passthrough in istiod's
registry (ORIGINAL_DST clusters in the proxy), ClusterIP ones ClientSide (EDS).

The config half runs against istiod alone; the traffic half needs a proxy image that can run.
"""
import pytest

import json

from fixtures.addons import istio_debug
from fixtures.addons.istio_install import client_tools, istioctl
from fixtures.polling import eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("istio"), pytest.mark.requires(istio=True, images=["agnhost", "busybox"])]
# model.Resolution in istiod's registry: ClientSideLB=0 (EDS clusters), Passthrough=2 (ORIGINAL_DST)
CLIENT_SIDE, PASSTHROUGH = 0, 2


def _fqdn(ns, name: str) -> str:
    return f"{name}.{ns.name}.svc.cluster.local"


def _names_in(configz, kind: str, namespace: str) -> set[str]:
    """Names of `kind` objects in `namespace` among istiod's ingested configs."""
    return {c["metadata"]["name"] for c in configz or []
            if c.get("kind") == kind and c.get("metadata", {}).get("namespace") == namespace}


@pytest.mark.claim("S000-27", "S002-248")
def test_destinationrule_and_strict_peerauthentication_reach_istiod_when_applied_for_a_headless_service(mesh_ns, cluster, timeouts):
    """The document's DestinationRule (tls DISABLE for the headless host) and a STRICT PeerAuthentication pass the
    API server and istiod's validation, and istiod ingests both (its /debug/configz lists them)."""
    with step("Given a plain-TCP server without a sidecar behind a headless Service"):
        mesh_ns.apply("istio/headless-mtls/server.yaml", server="redis")
    with step("When the DestinationRule (tls DISABLE) and a STRICT PeerAuthentication are applied"):
        mesh_ns.apply("istio/headless-mtls/destinationrule.yaml", name="redis-plain", host=_fqdn(mesh_ns, "redis"), mode="DISABLE")
        mesh_ns.apply("istio/headless-mtls/peerauthentication-strict.yaml", name="strict")
    with step("Then istiod's /debug/configz lists both"):
        def ingested():
            configz = istio_debug.get_json(cluster.core, "/debug/configz")
            return {"DestinationRule": _names_in(configz, "DestinationRule", mesh_ns.name),
                    "PeerAuthentication": _names_in(configz, "PeerAuthentication", mesh_ns.name)}

        eventually(ingested, until=lambda seen: "redis-plain" in seen["DestinationRule"] and "strict" in seen["PeerAuthentication"],
                   timeout=timeouts.controller_sync, desc="istiod to ingest the DR and PA")


@pytest.mark.claim("S000-28", "S002-248")
def test_headless_service_is_passthrough_and_clusterip_is_client_side_in_istiods_registry(mesh_ns, cluster, timeouts):
    """istiod registers a headless Service as Passthrough (the proxy's ORIGINAL_DST cluster) and a ClusterIP
    Service as ClientSide (an EDS cluster): "ORIGINAL_DST by default" holds only for headless/passthrough."""
    with step("Given the same server behind a headless and a ClusterIP Service"):
        mesh_ns.apply("istio/headless-mtls/server.yaml", server="redis")
    with step("Then /debug/registryz shows Resolution Passthrough for the headless one, ClientSide for the other"):
        want = {_fqdn(mesh_ns, "redis"): PASSTHROUGH, _fqdn(mesh_ns, "redis-vip"): CLIENT_SIDE}

        def registry():
            return {s["hostname"]: s.get("Resolution", CLIENT_SIDE)
                    for s in istio_debug.get_json(cluster.core, "/debug/registryz") or [] if s.get("hostname") in want}

        eventually(registry, until=lambda got: got == want, timeout=timeouts.controller_sync,
                   desc=f"istiod's registry to resolve {want}")


@pytest.mark.claim("S000-27")
@pytest.mark.requires(istio_proxy=True)
def test_sidecar_client_reaches_plain_tcp_server_behind_headless_service_when_no_destinationrule_exists(mesh_ns, cluster, timeouts):
    """Auto-mTLS sends plain TCP to an endpoint without a sidecar: the document's bug is gone, no DestinationRule needed."""
    with step("Given a plain-TCP server behind a headless Service and a sidecar-injected client"):
        _server_and_client(mesh_ns)
    with step("Then the client reads the server's hostname through its sidecar"):
        _wait_reply(cluster, mesh_ns, timeouts, lambda line: line == "reply: redis")


@pytest.mark.claim("S000-27")
@pytest.mark.requires(istio_proxy=True)
def test_istio_mutual_breaks_and_tls_disable_restores_a_plain_tcp_server_behind_headless_service(mesh_ns, cluster, timeouts):
    """Forcing ISTIO_MUTUAL towards a server without a sidecar reproduces the document's failure; tls DISABLE fixes it."""
    with step("Given a working sidecar client and plain-TCP server behind a headless Service"):
        _server_and_client(mesh_ns)
        _wait_reply(cluster, mesh_ns, timeouts, lambda line: line == "reply: redis")
    with step("When a DestinationRule forces ISTIO_MUTUAL for the headless host"):
        mesh_ns.apply("istio/headless-mtls/destinationrule.yaml", name="redis", host=_fqdn(mesh_ns, "redis"), mode="ISTIO_MUTUAL")
    with step("Then the client's connections are reset: empty replies"):
        _wait_reply(cluster, mesh_ns, timeouts, lambda line: line == "reply:")
    with step("When the DestinationRule is switched to tls DISABLE (the document's workaround)"):
        mesh_ns.apply("istio/headless-mtls/destinationrule.yaml", name="redis", host=_fqdn(mesh_ns, "redis"), mode="DISABLE")
    with step("Then the server's hostname comes back"):
        _wait_reply(cluster, mesh_ns, timeouts, lambda line: line == "reply: redis")


@pytest.mark.claim("S000-28")
@pytest.mark.requires(istio_proxy=True)
def test_proxy_cluster_is_original_dst_for_headless_and_eds_for_clusterip_when_the_client_has_a_sidecar(mesh_ns, cluster, timeouts):
    """In the client's Envoy, the headless Service's outbound cluster is ORIGINAL_DST, the ClusterIP one EDS."""
    with step("Given the server behind both Services and a sidecar-injected client"):
        _server_and_client(mesh_ns)
        _wait_reply(cluster, mesh_ns, timeouts, lambda line: line.startswith("reply:"))
    with step("Then istioctl proxy-config cluster reports ORIGINAL_DST and EDS respectively"):
        tools = client_tools()

        def types():
            out = {}
            for svc in ("redis", "redis-vip"):
                res = json.loads(istioctl(tools, cluster, "proxy-config", "cluster", f"client.{mesh_ns.name}",
                                          "--fqdn", _fqdn(mesh_ns, svc), "-o", "json", timeout=timeouts.apply).stdout or "[]")
                out[svc] = sorted({c.get("type", "EDS" if c.get("edsClusterConfig") else "?") for c in res})
            return out

        eventually(types, until=lambda got: got == {"redis": ["ORIGINAL_DST"], "redis-vip": ["EDS"]},
                   timeout=timeouts.network_programming, desc="outbound cluster types")


def _server_and_client(ns):
    """The plain-TCP server "redis" (headless and ClusterIP Services) and the injected client reading it."""
    ns.apply("istio/headless-mtls/server.yaml", server="redis")
    ns.apply("istio/headless-mtls/client.yaml", name="client", target=_fqdn(ns, "redis"))


def _wait_reply(cluster, ns, timeouts, ok):
    def last_line():
        log = cluster.core.read_namespaced_pod_log("client", ns.name, container="client", tail_lines=1)
        return log.strip()

    eventually(last_line, until=ok, timeout=timeouts.pod_start, desc="the client's latest reply")
