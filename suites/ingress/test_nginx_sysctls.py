"""Kernel parameters for the ingress controller, as the document tunes them, observed inside the controller pod's
network namespace only (no host-global sysctl is ever written): somaxconn copied into nginx's listen backlog,
ip_local_port_range as a safe pod sysctl, tcp_tw_reuse refused as unsafe, and the privileged init container recipe.

Source: 000_b2af30f51f81eada.txt 「Nginx Ingress 高并发实践」(系统内核调整 §1-§3, 「通过 initContainers修改 nginx ingress
容器的内核参数」). Upstream: kubernetes.io/docs/tasks/administer-cluster/sysctl-cluster/; ingress-nginx
internal/ingress/controller/util.go (sysctlSomaxconn). The controller is tuned once (a serial scenario: its pod is
recreated) and restored; the tests read what was recorded.
"""
from __future__ import annotations

import re

import pytest

from fixtures.addons import ingress_http as web
from fixtures.addons.ingress_nginx import NAME, NAMESPACE, wait_serving
from fixtures.manifests import render
from fixtures.pods import event_reasons, wait_pod
from fixtures.polling import eventually
from fixtures.reporting import step
from fixtures.per_test import exclusive_scenario

pytestmark = [pytest.mark.area("ingress"), pytest.mark.requires(ingress=True, node_access=True, images=["nginx", "busybox"])]
TUNED_SOMAXCONN = 8192


def backlogs(conf: str) -> set[int]:
    return {int(b) for b in re.findall(r"backlog=(\d+)", conf)}


def pod_sysctls(cluster) -> dict[str, str]:
    """The controller container's view of its network namespace's sysctls."""
    out = web.in_controller(cluster, "cat /proc/sys/net/core/somaxconn /proc/sys/net/ipv4/tcp_tw_reuse /proc/sys/net/ipv4/ip_local_port_range")
    somaxconn, tw_reuse, port_range = out.splitlines()[:3]
    return {"somaxconn": somaxconn.strip(), "tcp_tw_reuse": tw_reuse.strip(), "ip_local_port_range": " ".join(port_range.split())}


def observe(cluster, ingress, host: str, timeouts) -> dict:
    reply = web.wait_routed(ingress, host, "/", "app", timeouts)
    return {"sysctls": pod_sysctls(cluster), "backlogs": backlogs(web.nginx_conf(cluster)), "served": web.backend_of(reply.pod),
            "node_somaxconn": cluster.node_exec(ingress.node, "cat", "/proc/sys/net/core/somaxconn").stdout.strip()}


def plain_log(cluster, namespace: str, timeouts) -> str:
    """What pod `plain` printed: its sysctls, then its own `sysctl -w` attempt and exit code."""
    wait_pod(cluster, namespace, "plain", lambda p: p.phase == "Running", timeouts)
    return eventually(lambda: cluster.core.read_namespaced_pod_log("plain", namespace, container="main"), until=lambda s: "rc=" in s,
                      timeout=timeouts.pod_start, desc="pod plain printed its sysctls and sysctl -w's exit code")


@pytest.fixture(scope="module")
def tuned(request, module_ns, ingress, cluster, timeouts, images):
    """Given the controller before and after the document's recipe (privileged init container `sysctl -w
    net.core.somaxconn=8192 net.ipv4.tcp_tw_reuse=1`, pod sysctl ip_local_port_range 1024 65535), then restored."""
    # a serial test before this one may have evicted the controller: its admission webhook then answers
    # "signal: terminated" from the terminating pod's `nginx -t`; wait for the one serving
    wait_serving(cluster, timeouts)
    web.deploy_echo(module_ns, cluster, timeouts, {"app": 1})
    host = f"sysctl.{module_ns.name}.test"
    module_ns.apply("ingress/routing/classed.yaml", name="sysctl", class_name="nginx", host=host, backend="app", service_upstream="false")
    record = {}
    with exclusive_scenario(request, cluster):
        record["before"] = observe(cluster, ingress, host, timeouts)
        original = cluster.apps.read_namespaced_deployment(NAME, NAMESPACE).spec.template.spec.security_context.sysctls
        patch = render("ingress/sysctl/controller-patch.yaml", image_busybox=images["busybox"], somaxconn=TUNED_SOMAXCONN)[0]
        cluster.apps.patch_namespaced_deployment(NAME, NAMESPACE, patch)
        try:
            eventually(lambda: cluster.apps.read_namespaced_deployment(NAME, NAMESPACE).status, timeout=timeouts.addon_ready,
                       until=lambda s: s.updated_replicas == 1 and s.ready_replicas == 1 and (s.replicas or 0) == 1,
                       desc="the tuned controller rolled out")
            wait_serving(cluster, timeouts)
            record["after"] = observe(cluster, ingress, host, timeouts)
        finally:
            cluster.apps.patch_namespaced_deployment(NAME, NAMESPACE, {"spec": {"template": {"spec": {
                "initContainers": None, "securityContext": {"sysctls": [{"name": s.name, "value": s.value} for s in original]}}}}})
            eventually(lambda: cluster.apps.read_namespaced_deployment(NAME, NAMESPACE), timeout=timeouts.addon_ready,
                       until=lambda d: not d.spec.template.spec.init_containers and d.status.updated_replicas == 1
                       and d.status.ready_replicas == 1 and (d.status.replicas or 0) == 1, desc="the controller restored")
            wait_serving(cluster, timeouts)
            record["restored"] = observe(cluster, ingress, host, timeouts)
    return record


@pytest.mark.serial
@pytest.mark.claim("S000-38")
def test_the_listen_backlog_is_the_somaxconn_of_the_controller_pods_network_namespace(tuned):
    """ingress-nginx reads net.core.somaxconn and writes it into `listen ... backlog=`: the value of the controller
    pod's own network namespace (a node's value does not reach a non-hostNetwork pod); raised inside the pod, the
    backlog follows after the restart."""
    before, after, restored = tuned["before"], tuned["after"], tuned["restored"]
    with step("Then by default every listen has backlog = the pod's somaxconn"):
        assert before["backlogs"] == {int(before["sysctls"]["somaxconn"])}, before
    with step(f"And with somaxconn {TUNED_SOMAXCONN} written in the pod, backlog={TUNED_SOMAXCONN} while the node keeps its own value"):
        assert after["backlogs"] == {TUNED_SOMAXCONN} and after["served"] == "app", after
        assert after["node_somaxconn"] == before["node_somaxconn"], (before, after)
    with step("And restored, the backlog is the default again"):
        assert restored["backlogs"] == before["backlogs"] and restored["served"] == "app", restored


@pytest.mark.serial
@pytest.mark.claim("S000-42")
def test_a_privileged_init_container_sysctl_reaches_the_controller_but_an_unprivileged_one_cannot_write(tuned, ns, cluster, timeouts):
    """A privileged init container's `sysctl -w` tunes the controller container's kernel parameters (they share the
    pod's network namespace); an unprivileged container cannot write (/proc/sys is read-only)."""
    with step("Then the controller container read the values the init container wrote"):
        assert tuned["after"]["sysctls"]["somaxconn"] == str(TUNED_SOMAXCONN), tuned["after"]
        assert tuned["before"]["sysctls"]["somaxconn"] != str(TUNED_SOMAXCONN), tuned["before"]
    with step("When an unprivileged container runs the same sysctl -w"):
        ns.apply("ingress/sysctl/probe-pods.yaml")
        log = plain_log(cluster, ns.name, timeouts)
    with step("Then it failed on the read-only /proc/sys"):
        assert "Read-only file system" in log and "rc=0" not in log, log


@pytest.mark.serial
@pytest.mark.claim("S000-39")
def test_ip_local_port_range_is_a_safe_per_pod_sysctl(tuned, ns, cluster, timeouts):
    """net.ipv4.ip_local_port_range is network-namespaced and on the kubelet's safe list: set through the
    controller pod's securityContext.sysctls it reads 1024 65535 there, while another pod keeps the default."""
    with step("Then the tuned controller read 1024 65535"):
        assert tuned["after"]["sysctls"]["ip_local_port_range"] == "1024 65535", tuned["after"]
    with step("And a pod without the sysctl reads the kernel default, like the controller before"):
        ns.apply("ingress/sysctl/probe-pods.yaml")
        log = plain_log(cluster, ns.name, timeouts)
        assert " ".join(log.splitlines()[0].split()) == tuned["before"]["sysctls"]["ip_local_port_range"] != "1024 65535", log


@pytest.mark.serial
@pytest.mark.claim("S000-40")
def test_tcp_tw_reuse_is_refused_as_a_pod_sysctl_but_set_by_the_privileged_init_container(tuned, ns, cluster, timeouts):
    """net.ipv4.tcp_tw_reuse is per network namespace but not on the kubelet's safe list: a pod asking for it through
    securityContext.sysctls is refused (SysctlForbidden); the privileged init container sets it to 1 for the
    controller; a default pod reads the kernel default."""
    with step("When a pod asks for net.ipv4.tcp_tw_reuse=1 through securityContext.sysctls"):
        ns.apply("ingress/sysctl/probe-pods.yaml")
        refused = wait_pod(cluster, ns.name, "unsafe", lambda p: p.phase == "Failed", timeouts)
    with step("Then the kubelet refused it with SysctlForbidden"):
        assert refused.reason == "SysctlForbidden" or "SysctlForbidden" in event_reasons(cluster, ns.name, "unsafe"), refused
    with step("And the privileged init container set it to 1 in the controller, where it was the default before"):
        assert (tuned["before"]["sysctls"]["tcp_tw_reuse"], tuned["after"]["sysctls"]["tcp_tw_reuse"]) != ("1", "1")
        assert tuned["after"]["sysctls"]["tcp_tw_reuse"] == "1", tuned["after"]
