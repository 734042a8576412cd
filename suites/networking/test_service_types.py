"""Service types from outside the pod network: NodePort with externalTrafficPolicy Cluster and Local,
LoadBalancer without a provider, externalIPs, the ClusterIP seen from the kind host, and the API server's
service proxy. The client is the test host on the kind docker network, as an external client would be.

Source: seed 002 「Service」(YAML), 「Service的几种设置」. Upstream: kubernetes.io/docs/concepts/services-networking/
service/ (type, externalTrafficPolicy, externalIPs and CVE-2020-8554), the API's service proxy subresource.
"""
import pytest

from fixtures.api_calls import create_raw
from fixtures.extra_clusters import KUBE_PROXY_MODES
from fixtures.manifests import render
from fixtures.node_network import http_get, http_get_on_node, local_address_towards, node_ip
from fixtures.nodes import wait_kubelet_nodes
from fixtures.pods import wait_ready
from fixtures.polling import consistently, eventually
from fixtures.reporting import step
from fixtures.services import api_get, service

pytestmark = [pytest.mark.area("networking"), pytest.mark.requires(images=["agnhost"], node_access=True, multinode=True),
              pytest.mark.xdist_group("networking-types"),
              pytest.mark.parametrize("kube_proxy_mode", KUBE_PROXY_MODES, scope="module")]

ECHO = "echo"


@pytest.fixture(scope="module")
def nodes(kube_proxy_module_ns, timeouts):
    """One backend pod `echo` on node A; node B has none. Returns (A, B)."""
    module_ns, cluster = kube_proxy_module_ns, kube_proxy_module_ns.cluster
    a, b = wait_kubelet_nodes(cluster, 2, timeouts)[:2]
    module_ns.apply("networking/services/server.yaml", name=ECHO, app=ECHO, node=a)
    wait_ready(cluster, module_ns.name, f"app={ECHO}", 1, timeouts)
    return a, b


def _answer(ip, port, timeouts, until=lambda a: a.body is not None, path="/clientip"):
    return eventually(lambda: http_get(ip, port, path), until=until, timeout=timeouts.network_programming, desc=f"{ip}:{port}{path}")


@pytest.mark.claim("S002-178")
def test_the_documents_nodeport_service_gets_a_port_from_the_range_and_defaults(kube_proxy_module_ns):
    """The document's Service `order` (NodePort, sessionAffinity None, externalTrafficPolicy Cluster) is valid;
    a nodePort is allocated from 30000-32767, internalTrafficPolicy defaults to Cluster, ipFamilyPolicy to SingleStack."""
    module_ns, cluster = kube_proxy_module_ns, kube_proxy_module_ns.cluster
    with step("When the document's Service is applied"):
        module_ns.apply("networking/services/doc-order.yaml")
        order = service(cluster, module_ns.name, "order")
    with step(f"Then nodePort {order.node_port()} is in 30000-32767"):
        assert 30000 <= order.node_port() <= 32767, order.ports
    with step("And internalTrafficPolicy is Cluster and ipFamilyPolicy SingleStack"):
        assert order.spec["internalTrafficPolicy"] == "Cluster" and order.spec["ipFamilyPolicy"] == "SingleStack", order.spec


@pytest.mark.claim("S002-194")
def test_nodeport_with_cluster_policy_answers_on_every_node_and_snats_the_client(kube_proxy_module_ns, nodes, timeouts):
    """With externalTrafficPolicy: Cluster the NodePort answers on every node's InternalIP, including a node
    without an endpoint, and the backend sees a node address as source, not the client's."""
    module_ns, cluster = kube_proxy_module_ns, kube_proxy_module_ns.cluster
    a, b = nodes
    module_ns.apply("networking/services/exposed.yaml", name="np-cluster", type="NodePort", policy="Cluster", app=ECHO)
    port = service(cluster, module_ns.name, "np-cluster").node_port()
    for node in (a, b):
        ip = node_ip(cluster, node)
        me = local_address_towards(ip)
        with step(f"Then {node} ({'with' if node == a else 'without'} the endpoint) answers on {ip}:{port}"):
            seen = _answer(ip, port, timeouts).body.rsplit(":", 1)[0]
        with step(f"And the backend saw {seen}, not the client {me}"):
            assert seen != me, f"{ip}:{port}: the backend saw the client's own address {me}"


@pytest.mark.claim("S002-194")
def test_nodeport_with_local_policy_answers_only_where_an_endpoint_runs_and_keeps_the_client_ip(kube_proxy_module_ns, nodes, timeouts):
    """With externalTrafficPolicy: Local only nodes hosting a ready endpoint answer (others drop: the client
    times out) and the backend sees the real client IP; healthCheckNodePort is allocated for LoadBalancer only."""
    module_ns, cluster = kube_proxy_module_ns, kube_proxy_module_ns.cluster
    a, b = nodes
    ns = module_ns.name
    module_ns.apply("networking/services/exposed.yaml", name="np-local", type="NodePort", policy="Local", app=ECHO)
    local = service(cluster, ns, "np-local")
    port, ip_a, ip_b = local.node_port(), node_ip(cluster, a), node_ip(cluster, b)
    me = local_address_towards(ip_a)
    with step(f"Then {a} (with the endpoint) answers on {ip_a}:{port} and the backend saw the client {me}"):
        assert _answer(ip_a, port, timeouts).body.rsplit(":", 1)[0] == me
    with step(f"And {b} (no endpoint) does not answer on {ip_b}:{port}"):
        consistently(lambda: http_get(ip_b, port, "/clientip"), holds=lambda r: r.body is None, duration=timeouts.short_hold,
                     desc=f"{ip_b}:{port} silent")
    with step("And the NodePort Service has no healthCheckNodePort, a Local LoadBalancer has one"):
        module_ns.apply("networking/services/exposed.yaml", name="lb-local", type="LoadBalancer", policy="Local", app=ECHO)
        assert not local.spec.get("healthCheckNodePort") and service(cluster, ns, "lb-local").spec.get("healthCheckNodePort"), local.spec


@pytest.mark.claim("S002-194")
def test_a_nodeport_outside_the_range_or_already_taken_is_rejected(kube_proxy_module_ns, nodes):
    """nodePort 80 is outside 30000-32767 and rejected; so is a nodePort another Service holds."""
    module_ns, cluster = kube_proxy_module_ns, kube_proxy_module_ns.cluster
    ns = module_ns.name
    module_ns.apply("networking/services/exposed.yaml", name="holder", type="NodePort", policy="Cluster", app=ECHO)
    taken = service(cluster, ns, "holder").node_port()
    for port, why in ((80, "outside the range"), (taken, "already allocated")):
        with step(f"Then a Service asking for nodePort {port} ({why}) is refused with 422"):
            answer = create_raw(cluster, render("networking/services/nodeport-fixed.yaml", name=f"np-{port}", node_port=port)[0], ns)
            assert answer.status == 422, f"nodePort {port}: {answer}"


@pytest.mark.claim("S002-195")
def test_a_load_balancer_without_a_provider_gets_a_nodeport_and_stays_pending(kube_proxy_module_ns, nodes, timeouts):
    """Without a cloud controller (default kind), a LoadBalancer Service gets a nodePort (allocateLoadBalancerNodePorts
    defaults to true) and status.loadBalancer stays empty: EXTERNAL-IP <pending>. The nodePort serves."""
    module_ns, cluster = kube_proxy_module_ns, kube_proxy_module_ns.cluster
    a, _ = nodes
    module_ns.apply("networking/services/exposed.yaml", name="lb", type="LoadBalancer", policy="Cluster", app=ECHO)
    lb = service(cluster, module_ns.name, "lb")
    with step(f"Then it has nodePort {lb.node_port()} and allocateLoadBalancerNodePorts true"):
        assert lb.node_port() and lb.spec["allocateLoadBalancerNodePorts"] is True, lb.spec
    with step("And the nodePort answers"):
        _answer(node_ip(cluster, a), lb.node_port(), timeouts)
    with step("And status.loadBalancer.ingress stays empty"):
        consistently(lambda: service(cluster, module_ns.name, "lb").lb_ingress, holds=lambda i: i == [], duration=timeouts.short_hold,
                     desc="no load balancer ingress")


@pytest.mark.claim("S002-197")
def test_kube_proxy_forwards_traffic_for_an_external_ip_that_reaches_a_node(kube_proxy_module_ns, nodes, timeouts):
    """kube-proxy DNATs traffic arriving at a node for externalIPs[i]:port to the backends (getting the IP
    routed to a node is the admin's job; DenyServiceExternalIPs would refuse the Service, CVE-2020-8554)."""
    module_ns, cluster = kube_proxy_module_ns, kube_proxy_module_ns.cluster
    _, b = nodes
    external = "192.0.2.10"  # TEST-NET-1: no one routes it; only kube-proxy's rule gives it meaning
    with step(f"Given nothing answers {external}:80 from node {b}"):
        assert http_get_on_node(cluster, b, f"http://{external}/hostname", timeout=1).body is None
    with step(f"When Service ext-ip lists externalIPs [{external}] (the API admits it: no DenyServiceExternalIPs)"):
        module_ns.apply("networking/services/external-ips.yaml", name="ext-ip", app=ECHO, external_ip=external)
    with step(f"Then a request from {b} to {external}:80 is answered by the backend"):
        eventually(lambda: http_get_on_node(cluster, b, f"http://{external}/hostname", timeout=1), until=lambda r: r.body == ECHO,
                   timeout=timeouts.network_programming, desc=f"{external}:80 answered by {ECHO}")


@pytest.mark.claim("S002-193")
def test_cluster_ip_is_internal_and_the_api_server_proxies_services_on_the_new_path(kube_proxy_module_ns, nodes, timeouts):
    """A ClusterIP is not reachable from outside the cluster network (the kind host); the API server's service
    proxy is /api/v1/namespaces/{ns}/services/{name[:port]}/proxy/{path}; the old /api/v1/proxy/... path is gone."""
    module_ns, cluster = kube_proxy_module_ns, kube_proxy_module_ns.cluster
    a, _ = nodes
    ns = module_ns.name
    module_ns.apply("networking/services/exposed.yaml", name="inside", type="NodePort", policy="Cluster", app=ECHO)
    inside = service(cluster, ns, "inside")
    with step(f"Given the Service answers on its NodePort {inside.node_port()} from the host (negative control)"):
        assert _answer(node_ip(cluster, a), inside.node_port(), timeouts, path="/hostname").body == ECHO
    with step(f"Then its ClusterIP {inside.cluster_ip}:80 does not answer the host"):
        assert http_get(inside.cluster_ip, 80, "/hostname", timeout=1).body is None
    with step("And the service proxy path reaches the backend"):
        status, body = api_get(cluster, f"/api/v1/namespaces/{ns}/services/inside:http/proxy/hostname")
        assert (status, body.strip()) == (200, ECHO), (status, body[:300])
    with step("And the document's /api/v1/proxy/namespaces/... path answers 404"):
        status, body = api_get(cluster, f"/api/v1/proxy/namespaces/{ns}/services/inside/hostname")
        assert status == 404, f"[behaviour-changed] old proxy path: {status} {body[:300]}"
