"""The static CPU manager: a Guaranteed container asking for whole CPUs gets them to itself, and they leave
the shared pool every other container runs on; whole CPUs only, and only under that policy (S002-100 shows
the default policy `none` pinning nothing).

Source: seed 002 「Pod的资源分配 QoS」 (「K8s会将节点上的CPU资源分成两类：共享池和独享池」).
Upstream: kubernetes.io/docs/tasks/administer-cluster/cpu-management-policies/ . The policy is a kubelet setting
the shared nodes cannot switch without a drain, so this runs on an extra kind cluster whose kubelets run it
(manifests/cluster/two-node-cpu-static.yaml: CPU 0 reserved, and shared, by 100m of kubeReserved).
"""
import pytest

from fixtures import cgroups
from fixtures.nodes import kubelet_config, online_cpus
from fixtures.per_test import own_namespace
from fixtures.pods import view, wait_ready
from fixtures.polling import eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.requires(images=["busybox"], node_access=True),
              pytest.mark.xdist_group("cpu-static")]

SLEEPER = "scheduling/resources/sleeper.yaml"
# the kubelet rewrites every container's cpuset each cpuManagerReconcilePeriod (10 s by default)
RECONCILE_S = 10


@pytest.fixture(scope="module")
def static_ns(request, static_cpu_cluster, images, kubeproof_settings):
    """A namespace on the extra cluster whose kubelets run the static CPU manager."""
    yield from own_namespace(request, static_cpu_cluster, images, kubeproof_settings)


def _start(ns, name: str, cpu: str, timeouts):
    """A Guaranteed sleeper (on the worker: kind taints the control plane)."""
    resources = f"{{cpu: '{cpu}', memory: 32Mi}}"
    ns.apply(SLEEPER, name=name, requests=resources, limits=resources)
    return wait_ready(ns.cluster, ns.name, f"app={name}", 1, timeouts)[0]


def _cpuset(ns, name: str) -> set[int]:
    return cgroups.read(ns.cluster, ns.name, name, "main").cpus


@pytest.mark.claim("S002-101")
def test_a_guaranteed_container_asking_for_a_whole_cpu_gets_it_to_itself_and_the_shared_pool_loses_it(static_ns, timeouts):
    """Guaranteed with cpu: 1 -> an exclusive CPU (its cpuset is that one CPU, never the reserved CPU 0); every
    other container's cpuset loses it within a reconcile period, and gets it back once the owner is gone. A
    Guaranteed container asking for half a CPU stays in the shared pool."""
    cluster = static_ns.cluster
    with step("Given a Guaranteed container asking for 500m, on a node whose kubelet runs the static policy"):
        node = _start(static_ns, "half", "500m", timeouts).node
        assert kubelet_config(cluster, node).get("cpuManagerPolicy") == "static"
        online = cgroups.cpu_list(online_cpus(cluster, node))
    with step(f"Then it runs on every CPU of {node} (the shared pool)"):
        assert _cpuset(static_ns, "half") == online, f"node CPUs {online}"
    with step("When a Guaranteed container asking for cpu: 1 starts beside it"):
        assert _start(static_ns, "whole", "1", timeouts).node == node
    with step("Then it runs on one CPU of its own, not the reserved CPU 0"):
        mine = _cpuset(static_ns, "whole")
        assert len(mine) == 1 and 0 not in mine and mine < online, f"whole: {mine}, node CPUs {online}"
    with step(f"And within a reconcile period ({RECONCILE_S} s) the shared container no longer runs there"):
        shared = eventually(lambda: _cpuset(static_ns, "half"), until=lambda c: not c & mine,
                            timeout=RECONCILE_S + timeouts.apply, desc="the shared pool without the exclusive CPU")
        assert shared == online - mine, f"half: {shared}, whole: {mine}, node CPUs {online}"
    with step("When the exclusive container's pod is deleted, the shared pool gets the CPU back"):
        static_ns.cluster.core.delete_namespaced_pod("whole", static_ns.name, grace_period_seconds=0)
        eventually(lambda: _cpuset(static_ns, "half"), until=lambda c: c == online,
                   timeout=RECONCILE_S + timeouts.pod_start, desc="the shared pool with every CPU again")
        assert view(cluster, static_ns.name, "half").restarts == 0
