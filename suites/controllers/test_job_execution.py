"""Jobs: pods owned by the Job through a uid-based selector, parallelism and completions, retries
with exponential back-off up to backoffLimit, activeDeadlineSeconds bounding the whole run, a
finished Job kept until ttlSecondsAfterFinished, and replacement of a lost pod.

Source: seed 002 「Job」 (002_620e0a9d2c440bc2.txt), seed 003 「Job」 (003_d8925e36aedd8024.txt);
kubernetes.io/docs/concepts/workloads/controllers/job/.
"""
from datetime import timedelta

import pytest

from fixtures.polling import consistently, eventually, observe_during, retry_not_found
from fixtures.pods import views, wait_ready
from fixtures.reporting import step
from fixtures.workloads import batch, job, job_finished

pytestmark = [pytest.mark.area("controllers"), pytest.mark.requires(images=["busybox"])]

JOB = "controllers/job/job.yaml"
# long enough for the pod to be running (pod start on a loaded 2-core node takes seconds) before the deadline
DEADLINE = 20
BASE = dict(completions=1, parallelism=1, backoff=6, deadline="null", ttl="null", restart="Never", script="true")


def run(ns, name: str, **params) -> None:
    ns.apply(JOB, name=name, **{**BASE, **params})


def wait_job(cluster, ns, name: str, condition: str, timeouts, budget: str = "pod_start") -> dict:
    return eventually(lambda: job(cluster, ns.name, name), until=job_finished(condition), timeout=getattr(timeouts, budget),
                      desc=f"Job {name} {condition}")


def job_exists(cluster, ns, name: str) -> bool:
    return name in {j.metadata.name for j in batch(cluster).list_namespaced_job(ns.name).items}


@pytest.mark.claim("S002-157", "S003-087")
def test_job_pods_are_owned_by_the_job_and_selected_by_its_uid(ns, cluster, timeouts):
    """A Job's pod is owned directly by the Job and labelled with the Job's uid and name; the Job's
    generated selector is that uid; a pod that exits 0 ends Completed and the Job Complete."""
    with step("When a Job whose pod exits 0 runs"):
        run(ns, "once")
        done = wait_job(cluster, ns, "once", "Complete", timeouts)
        live = batch(cluster).read_namespaced_job("once", ns.name)
        uid = live.metadata.uid
    with step("Then the Job selects its pods by its own uid (generated selector, manualSelector unset)"):
        assert live.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": uid}, live.spec.selector
        assert not live.spec.manual_selector
    with step("And its one pod is owned by the Job and labelled with the uid and the Job's name"):
        [pod] = views(cluster, ns.name, f"batch.kubernetes.io/controller-uid={uid}")
        assert pod.owner == ("Job", "once"), pod.owner
        assert {k: pod.labels.get(k) for k in ("batch.kubernetes.io/controller-uid", "controller-uid",
                                               "batch.kubernetes.io/job-name", "job-name")} == {
            "batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
            "batch.kubernetes.io/job-name": "once", "job-name": "once"}, pod.labels
    with step("And the pod ended Succeeded (Completed) and the Job is Complete with 1 success"):
        assert pod.phase == "Succeeded" and pod.container("work").reason == "Completed", pod
        assert done["succeeded"] == 1, done


@pytest.mark.claim("S002-160", "S003-087")
def test_no_more_than_parallelism_pods_run_and_the_job_completes_after_completions_successes(ns, cluster, timeouts):
    """With parallelism 2 and completions 4, at most 2 pods are active at once (and 2 are), and the Job
    completes once 4 pods have succeeded."""
    with step("When a Job with parallelism 2, completions 4 (each pod sleeps 2 s) runs, sampled until it completes"):
        run(ns, "batch", completions=4, parallelism=2, script="sleep 2")
        done, samples = observe_during(lambda: wait_job(cluster, ns, "batch", "Complete", timeouts),
                                       lambda: sum(1 for p in views(cluster, ns.name, "app=batch")
                                                   if p.phase in ("Pending", "Running") and not p.deleting))
    with step("Then never more than 2 pods were active, and 2 were at some point"):
        assert max(samples) == 2, samples
    with step("And the Job completed with exactly 4 successful pods"):
        assert done["succeeded"] == 4 and len(views(cluster, ns.name, "app=batch")) == 4, done


@pytest.mark.claim("S002-158")
@pytest.mark.slow
def test_failed_pods_are_retried_after_10_then_20_seconds_until_the_backoff_limit(ns, cluster, timeouts):
    """With backoffLimit 2 and restartPolicy Never, a failing pod is replaced after ~10 s, then ~20 s;
    after 3 failures the Job fails with BackoffLimitExceeded. With OnFailure, container restarts
    count toward the limit."""
    with step("When Job 'never' (exit 1, backoffLimit 2, Never) and Job 'onfail' (exit 1, backoffLimit 1, OnFailure) run"):
        run(ns, "never", backoff=2, script="exit 1")
        run(ns, "onfail", backoff=1, restart="OnFailure", script="exit 1")
    with step("Then 'never' fails with BackoffLimitExceeded after 3 pods"):
        failed = wait_job(cluster, ns, "never", "Failed", timeouts, budget="job_backoff")
        assert failed["conditions"]["Failed"] == ("True", "BackoffLimitExceeded") and failed["failed"] == 3, failed
    with step("And each retry came about 10 s, then 20 s, after the previous pod failed"):
        pods = sorted(views(cluster, ns.name, "app=never"), key=lambda p: p.created)
        gaps = [(nxt.created - prev.container("work").finished_at).total_seconds() for prev, nxt in zip(pods, pods[1:])]
        # second-granular stamps: +-1 s
        assert len(gaps) == 2 and 9 <= gaps[0] <= 15 and 19 <= gaps[1] <= 30, f"retry delays {gaps} (expected ~10 s, ~20 s)"
    with step("And 'onfail' fails with BackoffLimitExceeded from container restarts within its one pod"):
        onfail = wait_job(cluster, ns, "onfail", "Failed", timeouts, budget="job_backoff")
        assert onfail["conditions"]["Failed"] == ("True", "BackoffLimitExceeded"), onfail


@pytest.mark.claim("S002-159", "S003-090")
def test_active_deadline_fails_a_running_job_and_stops_its_pod_despite_retries_left(ns, cluster, timeouts):
    """activeDeadlineSeconds bounds the Job's whole run, not only retries: at 20 s a pod still running
    (and succeeding so far) is terminated and the Job fails with DeadlineExceeded, with backoffLimit unused."""
    with step(f"When a Job whose pod sleeps 600 s runs with activeDeadlineSeconds {DEADLINE} and backoffLimit 6, sampling its pods"):
        run(ns, "slowpoke", deadline=DEADLINE, script="sleep 600")
        failed, samples = observe_during(lambda: wait_job(cluster, ns, "slowpoke", "Failed", timeouts),
                                         lambda: [p.phase for p in views(cluster, ns.name, "app=slowpoke") if not p.deleting])
    with step(f"Then its pod was running, and the Job failed with DeadlineExceeded no earlier than {DEADLINE} s after it started"):
        assert any("Running" in s for s in samples), samples
        assert failed["conditions"]["Failed"] == ("True", "DeadlineExceeded"), failed
        cond = next(c for c in batch(cluster).read_namespaced_job("slowpoke", ns.name).status.conditions if c.type == "Failed")
        assert cond.last_transition_time - failed["start"] >= timedelta(seconds=DEADLINE), (cond.last_transition_time, failed["start"])
    with step("And its running pod is terminated, no pod is retried"):
        eventually(lambda: [p for p in views(cluster, ns.name, "app=slowpoke") if p.phase == "Running" and not p.deleting],
                   until=lambda ps: ps == [], timeout=timeouts.controller_sync, desc="no running pod")
        assert len(views(cluster, ns.name, "app=slowpoke")) <= 1


@pytest.mark.claim("S002-161")
def test_a_finished_job_stays_unless_ttl_seconds_after_finished_deletes_it(ns, cluster, timeouts):
    """A finished Job and its pod remain; with ttlSecondsAfterFinished 2 the Job (and its pod) are
    deleted about 2 s after it finishes."""
    with step("When Job 'kept' (no TTL) and Job 'ttl' (ttlSecondsAfterFinished 2) complete"):
        run(ns, "kept")
        run(ns, "ttl", ttl=2)
        wait_job(cluster, ns, "kept", "Complete", timeouts)
    with step("Then 'ttl' and its pod are deleted"):
        eventually(lambda: job_exists(cluster, ns, "ttl"), until=lambda exists: not exists, timeout=timeouts.controller_sync,
                   desc="Job ttl deleted")
        eventually(lambda: views(cluster, ns.name, "app=ttl"), until=lambda ps: ps == [], timeout=timeouts.controller_sync,
                   desc="pods of ttl deleted")
    with step("And 'kept' and its pod are still there"):
        consistently(lambda: (job_exists(cluster, ns, "kept"), len(views(cluster, ns.name, "app=kept"))),
                     holds=lambda s: s == (True, 1), duration=timeouts.short_hold, desc="kept remains")


@pytest.mark.claim("S003-091")
def test_a_lost_job_pod_is_replaced_while_a_lost_bare_pod_is_gone_for_good(ns, cluster, timeouts):
    """When its pod is removed (as by eviction from a lost node), a Job creates a replacement pod, a bare
    pod is not recreated by anyone."""
    with step("Given a running Job pod and a running bare pod"):
        run(ns, "worker", script="sleep 3600")
        ns.apply("controllers/job/bare-pod.yaml", name="bare")
        [first] = wait_ready(cluster, ns.name, "app=worker", 1, timeouts)
        wait_ready(cluster, ns.name, "app=bare", 1, timeouts)
    with step("When both pods are deleted"):
        cluster.core.delete_namespaced_pod(first.name, ns.name)
        cluster.core.delete_namespaced_pod("bare", ns.name)
    with step("Then the Job runs a new pod"):
        [again] = wait_ready(cluster, ns.name, "app=worker", 1, timeouts)
        assert again.uid != first.uid
    with step("And the bare pod is gone and stays gone"):
        eventually(retry_not_found(lambda: views(cluster, ns.name, "app=bare")), until=lambda ps: ps == [],
                   timeout=timeouts.cleanup, desc="bare pod gone")
        consistently(lambda: views(cluster, ns.name, "app=bare"), holds=lambda ps: ps == [], duration=timeouts.short_hold,
                     desc="no bare pod")
