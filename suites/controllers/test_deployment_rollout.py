"""Deployment rollouts: scaling vs template changes, surge and unavailability bounds, Recreate,
revert and undo, progress deadline, revision history.

Source: seed 002 「Deployment」 (002_620e0a9d2c440bc2.txt) and seed 003 「Deployment」
(003_d8925e36aedd8024.txt); kubernetes.io/docs/concepts/workloads/controllers/deployment/.
"""
import pytest

from fixtures.api_calls import create_raw
from fixtures.manifests import render
from fixtures.polling import consistently, eventually, observe_during
from fixtures.pods import views
from fixtures.reporting import step
from fixtures.workloads import deployment, replicaset, replicasets, scale, wait_rollout

pytestmark = [pytest.mark.area("controllers"), pytest.mark.requires(images=["agnhost"])]

WEB = "controllers/deployment/web.yaml"
# netexec listens on 8080: a template probing 8080 is ready at once, one probing 8081 never is
READY, NEVER_READY = 8080, 8081
DEFAULTS = dict(replicas=2, history=10, progress_deadline=600, max_surge="25%", max_unavailable="25%", version="a",
                ready_port=READY)


def web(ns, name: str, **params):
    ns.apply(WEB, name=name, **{**DEFAULTS, **params})


def live_pods(cluster, ns, name):
    return [p for p in views(cluster, ns.name, f"app={name}") if not p.deleting]


@pytest.mark.claim("S002-138", "S003-069", "S003-065")
def test_scaling_resizes_the_same_replicaset_and_only_a_template_change_creates_a_new_one(ns, cluster, timeouts):
    """Changing replicas (also through /scale, as kubectl scale and the HPA do) scales the existing
    ReplicaSet; only a pod-template change creates a new ReplicaSet and revision.

    The document says each replica count is its own version with its own ReplicaSet: it never was."""
    with step("Given a Deployment with 1 replica, rolled out"):
        web(ns, "web", replicas=1)
        wait_rollout(cluster, ns.name, "web", timeouts)
        [first] = replicasets(cluster, ns.name, "app=web")
        assert first["revision"] == "1", first
    with step("When it is scaled to 3 through the /scale subresource"):
        scale(cluster, ns.name, "web", 3)
        wait_rollout(cluster, ns.name, "web", timeouts)
    with step("Then the same single ReplicaSet now has 3 replicas, still revision 1"):
        after_scale = replicasets(cluster, ns.name, "app=web")
        assert [(r["name"], r["replicas"], r["revision"]) for r in after_scale] == [(first["name"], 3, "1")], after_scale
        assert deployment(cluster, ns.name, "web")["revision"] == "1"
    with step("When the pod template changes"):
        web(ns, "web", replicas=3, version="b")
        wait_rollout(cluster, ns.name, "web", timeouts)
    with step("Then a second ReplicaSet with a new pod-template-hash carries revision 2, the first is at 0"):
        old, new = replicasets(cluster, ns.name, "app=web")
        assert (old["name"], old["replicas"], new["revision"], new["replicas"]) == (first["name"], 0, "2", 3), (old, new)
        assert new["hash"] != old["hash"]


@pytest.mark.claim("S002-137", "S003-071", "S003-072")
def test_unset_strategy_defaults_to_rolling_update_25_percent_and_both_zero_is_refused(ns, cluster):
    """The server defaults a Deployment to RollingUpdate with maxSurge 25% and maxUnavailable 25%,
    revisionHistoryLimit 10 and progressDeadlineSeconds 600; maxSurge 0 with maxUnavailable 0 is invalid."""
    with step("When a Deployment without strategy, history limit or deadline is created (dry run)"):
        answer = create_raw(cluster, render("controllers/deployment/defaults.yaml", name="bare", image_agnhost="x")[0],
                            ns.name, dry_run=True)
        assert answer.status == 201, answer
        spec = answer.body["spec"]
    with step("Then the defaults are RollingUpdate 25%/25%, history 10, deadline 600 s"):
        assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}, spec
        assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600), spec
    with step("And a Deployment with maxSurge 0 and maxUnavailable 0 is refused with 422"):
        zero = create_raw(cluster, render("controllers/deployment/no-surge-no-unavailable.yaml", name="zero", image_agnhost="x")[0],
                          ns.name, dry_run=True)
        assert zero.status == 422 and "may not be 0 when `maxSurge` is 0" in zero.message, zero


@pytest.mark.claim("S002-137")
def test_percentages_round_surge_up_and_unavailable_down_during_a_rollout_of_3(ns, cluster, timeouts):
    """With replicas 3 and 25%/25%, maxSurge rounds up to 1 and maxUnavailable down to 0: during a
    rollout there are at most 4 pods wanted, and 3 pods stay ready throughout."""
    with step("Given 3 replicas with the default 25% / 25%"):
        web(ns, "web", replicas=3)
        wait_rollout(cluster, ns.name, "web", timeouts)

    def sample():
        wanted = sum(r["replicas"] for r in replicasets(cluster, ns.name, "app=web"))
        return wanted, sum(p.ready for p in live_pods(cluster, ns, "web"))

    with step("When the template changes, sampling ReplicaSet sizes and ready pods until the rollout ends"):
        web(ns, "web", replicas=3, version="b")
        _, samples = observe_during(lambda: wait_rollout(cluster, ns.name, "web", timeouts), sample)
    with step("Then the ReplicaSets together never wanted more than 4 pods, and did want 4 (surge 1)"):
        assert max(w for w, _ in samples) == 4, samples
    with step("And never fewer than 3 pods were ready (unavailable 0)"):
        assert min(r for _, r in samples) >= 3, samples


@pytest.mark.claim("S002-141")
def test_max_surge_3_starts_3_new_pods_at_once_and_scaling_mid_rollout_is_proportional(ns, cluster, timeouts):
    """A rollout step is bounded by maxSurge, not ±1: with maxSurge 3 the new ReplicaSet is sized 3 at
    once; maxUnavailable 0 keeps every old pod while new ones are unready; scaling the Deployment
    mid-rollout is spread over both ReplicaSets in proportion."""
    with step("Given 4 ready replicas with maxSurge 3, maxUnavailable 0"):
        web(ns, "web", replicas=4, max_surge=3, max_unavailable=0)
        wait_rollout(cluster, ns.name, "web", timeouts)
    with step("When the template changes to one whose pods never become ready"):
        web(ns, "web", replicas=4, max_surge=3, max_unavailable=0, version="b", ready_port=NEVER_READY)
        old, new = eventually(lambda: replicasets(cluster, ns.name, "app=web"), until=lambda rs: len(rs) == 2,
                              timeout=timeouts.controller_sync, desc="a second ReplicaSet")
    with step("Then the new ReplicaSet is sized 3 at first sight, not 1"):
        assert new["replicas"] == 3, (old, new)
    with step("And the old ReplicaSet keeps all 4 replicas while the new pods are unready"):
        consistently(lambda: replicaset(cluster, ns.name, old["name"])["replicas"], holds=lambda n: n == 4,
                     duration=timeouts.short_hold, desc="old ReplicaSet at 4")
    with step("When the Deployment is scaled from 4 to 8 mid-rollout"):
        scale(cluster, ns.name, "web", 8)
    with step("Then both ReplicaSets grow, together to 8 + 3 surge = 11"):
        sizes = eventually(lambda: (replicaset(cluster, ns.name, old["name"])["replicas"],
                                    replicaset(cluster, ns.name, new["name"])["replicas"]),
                           until=lambda s: sum(s) == 11, timeout=timeouts.controller_sync, desc="11 replicas over both")
        assert sizes[0] > 4 and sizes[1] > 3, f"scaling was not proportional (old, new) = {sizes}"


@pytest.mark.claim("S003-067", "S002-141", "S003-065")
def test_reverting_the_template_reuses_the_old_replicaset_with_new_pods(ns, cluster, timeouts):
    """Template A -> B -> A: the old ReplicaSet was kept at 0 replicas and is scaled back up (same
    pod-template-hash, no third ReplicaSet); pods are never moved, every pod is new."""
    with step("Given 2 replicas of template A, rolled out"):
        web(ns, "web")
        wait_rollout(cluster, ns.name, "web", timeouts)
        [rs_a] = replicasets(cluster, ns.name, "app=web")
        pods_a = {p.uid for p in live_pods(cluster, ns, "web")}
    with step("When the template changes to B"):
        web(ns, "web", version="b")
        wait_rollout(cluster, ns.name, "web", timeouts)
    with step("Then A's ReplicaSet is kept at 0 replicas and B runs new pods"):
        by_name = {r["name"]: r for r in replicasets(cluster, ns.name, "app=web")}
        assert by_name[rs_a["name"]]["replicas"] == 0 and len(by_name) == 2, by_name
        pods_b = {p.uid for p in live_pods(cluster, ns, "web")}
        assert not pods_a & pods_b, "pods of template A survived the rollout to B"
    with step("When the template is reverted to A"):
        web(ns, "web", version="a")
        wait_rollout(cluster, ns.name, "web", timeouts)
    with step("Then A's ReplicaSet (same hash) runs 2 replicas again, and there is no third ReplicaSet"):
        rss = replicasets(cluster, ns.name, "app=web")
        active = [r for r in rss if r["replicas"]]
        assert len(rss) == 2 and [(r["name"], r["hash"]) for r in active] == [(rs_a["name"], rs_a["hash"])], rss
    with step("And all its pods are new ones"):
        pods_a2 = {p.uid for p in live_pods(cluster, ns, "web")}
        assert len(pods_a2) == 2 and not pods_a2 & (pods_a | pods_b), (pods_a, pods_b, pods_a2)


@pytest.mark.claim("S003-068", "S003-065", "S002-136")
def test_rollout_undo_reactivates_the_previous_replicaset_under_the_next_revision(ns, cluster, timeouts):
    """`kubectl rollout undo` scales the previous ReplicaSet back up and gives it the next revision
    number (revisions keep increasing: 1, 2 -> the undone-to ReplicaSet becomes 3)."""
    with step("Given revisions 1 (template A) and 2 (template B)"):
        web(ns, "web")
        wait_rollout(cluster, ns.name, "web", timeouts)
        web(ns, "web", version="b")
        wait_rollout(cluster, ns.name, "web", timeouts)
        rs1, rs2 = replicasets(cluster, ns.name, "app=web")
    with step("When the rollout is undone"):
        cluster.kubectl("-n", ns.name, "rollout", "undo", "deployment/web")
        wait_rollout(cluster, ns.name, "web", timeouts)
    with step("Then revision 1's ReplicaSet runs again, now as revision 3; B's ReplicaSet stays revision 2 at 0"):
        rss = {r["name"]: r for r in replicasets(cluster, ns.name, "app=web")}
        assert len(rss) == 2, rss
        assert (rss[rs1["name"]]["revision"], rss[rs1["name"]]["replicas"]) == ("3", 2), rss
        assert (rss[rs2["name"]]["revision"], rss[rs2["name"]]["replicas"]) == ("2", 0), rss
    with step("And the rollout history lists revisions 2 and 3"):
        history = cluster.kubectl("-n", ns.name, "rollout", "history", "deployment/web").stdout
        revisions = [line.split()[0] for line in history.splitlines() if line[:1].isdigit()]
        assert revisions == ["2", "3"], history


@pytest.mark.claim("S003-070", "S003-065", "S002-136")
def test_a_paused_deployment_batches_template_changes_into_one_rollout_on_resume(ns, cluster, timeouts):
    """While paused, template changes create no ReplicaSet (Progressing reason DeploymentPaused) and
    scaling still works; on resume exactly one new ReplicaSet carries all accumulated changes."""
    with step("Given 2 replicas, rolled out, then paused"):
        web(ns, "web")
        wait_rollout(cluster, ns.name, "web", timeouts)
        cluster.apps.patch_namespaced_deployment("web", ns.name, {"spec": {"paused": True}})
    with step("When the template is changed twice and the Deployment scaled to 3"):
        web(ns, "web", version="b")
        web(ns, "web", version="c", replicas=3)
    with step("Then no new ReplicaSet appears, the condition says DeploymentPaused, and the old one scales to 3"):
        eventually(lambda: deployment(cluster, ns.name, "web")["conditions"].get("Progressing"),
                   until=lambda c: c == ("Unknown", "DeploymentPaused"), timeout=timeouts.controller_sync,
                   desc="Progressing: DeploymentPaused")
        eventually(lambda: replicasets(cluster, ns.name, "app=web"), until=lambda rs: len(rs) == 1 and rs[0]["replicas"] == 3,
                   timeout=timeouts.controller_sync, desc="one ReplicaSet scaled to 3")
        consistently(lambda: len(replicasets(cluster, ns.name, "app=web")), holds=lambda n: n == 1,
                     duration=timeouts.short_hold, desc="still one ReplicaSet while paused")
    with step("When the Deployment is resumed"):
        cluster.apps.patch_namespaced_deployment("web", ns.name, {"spec": {"paused": False}})
        wait_rollout(cluster, ns.name, "web", timeouts)
    with step("Then exactly one new ReplicaSet (revision 2) runs the last template, version c"):
        rss = replicasets(cluster, ns.name, "app=web")
        assert [r["revision"] for r in rss] == ["1", "2"] and rss[1]["replicas"] == 3, rss
        versions = {cluster.core.read_namespaced_pod(p.name, ns.name).metadata.annotations["kubeproof.io/version"]
                    for p in live_pods(cluster, ns, "web")}
        assert versions == {"c"}, versions


@pytest.mark.claim("S002-140")
@pytest.mark.requires(images=["busybox"])
def test_recreate_starts_new_pods_only_after_every_old_pod_has_terminated(ns, cluster, timeouts):
    """With strategy Recreate, no pod of the new template exists while any old pod still runs, even
    one Terminating in its grace period (an old pod whose containers have stopped, phase Failed, may
    still be listed for a moment beside the first new pod)."""
    with step("Given 2 replicas under Recreate whose containers ignore SIGTERM (3 s grace period)"):
        ns.apply("controllers/deployment/recreate.yaml", name="rec", replicas=2, grace=3, version="a")
        wait_rollout(cluster, ns.name, "rec", timeouts)
        [old_hash] = {p.labels["pod-template-hash"] for p in views(cluster, ns.name, "app=rec")}

    def sample():  # (old template?, being deleted?, terminated: containers stopped, phase Succeeded/Failed)
        return sorted((p.labels["pod-template-hash"] == old_hash, p.deleting, p.phase in ("Succeeded", "Failed"))
                      for p in views(cluster, ns.name, "app=rec"))

    with step("When the template changes, sampling every pod (Terminating included) until the rollout ends"):
        ns.apply("controllers/deployment/recreate.yaml", name="rec", replicas=2, grace=3, version="b")
        _, samples = observe_during(lambda: wait_rollout(cluster, ns.name, "rec", timeouts), sample)
    with step("Then the old pods were seen Terminating (the probe sees them)"):
        assert any(s and all(old and deleting for old, deleting, _ in s) for s in samples), samples
    with step("And no sample held a new pod beside an old pod that had not terminated"):
        # the controller waits for old pods to stop running (phase Succeeded/Failed), not for their API objects to go
        mixed = [s for s in samples if any(not old for old, _, _ in s) and any(old and not done for old, _, done in s)]
        assert not mixed, f"a new pod beside a running old one: {mixed[:3]}"


@pytest.mark.claim("S003-071")
def test_a_stalled_rollout_reports_progress_deadline_exceeded_and_is_not_rolled_back(ns, cluster, timeouts):
    """Past progressDeadlineSeconds without progress, Progressing=False with reason
    ProgressDeadlineExceeded; `kubectl rollout status` fails; the old pods keep serving and the
    template is not rolled back."""
    with step("Given 2 ready replicas with progressDeadlineSeconds 5, maxUnavailable 0"):
        web(ns, "web", progress_deadline=5, max_surge=1, max_unavailable=0)
        wait_rollout(cluster, ns.name, "web", timeouts)
    with step("When the template changes to one whose pods never become ready"):
        web(ns, "web", progress_deadline=5, max_surge=1, max_unavailable=0, version="b", ready_port=NEVER_READY)
    with step("Then Progressing turns False with reason ProgressDeadlineExceeded"):
        eventually(lambda: deployment(cluster, ns.name, "web")["conditions"].get("Progressing"),
                   until=lambda c: c == ("False", "ProgressDeadlineExceeded"), timeout=timeouts.controller_sync,
                   desc="Progressing=False ProgressDeadlineExceeded")
    with step("And kubectl rollout status exits non-zero naming the deadline"):
        status = cluster.kubectl("-n", ns.name, "rollout", "status", "deployment/web", f"--timeout={int(timeouts.apply)}s",
                                 check=False)
        assert status.returncode != 0 and "exceeded its progress deadline" in status.stderr + status.stdout, status
    with step("And the 2 old pods are still ready and the template is still the new one (no automatic rollback)"):
        d = deployment(cluster, ns.name, "web")
        assert d["available"] == 2, d
        live = cluster.apps.read_namespaced_deployment("web", ns.name)
        assert live.spec.template.metadata.annotations["kubeproof.io/version"] == "b"


@pytest.mark.claim("S003-072")
def test_only_revision_history_limit_old_replicasets_are_kept(ns, cluster, timeouts):
    """After 5 templates, revisionHistoryLimit 2 keeps the current ReplicaSet and the 2 newest old
    ones; revisionHistoryLimit 0 keeps none (nothing left to roll back to)."""
    with step("Given two 1-replica Deployments, history limits 2 and 0"):
        for name, history in (("keep2", 2), ("keep0", 0)):
            web(ns, name, replicas=1, history=history)
    with step("When each goes through 5 templates, each rolled out"):
        for version in "abcde":
            for name, history in (("keep2", 2), ("keep0", 0)):
                web(ns, name, replicas=1, history=history, version=version)
            for name in ("keep2", "keep0"):
                wait_rollout(cluster, ns.name, name, timeouts)
    with step("Then keep2 has 3 ReplicaSets: revisions 3, 4 and the current 5"):
        eventually(lambda: [r["revision"] for r in replicasets(cluster, ns.name, "app=keep2")],
                   until=lambda revs: revs == ["3", "4", "5"], timeout=timeouts.controller_sync, desc="keep2: revisions 3, 4, 5")
    with step("And keep0 only its current ReplicaSet"):
        eventually(lambda: [r["revision"] for r in replicasets(cluster, ns.name, "app=keep0")],
                   until=lambda revs: revs == ["5"], timeout=timeouts.controller_sync, desc="keep0: revision 5 only")
