"""Pod-level versus container-level settings: host namespaces, hostAliases, securityContext, resources.

Seed 002 「原理」(Pod): "everything about scheduling, network, storage, security and namespaces is
Pod-level" — partly: hostNetwork/hostPID/hostIPC, volumes and nodeSelector exist only on the pod, but
securityContext exists on both (the container's wins) and resources are per container. Seed 002
「配置相关」: hostAliases go into the pod's /etc/hosts; hostNetwork/hostIPC/hostPID share the node's
namespaces. All hold; the Baseline Pod Security level refuses the host namespaces.
Source: https://kubernetes.io/docs/tasks/network/customize-hosts-file-for-pods/ ;
https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline
"""
import pytest

from fixtures.api_calls import create_raw
from fixtures.manifests import render
from fixtures.pods import is_ready, wait_pod
from fixtures.podexec import sh_in
from fixtures.polling import eventually
from fixtures.reporting import step
from fixtures.runtime import namespaces_in

pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(images=["busybox"])]

HOSTS_MARKER = "# Entries added by HostAliases."
MEMORY_LIMIT = "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes"



@pytest.mark.claim("S002-077")
def test_a_containers_security_context_and_resources_override_or_add_to_the_pods(ns, cluster, timeouts):
    """runAsUser set on the pod applies to every container unless the container sets its own; limits are per container."""
    with step("Given a pod with runAsUser 1000, whose 'override' container sets 2000; memory limits 64Mi and 96Mi"):
        ns.apply("pods/pod-settings/security.yaml", name="layered")
        wait_pod(cluster, ns.name, "layered", is_ready, timeouts)
    with step("Then 'inherit' runs as 1000 and 'override' as 2000"):
        uids = {c: sh_in(cluster, ns.name, "layered", c, "id -u").stdout.strip() for c in ("inherit", "override")}
        assert uids == {"inherit": "1000", "override": "2000"}, uids
    with step("And each container's cgroup carries its own memory limit"):
        limits = {c: sh_in(cluster, ns.name, "layered", c, MEMORY_LIMIT).stdout.strip() for c in ("inherit", "override")}
        assert limits == {"inherit": str(64 << 20), "override": str(96 << 20)}, limits


@pytest.mark.claim("S002-077")
def test_host_network_is_a_pod_field_not_a_container_field(ns, cluster):
    """hostNetwork on a container is an unknown field: strict field validation refuses it."""
    with step("When a pod with hostNetwork under its container is created with strict field validation (dry run)"):
        doc = render("pods/pod-settings/container-host-network.yaml", name="misplaced", image_busybox="x")[0]
        answer = create_raw(cluster, doc, ns.name, dry_run=True, field_validation="Strict")
    with step("Then it is refused, naming the unknown field"):
        assert answer.status in (400, 422) and "hostNetwork" in answer.message and "unknown field" in answer.message, answer


@pytest.mark.claim("S002-227")
def test_host_aliases_are_appended_to_the_managed_hosts_file_and_manual_edits_do_not_survive_a_restart(ns, cluster, timeouts):
    """hostAliases entries follow the kubelet's marker in /etc/hosts; an edit made in the container is lost when it restarts."""
    with step("Given a pod with hostAliases 10.1.2.3 → foo.remote, bar.remote"):
        ns.apply("pods/pod-settings/host-aliases.yaml", name="aliased")
        pod = wait_pod(cluster, ns.name, "aliased", is_ready, timeouts)
    with step("Then /etc/hosts holds the pod's own IP and name, then the marker, then the aliases"):
        hosts = sh_in(cluster, ns.name, "aliased", "app", "cat /etc/hosts").stdout.splitlines()
        assert f"{pod.ip}\taliased" in hosts and HOSTS_MARKER in hosts, hosts
        assert hosts[hosts.index(HOSTS_MARKER) + 1].split() == ["10.1.2.3", "foo.remote", "bar.remote"], hosts
    with step("When a line is added to /etc/hosts inside the container, and the container restarts"):
        assert sh_in(cluster, ns.name, "aliased", "app", "echo '10.9.9.9 manual.example' >> /etc/hosts").returncode == 0
        assert "manual.example" in sh_in(cluster, ns.name, "aliased", "app", "cat /etc/hosts").stdout
        sh_in(cluster, ns.name, "aliased", "app", "kill 1")
        wait_pod(cluster, ns.name, "aliased", lambda p: p.container("app").restarts == 1 and is_ready(p), timeouts)
    with step("Then the kubelet rewrote the file: the manual line is gone, the aliases are still there"):
        after = sh_in(cluster, ns.name, "aliased", "app", "cat /etc/hosts").stdout
        assert "manual.example" not in after and "foo.remote" in after, after


@pytest.mark.claim("S002-229")
@pytest.mark.requires(node_access=True)
def test_host_network_pid_and_ipc_put_the_pod_in_the_nodes_namespaces(ns, cluster, timeouts):
    """hostNetwork: podIP is the node's IP; hostPID: the kubelet is visible; hostIPC: the node's IPC namespace."""
    with step("Given a pod with hostNetwork, hostPID and hostIPC, and a plain pod (control)"):
        ns.apply("pods/pod-settings/host-namespaces.yaml", name="host", host=True)
        ns.apply("pods/pod-settings/host-namespaces.yaml", name="plain", host=False)
        pods = {n: wait_pod(cluster, ns.name, n, is_ready, timeouts) for n in ("host", "plain")}
    for name, on_host in (("host", True), ("plain", False)):
        pod = pods[name]
        node_ipc = cluster.node_exec(pod.node, "readlink", "/proc/1/ns/ipc").stdout.strip()
        with step(f"Then for '{name}': podIP == hostIP and the node's IP on its interfaces is {on_host}"):
            assert (pod.ip == pod.host_ip) is on_host, pod
            assert (f" {pod.host_ip}/" in sh_in(cluster, ns.name, name, "app", "ip addr").stdout) is on_host
        with step(f"And the kubelet process is visible: {on_host}"):
            assert (sh_in(cluster, ns.name, name, "app", "pidof kubelet").returncode == 0) is on_host
        with step(f"And it shares the node's IPC namespace: {on_host}"):
            assert (namespaces_in(cluster, ns.name, name, "app")["ipc"] == node_ipc) is on_host, node_ipc


@pytest.mark.claim("S002-229")
def test_the_baseline_pod_security_level_refuses_host_namespaces(ns, cluster, timeouts):
    """In a namespace enforcing Baseline, a pod using hostNetwork/hostPID/hostIPC is refused at admission."""
    doc = render("pods/pod-settings/host-namespaces.yaml", name="host", host=True, image_busybox="x")[0]
    with step("Given the pod is admitted in a namespace without Pod Security enforcement (control)"):
        assert create_raw(cluster, doc, ns.name, dry_run=True).status == 201
    with step("When the namespace is labelled pod-security.kubernetes.io/enforce=baseline"):
        cluster.core.patch_namespace(ns.name, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}})
    with step("Then the same pod is refused (403), the violation naming the host namespaces"):
        # PodSecurity reads namespace labels from the API server's informer cache: the label arrives within moments
        answer = eventually(lambda: create_raw(cluster, doc, ns.name, dry_run=True), until=lambda a: a.status != 201,
                            timeout=timeouts.apply, desc="PodSecurity enforcing the namespace's new label")
        assert answer.status == 403 and "host namespaces" in answer.message, answer
        assert all(f in answer.message for f in ("hostNetwork", "hostPID", "hostIPC")), answer
