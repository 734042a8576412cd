"""What the containers of one pod share: node, IP, loopback, volumes, and which kernel namespaces.

Seed 002 「Pod」, 「原理」(Pod), 「关于Pause容器 / Infra容器」, 「配置相关」(shareProcessNamespace); seed 003
「Pod」(网络). The documents say a pod's containers are scheduled as one unit onto one node, share one
network namespace (one IP, localhost) and the pod's volumes, and that the infra (pause) container is
created first, holds the namespaces the others join, and "shares PID, network, IPC and UTS". The PID
part holds only with `shareProcessNamespace: true`. Namespaces are compared by their kernel identity
(`readlink /proc/<pid>/ns/<type>`), from inside the containers and, for the sandbox, from the node.
Source: https://kubernetes.io/docs/concepts/workloads/pods/ ;
https://kubernetes.io/docs/tasks/configure-pod-container/share-process-namespace/
"""
import pytest

from fixtures.pods import is_ready, view, wait_pod
from fixtures.podexec import sh_in
from fixtures.polling import eventually
from fixtures.reporting import step
from fixtures.runtime import namespaces_in, pod_runtime, processes_in

# one worker runs the module, so its shared workload is created once (module_ns)
pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(images=["busybox"]), pytest.mark.xdist_group("pods-shared-namespaces")]

PORT = 8080
CLOSED_PORT = 8081  # nothing listens there: the negative control of every connection probe
PAUSE_MAX_BYTES = 1024 * 1024
CLOSED_NODE_PORT = 1  # tcpmux: nothing listens there on a kind node
ORPHAN_SECONDS = 4  # long enough to be seen by a few polls of the process list


@pytest.fixture(scope="module")
def duo(module_ns, cluster, timeouts):
    """Given a running pod of two containers with default namespaces: 'web' (HTTP on :8080) and 'shell'."""
    module_ns.apply("pods/shared-namespaces/duo.yaml", name="duo", port=PORT)
    return wait_pod(cluster, module_ns.name, "duo", is_ready, timeouts)


@pytest.fixture(scope="module")
def shared_pid(module_ns, cluster, timeouts):
    """Given a running pod with shareProcessNamespace: true ('victim' runs sleep 3601, 'observer' sleep 3600)."""
    module_ns.apply("pods/shared-namespaces/shared-pid.yaml", name="shared-pid")
    return wait_pod(cluster, module_ns.name, "shared-pid", is_ready, timeouts)



@pytest.mark.claim("S002-069")
def test_all_containers_of_a_pod_share_one_ip_on_one_node(module_ns, cluster, duo):
    """Every container of a pod sees the pod's one IP on its eth0: they were placed as one unit."""
    with step("When each container of 'duo' reads the IPv4 address of its eth0"):
        seen = {c: sh_in(cluster, module_ns.name, "duo", c, "ip addr show eth0").stdout for c in ("web", "shell")}
    with step("Then both see the pod's status.podIP, on the one node the pod is bound to"):
        for c, out in seen.items():
            assert f" {duo.ip}/" in out, f"container {c} sees {out!r}, not the pod IP {duo.ip}"
        assert duo.node and duo.host_ip, f"the pod is not bound: {duo}"


@pytest.mark.claim("S002-070", "S003-002")
def test_containers_of_a_pod_reach_each_other_on_localhost_and_share_an_emptydir(module_ns, cluster, duo):
    """Container B reaches container A on 127.0.0.1; a file A writes into a shared emptyDir is visible to B."""
    with step(f"When 'shell' fetches http://127.0.0.1:{PORT}/, served by 'web'"):
        got = sh_in(cluster, module_ns.name, "duo", "shell", f"wget -qO- http://127.0.0.1:{PORT}/")
    with step("Then it gets web's page"):
        assert got.returncode == 0 and got.stdout.strip() == "served-by-web", got
    with step(f"And the same probe on 127.0.0.1:{CLOSED_PORT}, where nothing listens, is refused (control)"):
        closed = sh_in(cluster, module_ns.name, "duo", "shell", f"wget -qO- http://127.0.0.1:{CLOSED_PORT}/")
        assert closed.returncode != 0 and "refused" in closed.stderr, closed
    with step("And 'shell' reads the note 'web' wrote into the shared emptyDir, but not web's own /tmp file"):
        note = sh_in(cluster, module_ns.name, "duo", "shell", "cat /shared/note")
        assert note.stdout.strip() == "written-by-web", note
        private = sh_in(cluster, module_ns.name, "duo", "shell", "cat /tmp/private")
        assert private.returncode != 0, f"web's container filesystem leaked into shell: {private}"


@pytest.mark.claim("S003-002")
def test_pod_ips_are_unique_and_a_pod_reaches_other_pods_and_nodes_without_host_ports(module_ns, cluster, duo, shared_pid):
    """Running pods have distinct IPs; a pod without any port declaration reaches another pod and a node directly."""
    with step("Given every running pod of the cluster that is not on the host network"):
        pods = [p for p in cluster.core.list_pod_for_all_namespaces().items
                if p.status.phase == "Running" and p.status.pod_ip and not p.spec.host_network]
        ips = [p.status.pod_ip for p in pods]
    with step("Then no two of them share an IP"):
        dupes = sorted({ip for ip in ips if ips.count(ip) > 1})
        assert not dupes, f"pod IPs used twice: {dupes}"
    with step("When 'observer' (no ports, no hostPort) fetches web's page at the other pod's IP"):
        spec_ports = [c.ports for p in (duo, shared_pid) for c in cluster.core.read_namespaced_pod(p.name, module_ns.name).spec.containers]
        assert not any(spec_ports), f"the probe pods must declare no ports: {spec_ports}"
        got = sh_in(cluster, module_ns.name, "shared-pid", "observer", f"wget -qO- http://{duo.ip}:{PORT}/")
    with step("Then it gets the page"):
        assert got.stdout.strip() == "served-by-web", got
    node_ip = duo.host_ip
    with step(f"And it talks to the kubelet's port 10250 on node IP {node_ip} (plain HTTP to a TLS server: its answer proves the connection)"):
        kubelet = sh_in(cluster, module_ns.name, "shared-pid", "observer", f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {node_ip} 10250")
        assert "Client sent an HTTP request to an HTTPS server" in kubelet.stdout, kubelet
    with step(f"And port {CLOSED_NODE_PORT} at the same node IP, where nothing listens, is refused (control)"):
        closed = sh_in(cluster, module_ns.name, "shared-pid", "observer", f"nc -w 3 {node_ip} {CLOSED_NODE_PORT} </dev/null")
        assert closed.returncode != 0 and "refused" in closed.stderr, closed


@pytest.mark.claim("S002-078")
def test_containers_share_network_ipc_and_uts_namespaces_but_not_the_pid_namespace_by_default(module_ns, cluster, duo):
    """By default a pod's containers share NET, IPC and UTS; each has its own PID namespace and PID 1."""
    with step("When each container of 'duo' reads its kernel namespaces, hostname and PID 1"):
        ns = {c: namespaces_in(cluster, module_ns.name, "duo", c) for c in ("web", "shell")}
        hostnames = {c: sh_in(cluster, module_ns.name, "duo", c, "hostname").stdout.strip() for c in ns}
        pid1 = {c: sh_in(cluster, module_ns.name, "duo", c, "tr '\\0' ' ' < /proc/1/cmdline").stdout.strip() for c in ns}
    with step("Then network, IPC and UTS namespaces are the same objects, and so is the hostname"):
        for kind in ("net", "ipc", "uts"):
            assert ns["web"][kind] == ns["shell"][kind], f"{kind} namespace differs: {ns}"
        assert hostnames["web"] == hostnames["shell"] == "duo", hostnames
    with step("And the PID namespaces differ: each container's PID 1 is its own main process"):
        assert ns["web"]["pid"] != ns["shell"]["pid"], f"PID namespace shared without shareProcessNamespace: {ns}"
        assert pid1["web"].startswith("httpd") and pid1["shell"].startswith("sleep 3600"), pid1
    with step("And 'shell' does not see web's httpd"):
        seen = [p.cmdline for p in processes_in(cluster, module_ns.name, "duo", "shell")]
        assert not any(c.startswith("httpd") for c in seen), seen


@pytest.mark.claim("S002-078", "S002-228")
def test_with_share_process_namespace_pause_is_pid_1_and_containers_see_each_others_processes(module_ns, cluster, shared_pid):
    """With shareProcessNamespace: true, /pause is PID 1 and each container sees the other's processes."""
    with step("When each container of 'shared-pid' reads its PID namespace and process list"):
        ns = {c: namespaces_in(cluster, module_ns.name, "shared-pid", c) for c in ("victim", "observer")}
        procs = processes_in(cluster, module_ns.name, "shared-pid", "observer")
    with step("Then both are in one PID namespace, whose PID 1 is /pause"):
        assert ns["victim"]["pid"] == ns["observer"]["pid"], ns
        assert procs[0].pid == 1 and procs[0].cmdline == "/pause", procs[:3]
    with step("And the observer sees the victim's sleep 3601 beside its own sleep 3600"):
        cmdlines = [p.cmdline for p in procs]
        assert "sleep 3601" in cmdlines and "sleep 3600" in cmdlines, cmdlines


@pytest.mark.claim("S002-228")
def test_containers_sharing_a_pid_namespace_can_read_each_others_root_and_signal_each_other(module_ns, cluster, shared_pid, timeouts):
    """A container reads another's filesystem through /proc/<pid>/root and can kill its process."""
    victim_pid = next(p.pid for p in processes_in(cluster, module_ns.name, "shared-pid", "observer") if p.cmdline == "sleep 3601")
    before = view(cluster, module_ns.name, "shared-pid").container("victim").restarts
    with step(f"When 'observer' reads /tmp/victim-file through /proc/{victim_pid}/root"):
        through = sh_in(cluster, module_ns.name, "shared-pid", "observer", f"cat /proc/{victim_pid}/root/tmp/victim-file")
        own = sh_in(cluster, module_ns.name, "shared-pid", "observer", "cat /tmp/victim-file")
    with step("Then it reads the victim's file, which its own filesystem lacks"):
        assert through.stdout.strip() == "only-in-victim", through
        assert own.returncode != 0, f"the file exists in observer's own filesystem: {own}"
    with step("When 'observer' sends SIGTERM to the victim's sleep (not PID 1 here, so it dies of it)"):
        killed = sh_in(cluster, module_ns.name, "shared-pid", "observer", f"kill {victim_pid}")
        assert killed.returncode == 0, killed
    with step("Then the victim container ended with 143 (128 + SIGTERM) and was restarted"):
        pod = eventually(lambda: view(cluster, module_ns.name, "shared-pid"),
                         until=lambda p: p.container("victim").restarts > before and p.container("victim").running,
                         timeout=timeouts.pod_start, desc="victim restarted after the kill")
        assert pod.container("victim").last_exit_code == 143, pod.container("victim")


@pytest.mark.claim("S002-079")
def test_pause_is_a_tiny_image_whose_process_sleeps_and_reaps_orphans(module_ns, cluster, shared_pid, timeouts):
    """The sandbox image is under 1 MiB; its process only waits, and reaps orphans reparented to it."""
    node = cluster.core.read_node(shared_pid.node)
    with step("Given the node's pause image, as the kubelet reports it in node.status.images"):
        pause = [i for i in node.status.images or [] if any("/pause:" in n for n in i.names or [])]
        assert pause, f"no pause image among {[i.names for i in node.status.images or []]}"
    with step("Then it is smaller than 1 MiB"):
        assert all(i.size_bytes < PAUSE_MAX_BYTES for i in pause), [(i.names, i.size_bytes) for i in pause]
    with step("And /pause, PID 1 of the shared namespace, is asleep and has used almost no CPU"):
        init = processes_in(cluster, module_ns.name, "shared-pid", "observer")[0]
        assert init.cmdline == "/pause" and init.state == "S", init
        assert init.ticks <= 10, f"pause used {init.ticks} clock ticks of CPU: it should only wait"
    with step(f"When an exec'd shell leaves an orphan 'sleep {ORPHAN_SECONDS}' behind and exits"):
        sh_in(cluster, module_ns.name, "shared-pid", "observer", f"sleep {ORPHAN_SECONDS} </dev/null >/dev/null 2>&1 & exit 0")
        orphan = eventually(lambda: [p for p in processes_in(cluster, module_ns.name, "shared-pid", "observer")
                                     if p.cmdline == f"sleep {ORPHAN_SECONDS}"],
                            until=bool, timeout=timeouts.apply, desc="the orphan sleep")
    with step("Then the orphan was reparented to /pause (PID 1)"):
        assert orphan[0].ppid == 1, orphan
    with step("And once it exits, pause reaps it: no zombie remains"):
        eventually(lambda: [p for p in processes_in(cluster, module_ns.name, "shared-pid", "observer") if p.pid == orphan[0].pid],
                   until=lambda left: not left, timeout=timeouts.apply, desc=f"orphan {orphan[0].pid} reaped (no zombie)")


@pytest.mark.claim("S002-072")
@pytest.mark.requires(node_access=True)
def test_the_sandbox_is_created_first_and_the_containers_join_its_namespaces(module_ns, cluster, duo):
    """The CRI sandbox (pause) is created before the app containers, which join its network, IPC and UTS namespaces."""
    with step(f"When the node's containerd is asked for pod duo's sandbox and containers ({duo.node})"):
        rt = pod_runtime(cluster, duo.node, duo.uid)
        sandbox, web, shell = rt.sandbox, rt.container("web"), rt.container("shell")
    with step("Then the sandbox was created before either app container"):
        assert sandbox.created_at < min(web.created_at, shell.created_at), rt
    with step("And both containers' processes are in the sandbox's network, IPC and UTS namespaces"):
        for kind in ("net", "ipc", "uts"):
            assert web.namespaces[kind] == shell.namespaces[kind] == sandbox.namespaces[kind], rt
    with step("And the sandbox is not one of the pod's reported containers"):
        assert set(duo.containers) == {"web", "shell"}, duo.containers


@pytest.mark.claim("S002-074")
@pytest.mark.requires(node_access=True)
def test_each_pod_gets_a_host_side_veth_enslaved_to_the_cni_bridge_not_cbr0(module_ns, cluster, duo):
    """Pod plumbing is the CNI's: here flannel's bridge plugin puts the pod's veth peer on cni0; there is no cbr0."""
    with step("Given the ifindex of the host-side peer of the pod's eth0"):
        peer = int(sh_in(cluster, module_ns.name, "duo", "shell", "cat /sys/class/net/eth0/iflink").stdout.strip())
    with step(f"When the node {duo.node} lists its links"):
        links = cluster.node_exec(duo.node, "ip", "-o", "link", "show").stdout.splitlines()
        mine = [line for line in links if line.startswith(f"{peer}: ")]
    with step("Then the peer is a veth enslaved to the cni0 bridge"):
        assert mine and mine[0].split(": ")[1].startswith("veth") and " master cni0 " in mine[0], mine or links
    with step("And there is no cbr0 bridge (kubenet's, gone with dockershim)"):
        assert not any(": cbr0" in line for line in links), links
