"""DaemonSet placement: pods go through the default scheduler (not a controller-set nodeName),
carry automatic tolerations, and follow nodeSelector, node labels and the control plane's taint.

Source: seed 002 「DaemonSet」 (002_620e0a9d2c440bc2.txt), seed 003 「DaemonSet」 (更新DaemonSet)
(003_d8925e36aedd8024.txt); kubernetes.io/docs/concepts/workloads/controllers/daemonset/#how-daemon-pods-are-scheduled.
"""
import pytest

from fixtures.nodes import control_plane, labelled, pristine_workers, workers
from fixtures.polling import eventually
from fixtures.pods import events_of, views
from fixtures.reporting import step
from fixtures.workloads import daemonset, pods_as_created, wait_rollout

pytestmark = [pytest.mark.area("controllers"), pytest.mark.requires(images=["agnhost"])]

DS = "controllers/daemonset/ds.yaml"
BASE = dict(update_strategy="{type: RollingUpdate}", version="a", node_selector="{}", tolerations="[]")
CP_TOLERATION = "[{key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}]"


def placed(cluster, ns, app: str) -> dict[str, str]:
    """Node -> pod name of the app's live pods."""
    return {p.node: p.name for p in views(cluster, ns.name, f"app={app}") if not p.deleting}


@pytest.mark.claim("S002-156")
def test_daemonset_pods_are_created_without_a_node_and_bound_by_the_default_scheduler(ns, cluster, timeouts):
    """The document says the DaemonSet controller sets spec.nodeName itself, bypassing kube-scheduler.
    Since 1.12 (GA 1.17) it creates each pod without nodeName, pinned by a required node affinity on
    metadata.name, and default-scheduler binds it."""
    with step("When a DaemonSet is created, watching its pods from before their creation"):
        rv = cluster.core.list_namespaced_pod(ns.name).metadata.resource_version
        ns.apply(DS, name="ds", **BASE)
        nodes = workers(cluster)
        created = pods_as_created(cluster, ns.name, "app=ds", rv, len(nodes), timeouts.controller_sync)
    with step("Then each pod was created with no spec.nodeName"):
        assert [p.spec.node_name for p in created] == [None] * len(nodes), (
            f"[behaviour-changed] the controller set nodeName itself: {[p.spec.node_name for p in created]}")
    with step("And with a required node affinity matchFields metadata.name In [<one node>]"):
        targets = {}
        for p in created:
            terms = p.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms
            [field] = [f for t in terms for f in t.match_fields or []]
            assert (field.key, field.operator, len(field.values)) == ("metadata.name", "In", 1), field
            targets[p.metadata.name] = field.values[0]
        assert sorted(targets.values()) == sorted(nodes), targets
    with step("And default-scheduler bound each pod to its target node (Scheduled event)"):
        wait_rollout(cluster, ns.name, "ds", timeouts, kind="DaemonSet")
        for pod, node in targets.items():
            scheduled = [e for e in events_of(cluster, ns.name, pod) if e.reason == "Scheduled"]
            assert scheduled and (scheduled[0].reporting_component or scheduled[0].source.component) == "default-scheduler", scheduled
            assert cluster.core.read_namespaced_pod(pod, ns.name).spec.node_name == node


@pytest.mark.claim("S002-153")
def test_daemonset_pods_get_the_automatic_node_condition_tolerations(ns, cluster, timeouts):
    """The controller adds NoExecute tolerations for not-ready and unreachable (no tolerationSeconds)
    and NoSchedule ones for disk/memory/pid pressure and unschedulable, but not not-ready:NoSchedule."""
    with step("When a DaemonSet without tolerations runs"):
        ns.apply(DS, name="ds", **BASE)
        pod = eventually(lambda: views(cluster, ns.name, "app=ds"), until=bool, timeout=timeouts.controller_sync,
                         desc="a DaemonSet pod")[0]
        tolerations = {(t.key, t.effect, t.toleration_seconds)
                       for t in cluster.core.read_namespaced_pod(pod.name, ns.name).spec.tolerations}
    with step("Then its pod tolerates not-ready and unreachable NoExecute forever, and the pressure conditions"):
        expected = {("node.kubernetes.io/not-ready", "NoExecute", None), ("node.kubernetes.io/unreachable", "NoExecute", None),
                    ("node.kubernetes.io/disk-pressure", "NoSchedule", None), ("node.kubernetes.io/memory-pressure", "NoSchedule", None),
                    ("node.kubernetes.io/pid-pressure", "NoSchedule", None), ("node.kubernetes.io/unschedulable", "NoSchedule", None)}
        assert expected <= tolerations, f"missing: {expected - tolerations}"
    with step("And not node.kubernetes.io/not-ready:NoSchedule"):
        assert not {t for t in tolerations if t[:2] == ("node.kubernetes.io/not-ready", "NoSchedule")}, tolerations


@pytest.mark.claim("S002-155")
def test_the_control_plane_gets_a_daemon_pod_only_when_its_taint_is_tolerated(ns, cluster, timeouts):
    """A DaemonSet without tolerations runs one pod per worker and none on the tainted control plane;
    one that tolerates node-role.kubernetes.io/control-plane also runs there."""
    cp = control_plane(cluster)
    with step("Given two DaemonSets: 'plain' without tolerations, 'everywhere' tolerating the control plane"):
        ns.apply(DS, name="plain", **BASE)
        ns.apply(DS, name="everywhere", **{**BASE, "tolerations": CP_TOLERATION})
        for name in ("plain", "everywhere"):
            wait_rollout(cluster, ns.name, name, timeouts, kind="DaemonSet")
    with step("Then 'plain' runs exactly one pod on each worker and none on the control plane"):
        assert sorted(placed(cluster, ns, "plain")) == workers(cluster)
        assert len(views(cluster, ns.name, "app=plain")) == len(workers(cluster))
    with step(f"And 'everywhere' also runs one on {cp}"):
        assert sorted(placed(cluster, ns, "everywhere")) == sorted([*workers(cluster), cp])


@pytest.mark.claim("S002-155", "S003-083")
@pytest.mark.disruptive  # labels a worker (a key no one else uses), removed afterwards
def test_node_selector_places_daemon_pods_on_labelled_nodes_and_unlabelling_removes_them(ns, cluster, timeouts):
    """With a nodeSelector, no node matches at first (0 pods); labelling a worker creates its pod within
    seconds, removing the label deletes it."""
    first = pristine_workers(cluster)[0]
    key = f"kubeproof.io/ds-{ns.name}"
    with step(f"Given a DaemonSet with nodeSelector {key}=on, which no node has"):
        ns.apply(DS, name="picky", **{**BASE, "node_selector": f"{{{key}: 'on'}}"})
        eventually(lambda: daemonset(cluster, ns.name, "picky"), until=lambda d: d["observed"] >= d["generation"] and d["desired"] == 0,
                   timeout=timeouts.controller_sync, desc="DaemonSet wants 0 pods")
        assert views(cluster, ns.name, "app=picky") == []
    with step(f"When {first} gets the label"), labelled(cluster, first, {key: "on"}):
        with step(f"Then a pod is created and runs on {first} only"):
            eventually(lambda: placed(cluster, ns, "picky"), until=lambda m: list(m) == [first],
                       timeout=timeouts.controller_sync, desc=f"a pod on {first}")
    with step("When the label is removed, then the pod is deleted"):
        eventually(lambda: placed(cluster, ns, "picky"), until=lambda m: m == {}, timeout=timeouts.controller_sync,
                   desc="no pod left")
    pristine_workers(cluster)
