"""kubectl rollout: undo (a new revision number for the old template), pause/resume (changes collected into one
rollout), template patches and restart (each a rollout), observed as ReplicaSets and their revision annotations.

Source: seed 002 «常用命令». Upstream: https://kubernetes.io/docs/concepts/workloads/controllers/deployment/
"""
import pytest

from fixtures.polling import consistently, eventually
from fixtures.reporting import step
from fixtures.workloads import deployment, replicasets, rolled_out, wait_rollout

pytestmark = [pytest.mark.area("control-plane"), pytest.mark.requires(images=["agnhost"])]


STEP_2 = '{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"STEP","value":"2"}]}]}}}}'


def _revisions(cluster, namespace: str) -> dict[str, int]:
    """ReplicaSet pod-template-hash -> revision number."""
    return {rs["hash"]: int(rs["revision"]) for rs in replicasets(cluster, namespace, "app=web")}


def _web(ns, cluster, timeouts):
    ns.apply("control_plane/kubectl/deployment.yaml", name="web", replicas=1)
    wait_rollout(cluster, ns.name, "web", timeouts)


def _new_revision(cluster, ns, timeouts, count: int) -> dict[str, int]:
    return eventually(lambda: _revisions(cluster, ns.name), until=lambda r: len(r) == count, timeout=timeouts.controller_sync,
                      desc=f"{count} ReplicaSets")


@pytest.mark.claim("S002-237")
def test_rollout_undo_brings_back_the_old_template_under_a_new_revision(ns, cluster, timeouts):
    """`rollout undo` re-activates the previous ReplicaSet and gives it a NEW, higher revision (numbers only grow);
    --to-revision targets one; history keeps revisionHistoryLimit (default 10) old ReplicaSets; --record is
    deprecated."""
    k = lambda *a, **kw: cluster.kubectl("-n", ns.name, *a, **kw)  # noqa: E731
    with step("Given revision 1, then revision 2 from a template change (recorded with the deprecated --record)"):
        _web(ns, cluster, timeouts)
        first = set(_revisions(cluster, ns.name))
        changed = k("patch", "deployment/web", "--record", "-p", STEP_2)
        assert "--record has been deprecated" in changed.stderr, changed.stderr
        cause = cluster.apps.read_namespaced_deployment("web", ns.name).metadata.annotations.get("kubernetes.io/change-cause", "")
        assert "kubectl patch" in cause, cause
        wait_rollout(cluster, ns.name, "web", timeouts)
        revs = _new_revision(cluster, ns, timeouts, 2)
        (rs1,) = first
        assert revs[rs1] == 1 and max(revs.values()) == 2, revs
        assert cluster.apps.read_namespaced_deployment("web", ns.name).spec.revision_history_limit == 10
    with step("When rolled back with rollout undo"):
        k("rollout", "undo", "deployment/web")
        eventually(lambda: _revisions(cluster, ns.name)[rs1], until=lambda r: r == 3, timeout=timeouts.controller_sync,
                   desc="revision 1's ReplicaSet renumbered")
        wait_rollout(cluster, ns.name, "web", timeouts)
    with step("Then revision 1's ReplicaSet is active again as revision 3, and history lists 2 and 3"):
        active = [rs for rs in replicasets(cluster, ns.name, "app=web") if rs["replicas"]]
        assert [a["hash"] for a in active] == [rs1], active
        history = k("rollout", "history", "deployment/web").stdout
        numbers = [line.split()[0] for line in history.splitlines()[2:] if line.strip()]
        assert numbers == ["2", "3"], history
    with step("And --to-revision=2 brings back revision 2 as revision 4"):
        rs2 = next(h for h, r in _revisions(cluster, ns.name).items() if r == 2)
        k("rollout", "undo", "deployment/web", "--to-revision=2")
        eventually(lambda: _revisions(cluster, ns.name)[rs2], until=lambda r: r == 4, timeout=timeouts.controller_sync,
                   desc="revision 2 renumbered 4")


@pytest.mark.claim("S002-238")
def test_a_paused_deployment_collects_changes_into_one_rollout_on_resume(ns, cluster, timeouts):
    """While paused, template changes create no ReplicaSet (Progressing reason DeploymentPaused) and scaling still
    works; resume creates exactly one new ReplicaSet carrying all the changes."""
    k = lambda *a, **kw: cluster.kubectl("-n", ns.name, *a, **kw)  # noqa: E731
    _web(ns, cluster, timeouts)
    with step("Given the Deployment paused"):
        k("rollout", "pause", "deployment/web")
        eventually(lambda: deployment(cluster, ns.name, "web")["conditions"].get("Progressing"),
                   until=lambda c: c and c[1] == "DeploymentPaused", timeout=timeouts.controller_sync, desc="DeploymentPaused")
    with step("When three template changes are made and it is scaled to 2"):
        k("set", "env", "deployment/web", "STEP=2")
        k("set", "env", "deployment/web", "EXTRA=yes")
        k("set", "resources", "deployment/web", "--requests=cpu=10m")
        k("scale", "deployment/web", "--replicas=2")
    with step("Then no new ReplicaSet appears, but the scale takes effect"):
        consistently(lambda: len(_revisions(cluster, ns.name)), holds=lambda n: n == 1, duration=timeouts.short_hold,
                     desc="one ReplicaSet while paused")
        eventually(lambda: deployment(cluster, ns.name, "web")["ready"], until=lambda n: n == 2,
                   timeout=timeouts.pod_start, desc="2 replicas while paused")
    with step("When resumed"):
        k("rollout", "resume", "deployment/web")
        wait_rollout(cluster, ns.name, "web", timeouts)
    with step("Then exactly one new ReplicaSet (revision 2) carries all three changes"):
        revs = _revisions(cluster, ns.name)
        assert sorted(revs.values()) == [1, 2], revs
        new = next(rs for rs in cluster.apps.list_namespaced_replica_set(ns.name, label_selector="app=web").items
                   if rs.metadata.annotations["deployment.kubernetes.io/revision"] == "2")
        c = new.spec.template.spec.containers[0]
        assert {e.name: e.value for e in c.env} == {"STEP": "2", "EXTRA": "yes"} and c.resources.requests == {"cpu": "10m"}, c


@pytest.mark.claim("S002-240")
def test_any_template_change_and_rollout_restart_start_a_new_rollout(ns, cluster, timeouts):
    """A change anywhere in spec.template (an annotation, a label the selector does not cover) is a new rollout
    (new ReplicaSet); `kubectl rollout restart` does the same through the kubectl.kubernetes.io/restartedAt annotation."""
    k = lambda *a, **kw: cluster.kubectl("-n", ns.name, *a, **kw)  # noqa: E731
    _web(ns, cluster, timeouts)
    with step("When the template gets an annotation and an extra label (the document's patch)"):
        k("patch", "deployment/web", "-p", '{"spec":{"template":{"metadata":{"labels":{"cm":"stable"},"annotations":{"version/config":"2026"}}}}}')
    with step("Then a second ReplicaSet rolls out, with the label the selector does not cover"):
        _new_revision(cluster, ns, timeouts, 2)
        wait_rollout(cluster, ns.name, "web", timeouts)
        assert cluster.apps.read_namespaced_deployment("web", ns.name).spec.selector.match_labels == {"app": "web"}
    with step("When kubectl rollout restart runs"):
        k("rollout", "restart", "deployment/web")
    with step("Then a third ReplicaSet rolls out, its template stamped with restartedAt"):
        _new_revision(cluster, ns, timeouts, 3)
        d = eventually(lambda: deployment(cluster, ns.name, "web"), until=rolled_out, timeout=timeouts.pod_start,
                       desc="restart rolled out")
        newest = max(cluster.apps.list_namespaced_replica_set(ns.name, label_selector="app=web").items,
                     key=lambda rs: int(rs.metadata.annotations["deployment.kubernetes.io/revision"]))
        assert "kubectl.kubernetes.io/restartedAt" in newest.spec.template.metadata.annotations, d
