"""Service environment variables: which containers get them, for which Services, in which names, and
that they never change after the container starts.

Source: seed 002 「环境变量」. Upstream: kubernetes.io/docs/concepts/services-networking/service/#environment-variables
(the kubelet adds {SVC}_SERVICE_HOST/_PORT and Docker-link variables for every Service of the pod's
namespace that existed when the container started; enableServiceLinks: false keeps only the kubernetes ones).
"""
import pytest

from fixtures.podexec import exec_in
from fixtures.polling import eventually
from fixtures.pods import wait_ready
from fixtures.reporting import step
from fixtures.services import service

pytestmark = [pytest.mark.area("networking"), pytest.mark.requires(images=["agnhost"])]


def _env(cluster, namespace, pod, container="first") -> dict[str, str]:
    out = exec_in(cluster, namespace, pod, container, ["env"]).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@pytest.mark.claim("S002-200")
def test_every_container_of_every_pod_gets_variables_for_services_that_existed_at_its_start(ns, module_ns, cluster, timeouts):
    """The document: the Service's variables are injected into the Pods its selector picks. They go into every
    container of every pod in the namespace, selected or not, for each Service that existed when the
    container started: {SVC}_SERVICE_HOST/_PORT and {SVC}_PORT, {SVC}_PORT_<port>_TCP[_ADDR|_PORT|_PROTO],
    upper-cased with - turned into _; a Service created later does not appear, nor do other namespaces'
    Services; enableServiceLinks: false leaves only the kubernetes Service's variables."""
    with step("Given Services order (8080) and my-svc (9090) whose selectors match no pod"):
        ns.apply("networking/env/services.yaml")
        order, my = service(cluster, ns.name, "order"), service(cluster, ns.name, "my-svc")
    with step("When a two-container pod that no selector matches starts, and one with enableServiceLinks: false"):
        ns.apply("networking/env/pod.yaml", name="reader", links=True)
        ns.apply("networking/env/pod.yaml", name="unlinked", links=False)
        wait_ready(cluster, ns.name, "role=env-reader", 2, timeouts)
    with step("And Service late is created after they started"):
        ns.apply("networking/services/selectorless.yaml", name="late")
    want = {"ORDER_SERVICE_HOST": order.cluster_ip, "ORDER_SERVICE_PORT": "8080", "ORDER_SERVICE_PORT_HTTP": "8080",
            "ORDER_PORT": f"tcp://{order.cluster_ip}:8080", "ORDER_PORT_8080_TCP": f"tcp://{order.cluster_ip}:8080",
            "ORDER_PORT_8080_TCP_ADDR": order.cluster_ip, "ORDER_PORT_8080_TCP_PORT": "8080", "ORDER_PORT_8080_TCP_PROTO": "tcp",
            "MY_SVC_SERVICE_HOST": my.cluster_ip, "MY_SVC_SERVICE_PORT": "9090"}
    for container in ("first", "second"):
        env = _env(cluster, ns.name, "reader", container)
        with step(f"Then container {container} has order's and my-svc's variables"):
            assert {k: env.get(k) for k in want} == want, {k: v for k, v in env.items() if "ORDER" in k or "MY_SVC" in k}
        with step(f"And container {container} has none for late, created after it started"):
            assert not [k for k in env if k.startswith("LATE_")], env
    with step("And the pod with enableServiceLinks: false has only the kubernetes Service's"):
        env = _env(cluster, ns.name, "unlinked")
        assert env.get("KUBERNETES_SERVICE_HOST") and not [k for k in env if k.startswith(("ORDER_", "MY_SVC_"))], env
    with step("When order is deleted and created again with a new ClusterIP"):
        cluster.core.delete_namespaced_service("order", ns.name)
        eventually(lambda: [s.metadata.name for s in cluster.core.list_namespaced_service(ns.name).items],
                   until=lambda names: "order" not in names, timeout=timeouts.apply, desc="order deleted")
        ns.apply("networking/env/services.yaml")
        moved = service(cluster, ns.name, "order").cluster_ip
    with step(f"Then the running container still holds the old value {order.cluster_ip}, not {moved}"):
        assert moved != order.cluster_ip and _env(cluster, ns.name, "reader")["ORDER_SERVICE_HOST"] == order.cluster_ip
    with step("And a pod in another namespace has none of order's"):
        module_ns.apply("networking/env/pod.yaml", name="elsewhere", links=True)
        wait_ready(cluster, module_ns.name, "role=env-reader", 1, timeouts)
        env = _env(cluster, module_ns.name, "elsewhere")
        assert env.get("KUBERNETES_SERVICE_HOST") and not [k for k in env if k.startswith("ORDER_")], env
