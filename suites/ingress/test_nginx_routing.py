"""Ingress routing through ingress-nginx: host and path fan-out, the default backend, classes, host ports, Pod
upstreams and endpoint changes without reloads.

Source: 003_d8925e36aedd8024.txt 「Ingress」 and 「Nginx Ingress Controller」; 002_620e0a9d2c440bc2.txt 「Ingress」.
Upstream: kubernetes.io/docs/concepts/services-networking/ingress/, kubernetes.github.io/ingress-nginx
(deploy/#kind, user-guide/nginx-configuration/annotations/#service-upstream).
"""
from __future__ import annotations

import re

import pytest

from fixtures import namespaces
from fixtures.addons import ingress_http as web
from fixtures.addons.ingress_nginx import NAME, NAMESPACE, NODE_LABEL, controller_pod
from fixtures.pods import unschedulable_because, view, wait_pod
from fixtures.polling import consistently, eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("ingress"), pytest.mark.requires(ingress=True, images=["nginx", "busybox"])]


@pytest.fixture(scope="module")
def site(module_ns, ingress, cluster, timeouts):
    """Given svc-a, svc-b and fallback echo backends and the document's fan-out Ingress, served."""
    web.deploy_echo(module_ns, cluster, timeouts, {"svc-a": 1, "svc-b": 1, "fallback": 1, "svc-vip": 1})
    module_ns.apply("ingress/routing/fanout.yaml")
    web.wait_routed(ingress, f"a.{module_ns.name}.test", "/", "svc-a", timeouts)
    return module_ns


def host(site, name: str) -> str:
    return f"{name}.{site.name}.test"


@pytest.mark.claim("S003-108")
def test_hosts_and_paths_fan_out_to_their_services_and_unknown_hosts_reach_the_default_backend(site, ingress, timeouts):
    """Ingress is the entry that forwards outside requests to different Services: a.test/ -> svc-a,
    b.test/api -> svc-b, and a host no rule names -> the default backend (in ingress-nginx: the defaultBackend
    of an Ingress without rules; an Ingress's defaultBackend beside rules serves its hosts' unmatched paths)."""
    with step("When a.test/, b.test/api/x and an unknown host are requested on the node's port 80"):
        a = web.get(ingress, host(site, "a"), "/anything")
        b = web.get(ingress, host(site, "b"), "/api/x")
        other = web.wait_routed(ingress, host(site, "nowhere"), "/", "fallback", timeouts)
    with step("Then each is answered by its Service's pod, with the path unchanged"):
        assert (web.backend_of(a.pod), a.echo.get("uri")) == ("svc-a", "/anything"), f"a.test/anything: {a}"
        assert (web.backend_of(b.pod), b.echo.get("uri")) == ("svc-b", "/api/x"), f"b.test/api/x: {b}"
        assert web.backend_of(other.pod) == "fallback", f"unknown host: {other}"
    with step("And a path b.test has no rule for is not sent to svc-b (negative control)"):
        miss = web.get(ingress, host(site, "b"), "/other")
        assert web.backend_of(miss.pod) != "svc-b", f"b.test/other: {miss}"


@pytest.mark.claim("S002-212")
def test_prefix_matches_whole_path_elements_and_exact_matches_only_the_path_itself(site, ingress):
    """networking.k8s.io/v1 requires a pathType: Prefix /api matches /api and /api/x but not /apix; Exact /exact
    matches /exact only."""
    b = host(site, "b")
    with step("When b.test is asked for /api, /api/x, /apix, /exact and /exact/x"):
        seen = {p: web.backend_of(web.get(ingress, b, p).pod) for p in ("/api", "/api/x", "/apix", "/exact", "/exact/x")}
    with step("Then Prefix matched /api and /api/x, not /apix; Exact matched /exact, not /exact/x"):
        assert seen == {"/api": "svc-b", "/api/x": "svc-b", "/apix": "fallback", "/exact": "svc-a", "/exact/x": "fallback"}, seen


@pytest.mark.claim("S002-210", "S003-112")
def test_only_an_ingress_of_the_controllers_class_is_served_and_no_ingress_creates_pods(site, ingress, cluster, timeouts):
    """An Ingress is only rules: creating one starts no pod; the controller serves (and publishes a status for)
    Ingresses of its class `nginx` and ignores another class: no route, empty status.loadBalancer."""
    pods_before = sorted(p.metadata.name for p in cluster.core.list_namespaced_pod(site.name).items)
    with step("Given an Ingress of class `nope` for svc-b, then one of class nginx for svc-a"):
        # in this order, the status sync that publishes `served` has seen `ignored` too
        site.apply("ingress/routing/classed.yaml", name="ignored", class_name="nope", host=host(site, "ignored"),
                   backend="svc-b", service_upstream="false")
        site.apply("ingress/routing/classed.yaml", name="served", class_name="nginx", host=host(site, "served"),
                   backend="svc-a", service_upstream="false")
    with step("Then the nginx one routes and gets status.loadBalancer from the controller"):
        web.wait_routed(ingress, host(site, "served"), "/", "svc-a", timeouts)
        # the controller writes Ingress status on a 60 s tick (ingress-nginx status.UpdateInterval), not per change
        status = eventually(lambda: _lb(cluster, site.name, "served"), until=bool, timeout=timeouts.ingress_status_sync,
                            desc="status.loadBalancer of Ingress served")
        assert status, status
    with step("And the `nope` one never routes to svc-b and keeps an empty status"):
        consistently(lambda: (web.backend_of(web.get(ingress, host(site, "ignored"), "/").pod), _lb(cluster, site.name, "ignored")),
                     holds=lambda s: s[0] != "svc-b" and not s[1], duration=timeouts.short_hold, desc="Ingress `ignored` unserved")
    with step("And the namespace has exactly the pods it had before the Ingresses"):
        assert sorted(p.metadata.name for p in cluster.core.list_namespaced_pod(site.name).items) == pods_before


def _lb(cluster, namespace: str, name: str) -> list:
    ing = cluster.dynamic.resources.get(api_version="networking.k8s.io/v1", kind="Ingress").get(name=name, namespace=namespace)
    return [dict(i) for i in ((ing.status or {}).get("loadBalancer") or {}).get("ingress") or []]


@pytest.mark.claim("S003-113")
def test_the_controller_binds_host_ports_80_and_443_of_the_ingress_ready_node(site, ingress, cluster, timeouts):
    """nginx-ingress binds the node's ports 80 and 443 through hostPort (kind deployment: on the node labelled
    ingress-ready=true); a second pod wanting the same host port cannot be placed on that node."""
    with step("Then the controller declares hostPort 80 and 443 and runs on the ingress-ready node"):
        spec = cluster.apps.read_namespaced_deployment(NAME, NAMESPACE).spec.template.spec
        ports = sorted((p.container_port, p.host_port) for p in spec.containers[0].ports if p.host_port)
        assert ports == [(80, 80), (443, 443)], ports
        labels = cluster.core.read_node(ingress.node).metadata.labels
        assert labels.get(NODE_LABEL) == "true", f"{ingress.node} labels: {labels}"
    with step(f"And the node's address {ingress.node_ip}:80 and :443 reach nginx"):
        assert web.backend_of(web.get(ingress, host(site, "a"), "/").pod) == "svc-a"
        tls = web.get(ingress, host(site, "a"), "/", tls=True)
        assert web.backend_of(tls.pod) == "svc-a", f"https://{host(site, 'a')}/: {tls}"
    with step("When a pod asking hostPort 80 is pinned to the same node"):
        site.apply("ingress/routing/hostport-claimant.yaml", name="claimant", node_label=NODE_LABEL)
    with step("Then it stays Pending: the node has no free port 80"):
        wait_pod(cluster, site.name, "claimant", unschedulable_because("didn't have free ports"), timeouts)
        assert view(cluster, site.name, "claimant").phase == "Pending"


_UPSTREAM = re.compile(r'"GET (?P<path>\S+) HTTP/1\.1" \d+ .*? \[(?P<upstream>[^\]]*)\] \[[^\]]*\] (?P<addr>\S+) ')


def upstream_addr(cluster, pod: str, path: str) -> str:
    """The $upstream_addr the controller's access log recorded for a request of `path` (AssertionError until logged)."""
    log = cluster.core.read_namespaced_pod_log(pod, NAMESPACE, container="controller", tail_lines=400)
    found = [m["addr"] for m in _UPSTREAM.finditer(log) if m["path"] == path]
    assert found, f"no access-log line for GET {path}"
    return found[-1]


@pytest.mark.claim("S002-211")
def test_upstreams_are_pod_addresses_unless_service_upstream_selects_the_cluster_ip(site, ingress, cluster, timeouts):
    """The controller forwards straight to the Service's pods (addresses from EndpointSlices, bypassing kube-proxy);
    nginx.ingress.kubernetes.io/service-upstream: "true" makes the ClusterIP the upstream instead."""
    pod_ip = cluster.core.list_namespaced_pod(site.name, label_selector="app=svc-b").items[0].status.pod_ip
    cluster_ip = cluster.core.read_namespaced_service("svc-vip", site.name).spec.cluster_ip
    with step("Given svc-b behind an Ingress, and svc-vip behind one with service-upstream: true"):
        site.apply("ingress/routing/classed.yaml", name="direct", class_name="nginx", host=host(site, "direct"),
                   backend="svc-b", service_upstream="false")
        site.apply("ingress/routing/classed.yaml", name="via-vip", class_name="nginx", host=host(site, "via-vip"),
                   backend="svc-vip", service_upstream="true")
        web.wait_routed(ingress, host(site, "direct"), "/", "svc-b", timeouts)
        web.wait_routed(ingress, host(site, "via-vip"), "/", "svc-vip", timeouts)
    with step("When each host is asked for a path of its own"):
        web.get(ingress, host(site, "direct"), f"/direct-{site.name}")
        web.get(ingress, host(site, "via-vip"), f"/via-vip-{site.name}")
    with step(f"Then the access log's $upstream_addr is the pod {pod_ip}:8080, and the ClusterIP {cluster_ip}:80 with service-upstream"):
        direct = eventually(lambda: upstream_addr(cluster, controller_pod(cluster), f"/direct-{site.name}"), timeout=timeouts.apply, desc="access log")
        via_vip = eventually(lambda: upstream_addr(cluster, controller_pod(cluster), f"/via-vip-{site.name}"), timeout=timeouts.apply, desc="access log")
        assert (direct, via_vip) == (f"{pod_ip}:8080", f"{cluster_ip}:80"), (direct, via_vip)


def checksum(conf: str) -> str:
    m = re.search(r"# Configuration checksum: (\d+)", conf)
    return m.group(1) if m else ""


def _settled_checksum(cluster, ingress, timeouts) -> str:
    """The configuration checksum, once it has held for `short_hold` (AssertionError, i.e. "not yet", if it moved)."""
    first = checksum(web.nginx_conf(cluster, ingress))
    consistently(lambda: checksum(web.nginx_conf(cluster, ingress)), holds=lambda c: c == first, duration=timeouts.short_hold,
                 desc="nginx.conf checksum unchanged")
    return first


@pytest.mark.serial
@pytest.mark.claim("S003-109")
def test_scaling_a_backend_changes_upstreams_without_a_reload_and_a_new_host_reloads(site, ingress, cluster, timeouts):
    """The controller watches the API and updates the proxy: a backend scaled from 1 to 3 pods is balanced over all
    three within seconds without an nginx reload (the Lua balancer); a new Ingress host reloads nginx."""
    with step("Given the controller at rest: no namespace (and its Ingresses) still going, nginx.conf unchanged for a while"):
        eventually(lambda: namespaces.terminating(cluster.core), until=lambda going: not going, timeout=timeouts.cleanup,
                   desc="no namespace being deleted")
        before = eventually(lambda: _settled_checksum(cluster, ingress, timeouts), until=bool, timeout=timeouts.controller_sync,
                            desc="an nginx.conf checksum that holds")
    with step("When svc-b is scaled from 1 to 3 pods"):
        cluster.apps.patch_namespaced_deployment_scale("svc-b", site.name, {"spec": {"replicas": 3}})
        eventually(lambda: web.pods_answering(ingress, host(site, "b"), "/api", 12), until=lambda c: len(c) == 3,
                   timeout=timeouts.pod_start, desc="b.test/api answered by 3 distinct svc-b pods")
    with step("Then nginx was not reloaded: nginx.conf still carries the same configuration checksum"):
        assert checksum(web.nginx_conf(cluster, ingress)) == before != ""
    with step("When an Ingress for a new host is added"):
        site.apply("ingress/routing/classed.yaml", name="newhost", class_name="nginx", host=host(site, "newhost"),
                   backend="svc-a", service_upstream="false")
        web.wait_routed(ingress, host(site, "newhost"), "/", "svc-a", timeouts)
    with step("Then nginx.conf was rewritten for a reload (a new checksum)"):
        assert checksum(web.nginx_conf(cluster, ingress)) != before
