"""Endpoints and EndpointSlices: which Services get them, what they list, who keeps them current,
and that kube-proxy forwards from EndpointSlices.

Source: seed 000, 2021-01-11~17 › [每日一问] k8s 集群什么条件下会产生endpoint 事件?; seed 002 「Service」,
「Endpoints的作用」. Upstream: kubernetes.io/docs/concepts/services-networking/endpoint-slices/ (Endpoints
deprecated since 1.33; EndpointSliceMirroring controller).
"""
import pytest
from kubernetes.client.rest import ApiException

from fixtures.extra_clusters import KUBE_PROXY_MODES
from fixtures.nodes import kubelet_nodes
from fixtures.podexec import exec_in
from fixtures.pods import ready_pods, wait_ready
from fixtures.polling import consistently, eventually
from fixtures.reporting import step
from fixtures.services import MANAGED_BY_LABEL, endpoint_slices, endpoints, service

pytestmark = [pytest.mark.area("networking"), pytest.mark.requires(images=["agnhost"]),
              pytest.mark.xdist_group("networking-endpoints"),
              pytest.mark.parametrize("kube_proxy_mode", KUBE_PROXY_MODES, scope="module")]

WEB, CLIENT = "web", "client"
MIRROR_MANAGER = "endpointslicemirroring-controller.k8s.io"
SLICE_MANAGER = "endpointslice-controller.k8s.io"


@pytest.fixture(scope="module")
def web(kube_proxy_module_ns, timeouts):
    """2 ready netexec backends behind Service `web`, and a client pod: shared by the module's claims."""
    module_ns, cluster = kube_proxy_module_ns, kube_proxy_module_ns.cluster
    module_ns.apply("networking/services/backends.yaml", name=WEB, replicas=2)
    module_ns.apply("networking/services/client.yaml", name=CLIENT, node=kubelet_nodes(cluster)[0])
    pods = wait_ready(cluster, module_ns.name, f"app={WEB}", 2, timeouts)
    wait_ready(cluster, module_ns.name, "role=client", 1, timeouts)
    return sorted(p.ip for p in pods)


def _get(cluster, namespace: str, url: str) -> str | None:
    res = exec_in(cluster, namespace, CLIENT, "client", ["curl", "-sS", "-m", "2", url])
    return res.stdout.strip() if res.returncode == 0 else None


@pytest.mark.claim("S000-01", "S002-175")
def test_selector_service_gets_endpoints_and_slices_listing_its_ready_pods(kube_proxy_module_ns, web, timeouts):
    """Creating a Service with a selector makes the endpoints controller create an Endpoints object of the
    same name and the EndpointSlice controller slices labelled kubernetes.io/service-name, both listing the
    ready pods' IPs and target ports (conditions.ready=true); the ClusterIP forwards to them."""
    module_ns, cluster = kube_proxy_module_ns, kube_proxy_module_ns.cluster
    with step("Given Service web selecting 2 ready pods"):
        svc = service(cluster, module_ns.name, WEB)
    with step("Then its Endpoints object lists both pod IPs as ready addresses with the target ports"):
        ep = eventually(lambda: endpoints(cluster, module_ns.name, WEB), until=lambda e: e is not None and list(e.ready) == web,
                        timeout=timeouts.controller_sync, desc="Endpoints web lists both pods")
        assert ep.ports == (8080, 8081) and not ep.not_ready, f"Endpoints web: {ep}"
    with step("And its EndpointSlices (managed by the EndpointSlice controller) list both pods with ready=true"):
        slices = eventually(lambda: endpoint_slices(cluster, module_ns.name, WEB), until=lambda s: list(s.ready) == web,
                            timeout=timeouts.controller_sync, desc="slices of web list both pods ready")
        assert {s.managed_by for s in slices.slices} == {SLICE_MANAGER}, f"slices: {slices}"
        assert slices.ports == {("http", 8080, "TCP"), ("udp", 8081, "UDP")}, f"slice ports: {slices.ports}"
    with step(f"And the ClusterIP {svc.cluster_ip}:80 reaches both pods"):
        names = {p.name for p in ready_pods(cluster, module_ns.name, f"app={WEB}")}
        seen = set()
        eventually(lambda: seen.add(_get(cluster, module_ns.name, f"http://{svc.cluster_ip}/hostname")) or seen,
                   until=lambda s: names <= s, timeout=timeouts.network_programming, desc="both backends answer on the ClusterIP")


@pytest.mark.claim("S000-01", "S002-182")
def test_selectorless_service_gets_neither_endpoints_nor_slices(kube_proxy_module_ns, web, timeouts):
    """Only a Service with a selector gets controller-made Endpoints/EndpointSlices; one without a
    selector gets neither (the selector Service `web` beside it has both: the negative control)."""
    module_ns, cluster = kube_proxy_module_ns, kube_proxy_module_ns.cluster
    with step("Given a Service without a selector, next to Service web which has one"):
        module_ns.apply("networking/services/selectorless.yaml", name="bare")
        assert endpoints(cluster, module_ns.name, WEB) is not None
    with step("Then no Endpoints object and no EndpointSlice appear for it"):
        consistently(lambda: (endpoints(cluster, module_ns.name, "bare"), len(endpoint_slices(cluster, module_ns.name, "bare"))),
                     holds=lambda o: o == (None, 0), duration=timeouts.short_hold, desc="nothing made for Service bare")


@pytest.mark.claim("S000-01", "S002-182")
def test_endpoints_follow_pod_labels_and_scale_to_zero_keeps_the_objects(kube_proxy_module_ns, web, timeouts):
    """Relabelling a pod out of the selector removes its address within seconds (and the ReplicaSet's
    replacement is added); scaling to 0 empties the addresses but keeps Endpoints and slices."""
    module_ns, cluster = kube_proxy_module_ns, kube_proxy_module_ns.cluster
    ns = module_ns.name
    module_ns.apply("networking/services/backends.yaml", name="churn", replicas=2)
    leaver = wait_ready(cluster, ns, "app=churn", 2, timeouts)[0]
    with step(f"When pod {leaver.name} ({leaver.ip}) is relabelled out of the selector"):
        cluster.core.patch_namespaced_pod(leaver.name, ns, {"metadata": {"labels": {"app": "gone"}}})
    with step("Then its address leaves the Endpoints and the slices"):
        eventually(lambda: (endpoints(cluster, ns, "churn"), endpoint_slices(cluster, ns, "churn")),
                   until=lambda o: leaver.ip not in o[0].ready and leaver.ip not in o[1].addresses,
                   timeout=timeouts.controller_sync, desc=f"{leaver.ip} removed")
    with step("When the Deployment is scaled to 0"):
        cluster.apps.patch_namespaced_deployment_scale("churn", ns, {"spec": {"replicas": 0}})
    with step("Then the addresses empty, and the Endpoints object and the slices remain"):
        ep, slices = eventually(lambda: (endpoints(cluster, ns, "churn"), endpoint_slices(cluster, ns, "churn")),
                                until=lambda o: o[0] is not None and not o[0].ready and not o[1].addresses,
                                timeout=timeouts.controller_sync, desc="churn emptied")
        assert len(slices) >= 1, f"the EndpointSlice of churn was deleted: Endpoints {ep}, slices {slices}"


@pytest.mark.claim("S002-182")
def test_deleting_a_service_deletes_its_endpoints_and_slices(kube_proxy_module_ns, web, timeouts):
    """When a Service is deleted, its Endpoints object and its EndpointSlices are deleted too."""
    module_ns, cluster = kube_proxy_module_ns, kube_proxy_module_ns.cluster
    ns = module_ns.name
    with step("Given Service doomed selecting the web pods, with its Endpoints and slices in place"):
        module_ns.apply("networking/services/backends.yaml", name="doomed", replicas=0)
        cluster.core.patch_namespaced_service("doomed", ns, {"spec": {"selector": {"app": WEB}}})
        eventually(lambda: (endpoints(cluster, ns, "doomed"), endpoint_slices(cluster, ns, "doomed")),
                   until=lambda o: o[0] is not None and list(o[0].ready) == web and list(o[1].ready) == web,
                   timeout=timeouts.controller_sync, desc="doomed has Endpoints and slices")
    with step("When the Service is deleted"):
        cluster.core.delete_namespaced_service("doomed", ns)
    with step("Then its Endpoints and EndpointSlices are gone"):
        eventually(lambda: (endpoints(cluster, ns, "doomed"), len(endpoint_slices(cluster, ns, "doomed"))),
                   until=lambda o: o == (None, 0), timeout=timeouts.controller_sync, desc="Endpoints and slices deleted")


@pytest.mark.claim("S002-176")
def test_kube_proxy_forwards_a_selectorless_service_from_a_hand_written_slice(kube_proxy_module_ns, web, timeouts):
    """kube-proxy programs Services from EndpointSlices: a selector-less Service whose only endpoint data
    is an EndpointSlice written by hand (no Endpoints object) forwards to it."""
    module_ns, cluster = kube_proxy_module_ns, kube_proxy_module_ns.cluster
    ns, target = module_ns.name, web[0]
    with step(f"Given Service manual-a without selector and a hand-written EndpointSlice pointing at {target}:8080"):
        module_ns.apply("networking/services/selectorless-slice.yaml", name="manual-a", ip=target)
        ip = service(cluster, ns, "manual-a").cluster_ip
        assert endpoints(cluster, ns, "manual-a") is None, "there must be no Endpoints object"
    with step(f"Then the ClusterIP {ip} answers from the pod at {target}"):
        owner = view_of_ip(cluster, ns, target)
        eventually(lambda: _get(cluster, ns, f"http://{ip}/hostname"), until=lambda a: a == owner,
                   timeout=timeouts.network_programming, desc=f"{ip} answered by {owner}")


@pytest.mark.claim("S002-176")
def test_a_hand_written_endpoints_object_is_mirrored_into_a_slice_and_forwarded(kube_proxy_module_ns, web, timeouts):
    """A selector-less Service with only a hand-written v1 Endpoints object is reachable too: the
    EndpointSliceMirroring controller mirrors it into a slice, which kube-proxy reads."""
    module_ns, cluster = kube_proxy_module_ns, kube_proxy_module_ns.cluster
    ns, target = module_ns.name, web[1]
    with step(f"Given Service manual-b without selector and a hand-written Endpoints object for {target}:8080"):
        module_ns.apply("networking/services/selectorless-endpoints.yaml", name="manual-b", ip=target)
        ip = service(cluster, ns, "manual-b").cluster_ip
    with step("Then a mirrored EndpointSlice appears, managed by the mirroring controller"):
        slices = eventually(lambda: endpoint_slices(cluster, ns, "manual-b"), until=lambda s: list(s.addresses) == [target],
                            timeout=timeouts.controller_sync, desc="mirrored slice for manual-b")
        assert {s.managed_by for s in slices.slices} == {MIRROR_MANAGER}, f"{MANAGED_BY_LABEL}: {slices}"
    with step(f"And the ClusterIP {ip} answers from the pod at {target}"):
        owner = view_of_ip(cluster, ns, target)
        eventually(lambda: _get(cluster, ns, f"http://{ip}/hostname"), until=lambda a: a == owner,
                   timeout=timeouts.network_programming, desc=f"{ip} answered by {owner}")


def view_of_ip(cluster, namespace: str, ip: str) -> str:
    return next(p.name for p in ready_pods(cluster, namespace, f"app={WEB}") if p.ip == ip)


@pytest.mark.claim("S002-174")
def test_cluster_ip_survives_pod_churn_is_immutable_and_is_new_after_recreation(kube_proxy_module_ns, web, timeouts):
    """spec.clusterIP is allocated once: replacing every backend pod leaves it unchanged, changing it is
    refused (422), a recreated Service gets a fresh IP, and an explicitly requested free IP is honoured."""
    module_ns, cluster = kube_proxy_module_ns, kube_proxy_module_ns.cluster
    ns = module_ns.name
    module_ns.apply("networking/services/backends.yaml", name="stable", replicas=1)
    first = wait_ready(cluster, ns, "app=stable", 1, timeouts)[0]
    ip = service(cluster, ns, "stable").cluster_ip
    with step(f"When the only backend pod {first.name} is deleted and replaced"):
        cluster.core.delete_namespaced_pod(first.name, ns, grace_period_seconds=0)
        eventually(lambda: ready_pods(cluster, ns, "app=stable"), until=lambda ps: len(ps) == 1 and ps[0].name != first.name,
                   timeout=timeouts.pod_start, desc="replacement pod ready")
    with step(f"Then the ClusterIP is still {ip}"):
        assert service(cluster, ns, "stable").cluster_ip == ip
    with step("And changing spec.clusterIP is refused as immutable"):
        with pytest.raises(ApiException) as refused:
            cluster.core.patch_namespaced_service("stable", ns, {"spec": {"clusterIP": _neighbour(ip), "clusterIPs": [_neighbour(ip)]}})
        assert refused.value.status == 422 and "may not change once set" in refused.value.body, refused.value.body
    with step("When the Service is deleted and created again without clusterIP, it gets a different IP"):
        cluster.core.delete_namespaced_service("stable", ns)
        eventually(lambda: [s.metadata.name for s in cluster.core.list_namespaced_service(ns).items],
                   until=lambda names: "stable" not in names, timeout=timeouts.apply, desc="stable deleted")
        module_ns.apply("networking/services/selectorless.yaml", name="stable")
        again = service(cluster, ns, "stable").cluster_ip
        assert again != ip, f"recreated Service got the same ClusterIP {ip} (random allocation: 1 in ~65k)"
    with step(f"And a Service that asks for the freed IP {ip} explicitly gets it"):
        module_ns.apply("networking/services/explicit-ip.yaml", name="pinned", cluster_ip=ip)
        assert service(cluster, ns, "pinned").cluster_ip == ip


def _neighbour(ip: str) -> str:
    a, b, c, d = map(int, ip.split("."))
    return f"{a}.{b}.{c}.{(d % 250) + 2}"
