"""Local ephemeral storage is an incompressible resource the kubelet enforces by eviction: a pod that
writes past its containers' ephemeral-storage limit, or past an emptyDir's sizeLimit, is evicted
(phase Failed, reason Evicted) and its controller replaces it.

Source: seed 003 「OOMKilled」 (「内存和磁盘 IO 这种不可压缩资源不足时，Pod 会被 kill 或者驱逐」: disk space,
not I/O bandwidth, is what is managed), 「POD 驱逐」 (「可以对本地临时存储用量（ephemeral-storage）进行限制」,
「Deployment 会新建 Pod 以维持副本数」). Upstream:
kubernetes.io/docs/concepts/configuration/manage-resources-containers/#local-ephemeral-storage ,
…/scheduling-eviction/node-pressure-eviction/ , …/workloads/pods/disruptions/#pod-disruption-conditions .
Writes are a few MiB: per-pod limits, not node thresholds (which kind sets to 0 %), trigger these.
"""
import pytest

from fixtures.exclusivity import cluster_in_use
from fixtures.pods import view, views, wait_pod
from fixtures.polling import consistently, eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.requires(images=["busybox"])]

LIMIT, OVER_MIB, UNDER_MIB = "8Mi", 24, 2


def evicted(p) -> bool:
    return p.phase == "Failed" and p.reason == "Evicted"


@pytest.fixture(scope="module")
def over_limit(module_ns, cluster, timeouts):
    """Given a Deployment replica writing 24 MiB under an 8Mi ephemeral-storage limit and one writing
    2 MiB under the same limit; wait until the first is evicted."""
    ns = module_ns
    with cluster_in_use(cluster):
        with step(f"Given replicas writing {OVER_MIB} MiB and {UNDER_MIB} MiB under an ephemeral-storage limit of {LIMIT}"):
            ns.apply("scheduling/eviction/disk-filler-deployment.yaml", name="over", limit=LIMIT, write_mib=OVER_MIB)
            ns.apply("scheduling/eviction/disk-filler-deployment.yaml", name="under", limit=LIMIT, write_mib=UNDER_MIB)
        with step("When the kubelet's eviction manager measures them"):
            first = eventually(lambda: [p for p in views(cluster, ns.name, "app=over") if evicted(p)], until=bool,
                               timeout=timeouts.local_storage_eviction, desc="the over-limit replica evicted")[0]
    return ns, first


@pytest.mark.claim("S003-059", "S003-055")
@pytest.mark.severity("critical")
def test_pod_writing_past_its_ephemeral_storage_limit_is_evicted(over_limit, cluster, timeouts):
    """A container writing more than limits.ephemeral-storage gets its pod evicted by the kubelet
    (Failed/Evicted, "ephemeral local storage usage exceeds the total limit"); one writing less runs on."""
    ns, first = over_limit
    with step("Then the over-limit pod ended Failed, reason Evicted, naming the ephemeral storage limit"):
        assert "ephemeral local storage usage exceeds the total limit" in _message(cluster, ns.name, first.name), first
    with step("And the replica writing under its limit keeps running (measured by the same eviction manager)"):
        consistently(lambda: views(cluster, ns.name, "app=under"),
                     holds=lambda ps: len(ps) == 1 and ps[0].phase == "Running" and ps[0].restarts == 0,
                     duration=timeouts.short_hold, desc="the under-limit replica running")


@pytest.mark.claim("S003-059")
@pytest.mark.slow
def test_pod_whose_empty_dir_outgrows_its_size_limit_is_evicted(ns, cluster, timeouts):
    """An emptyDir exceeding its sizeLimit gets the pod evicted, naming the volume. Slow by physics:
    volume usage is measured every volumeStatsAggPeriod (1 m)."""
    with step(f"Given a pod writing {OVER_MIB} MiB into an emptyDir of sizeLimit {LIMIT}"):
        ns.apply("scheduling/eviction/emptydir-filler.yaml", name="volume-over", size_limit=LIMIT, write_mib=OVER_MIB)
    with step("Then the pod is Failed/Evicted with a message about the emptyDir's limit"):
        wait_pod(cluster, ns.name, "volume-over", evicted, timeouts, budget="local_storage_eviction",
                 desc="the emptyDir pod evicted")
        message = _message(cluster, ns.name, "volume-over")
        assert "emptydir volume" in message.lower() and "scratch" in message and "exceeds the limit" in message, message


@pytest.mark.claim("S003-058")
def test_evicted_pod_stays_as_a_failed_object_and_its_deployment_replaces_it(over_limit, cluster, timeouts):
    """A kubelet-evicted pod stays in the API, phase Failed, reason Evicted, and the owning ReplicaSet
    creates a replacement. The DisruptionTarget condition (reason TerminationByKubelet) is set by
    node-pressure evictions only: a pod evicted for its own ephemeral-storage limit carries none."""
    ns, first = over_limit
    with step("Then the evicted pod remains as an object, Failed, reason Evicted"):
        again = view(cluster, ns.name, first.name)
        assert (again.phase, again.reason) == ("Failed", "Evicted"), again
    with step("And, evicted for its own limit rather than node pressure, it carries no DisruptionTarget condition"):
        assert "DisruptionTarget" not in again.conditions, again.conditions
    with step("And the ReplicaSet created a replacement pod that started"):
        replacement = eventually(lambda: [p for p in views(cluster, ns.name, "app=over") if p.name != first.name],
                                 until=lambda ps: any(p.phase in ("Running", "Failed") for p in ps),
                                 timeout=timeouts.pod_start, desc="a replacement replica")
        assert replacement, replacement


def _message(cluster, namespace: str, name: str) -> str:
    return cluster.core.read_namespaced_pod(name, namespace).status.message or ""
