"""kubectl port-forward: a pod's port on the kubectl host's localhost, carried by the API server and the
kubelet's streaming endpoint, and dialled from inside the pod's network namespace by the runtime.

Source: seed 001 2021-07-19~25 › kubectl port-forward 的工作原理 (dockershim: nsenter + socat into the
pause container); seed 002 「Service的几种设置」. Upstream: containerd's CRI PortForward dials
localhost:<port> in the sandbox netns in Go (no socat); kubectl uses WebSockets for port-forward since 1.31.
"""
import socket

import pytest

from fixtures import node_files
from fixtures.node_network import http_get
from fixtures.nodes import kubelet_nodes
from fixtures.podexec import exec_in
from fixtures.pods import is_ready, wait_pod, wait_ready
from fixtures.portforward import port_forward
from fixtures.reporting import attach_text, step

pytestmark = [pytest.mark.area("networking"), pytest.mark.requires(images=["agnhost", "busybox"])]

SERVER, CLIENT = "local", "client"


@pytest.mark.claim("S002-198", "S001-09")
@pytest.mark.requires(node_access=True)
def test_port_forward_reaches_a_localhost_only_port_without_socat_on_the_node(ns, cluster, timeouts):
    """kubectl port-forward pod/x :8080 makes the pod's port reachable on the kubectl host's localhost, through
    the API server's pods/portforward subresource. The document: the kubelet runs `nsenter -t <pause pid> -n
    socat - TCP4:localhost:<port>`. Today the runtime dials localhost inside the pod's netns itself: a port
    bound to 127.0.0.1 in the pod (unreachable on the pod IP) is forwarded, and no socat or nsenter runs."""
    node = kubelet_nodes(cluster)[0]
    with step("Given a pod whose server listens on 127.0.0.1:8080 only"):
        ns.apply("networking/services/localhost-only.yaml", name=SERVER, node=node)
        ns.apply("networking/services/client.yaml", name=CLIENT, node=node)
        wait_ready(cluster, ns.name, "role=client", 1, timeouts)
        pod_ip = wait_pod(cluster, ns.name, SERVER, is_ready, timeouts).ip
    with step(f"And another pod cannot reach it on the pod IP {pod_ip}:8080 (connection refused)"):
        res = exec_in(cluster, ns.name, CLIENT, "client", ["curl", "-sS", "-m", "2", f"http://{pod_ip}:8080/"])
        assert res.returncode == 7, f"curl {pod_ip}:8080 from another pod: exit {res.returncode} {res.stdout}{res.stderr}"
    with step("When kubectl port-forward pod/local :8080 runs on the test host"):
        with port_forward(cluster, ns.name, SERVER, 8080, verbosity=6) as fwd:
            with step(f"Then http://127.0.0.1:{fwd.local_port}/ on the host answers from inside the pod"):
                assert http_get("127.0.0.1", fwd.local_port, "/").body == "local-only"
            with step(f"And while a forwarded connection is open, {node} runs no nsenter, nor a socat to localhost:8080"):
                with socket.create_connection(("127.0.0.1", fwd.local_port), timeout=5) as conn:
                    # other tests may run socat on the node too (a node-process listener): the document's relay
                    # is told by what it runs, nsenter into the pod's netns and socat to localhost:<port>
                    procs = node_files.host_processes(cluster, node)
                    conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    assert b" 200 " in conn.recv(64), "the held connection was not forwarded"
                relays = [p for p in procs if p.split()[0].endswith("nsenter") or ("socat" in p and "localhost:8080" in p)]
                assert any(p.split()[0].endswith("kubelet") for p in procs), procs
                assert not relays, f"[behaviour-changed] on {node}: {relays}"
        attach_text("kubectl port-forward -v=6", "\n".join(fwd.log))
    with step("And kubectl reached the pod through the API server's pods/portforward subresource"):
        assert any(f"/namespaces/{ns.name}/pods/{SERVER}/portforward" in line for line in fwd.log), "\n".join(fwd.log[-20:])

