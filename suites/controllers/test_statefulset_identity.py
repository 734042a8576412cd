"""StatefulSet network identity: each pod's name and hostname are <sts>-<ordinal>, set by the
controller; its DNS name <sts>-<n>.<serviceName>.<ns>.svc.cluster.local exists only through a
headless Service of that name in the same namespace, which the user creates; a recreated pod keeps
its name and hostname, and its DNS record follows the new IP.

Source: seed 002 「StatefulSet」 (Headless Service, DNS记录不变) (002_620e0a9d2c440bc2.txt), seed 003
「StatefulSet」 (稳定的网络标志, DNS 格式) (003_d8925e36aedd8024.txt);
kubernetes.io/docs/concepts/workloads/controllers/statefulset/#stable-network-id.
The module's tests share one StatefulSet and run in order on one worker (the Service appears midway).
"""
import pytest

from fixtures.podexec import exec_in
from fixtures.polling import eventually
from fixtures.pods import view, wait_pod, wait_ready
from fixtures.reporting import step
from fixtures.services import dig, fqdn
from fixtures.workloads import wait_rollout

pytestmark = [pytest.mark.area("controllers"), pytest.mark.requires(images=["agnhost"]),
              pytest.mark.xdist_group("statefulset-identity")]

SERVICE = "nginx"


@pytest.fixture(scope="module")
def web(module_ns, cluster, timeouts):
    """Given StatefulSet 'web' (2 ready replicas, serviceName 'nginx') and, at first, no Service."""
    module_ns.apply("controllers/statefulset/web.yaml", name="web", replicas=2, service=SERVICE, policy="Parallel",
                    update_strategy="{type: RollingUpdate}", version="a", grace=1, ready_file="/etc/hostname")
    wait_rollout(cluster, module_ns.name, "web", timeouts, kind="StatefulSet")
    return module_ns


def pod_dns(ns_name: str, pod: str = "web-0", service: str = SERVICE) -> str:
    return f"{pod}.{fqdn(service, ns_name)}"


def hostname(cluster, ns_name: str, pod: str) -> str:
    return exec_in(cluster, ns_name, pod, "app", ["hostname"]).stdout.strip()


@pytest.mark.claim("S002-143", "S003-074")
def test_pods_get_ordinal_hostnames_and_no_dns_record_without_the_headless_service(web, cluster, timeouts):
    """Pods get hostname <sts>-<n> and subdomain <serviceName> from the controller, Service or not; the
    StatefulSet creates no Service, so web-0's DNS name does not resolve yet."""
    with step("Then web-0 and web-1 have hostname = pod name and subdomain = serviceName"):
        for pod in ("web-0", "web-1"):
            spec = cluster.core.read_namespaced_pod(pod, web.name).spec
            assert (spec.hostname, spec.subdomain) == (pod, SERVICE), (spec.hostname, spec.subdomain)
            assert hostname(cluster, web.name, pod) == pod
    with step(f"And there is no Service '{SERVICE}': the StatefulSet did not create it"):
        assert SERVICE not in {s.metadata.name for s in cluster.core.list_namespaced_service(web.name).items}
    with step(f"And {pod_dns(web.name)} does not resolve"):
        assert dig(cluster, web.name, "web-1", "app", pod_dns(web.name)) == []


@pytest.mark.claim("S003-077")
def test_a_headless_service_of_that_name_in_another_namespace_creates_no_record(web, ns, cluster, timeouts):
    """A headless Service named like serviceName, but in another namespace, gives web-0 no DNS name."""
    with step(f"Given a headless Service '{SERVICE}' selecting app=web in another namespace {ns.name}"):
        ns.apply("controllers/statefulset/headless-service.yaml", name=SERVICE, app="web")
    with step("Then web-0's name resolves neither under the StatefulSet's namespace nor under the Service's"):
        for name in (pod_dns(web.name), pod_dns(ns.name)):
            assert dig(cluster, web.name, "web-1", "app", name) == [], name


@pytest.mark.claim("S002-143")
def test_the_headless_service_gives_each_pod_a_dns_name_resolving_to_its_ip(web, cluster, timeouts):
    """Once the user creates the headless Service named by serviceName, <sts>-<n>.<svc>.<ns>.svc.cluster.local
    resolves to that pod's IP."""
    with step(f"When the headless Service '{SERVICE}' is created in the StatefulSet's namespace"):
        web.apply("controllers/statefulset/headless-service.yaml", name=SERVICE, app="web")
    with step("Then web-0 and web-1 resolve to their own pod IPs"):
        for pod in ("web-0", "web-1"):
            ip = view(cluster, web.name, pod).ip
            eventually(lambda: dig(cluster, web.name, "web-1", "app", pod_dns(web.name, pod)), until=lambda a: a == [ip],
                       timeout=timeouts.network_programming, desc=f"{pod_dns(web.name, pod)} -> {ip}")


@pytest.mark.claim("S002-144", "S003-074")
def test_a_recreated_pod_keeps_name_and_hostname_and_its_dns_name_follows_the_new_ip(web, cluster, timeouts):
    """Deleting web-0 brings back a pod named web-0 with hostname web-0 (a new pod, likely a new IP),
    and web-0's DNS name resolves to the new pod's IP."""
    web.apply("controllers/statefulset/headless-service.yaml", name=SERVICE, app="web")
    with step("Given web-0's DNS name resolves to its IP"):
        old = view(cluster, web.name, "web-0")
        eventually(lambda: dig(cluster, web.name, "web-1", "app", pod_dns(web.name)), until=lambda a: a == [old.ip],
                   timeout=timeouts.network_programming, desc=f"web-0 -> {old.ip}")
    with step("When web-0 is deleted"):
        cluster.core.delete_namespaced_pod("web-0", web.name)
    with step("Then a new pod named web-0 (new uid) becomes Ready, with hostname web-0"):
        new = wait_pod(cluster, web.name, "web-0", lambda p: p.uid != old.uid and p.ready and not p.deleting, timeouts,
                       desc="web-0 recreated and ready")
        assert hostname(cluster, web.name, "web-0") == "web-0"
    with step(f"And web-0's DNS name resolves to the new pod's IP {new.ip} (was {old.ip})"):
        eventually(lambda: dig(cluster, web.name, "web-1", "app", pod_dns(web.name)), until=lambda a: a == [new.ip],
                   timeout=timeouts.network_programming, desc=f"web-0 -> {new.ip}")
        wait_ready(cluster, web.name, "app=web", 2, timeouts)
