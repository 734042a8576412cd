"""CronJobs over two scheduled minutes: when Jobs are created and how they are named, concurrency
policies Allow / Forbid / Replace (per CronJob only), suspend, a zero history limit, and a
starting deadline that skips a missed run.

Source: seed 002 「CronJob」 (002_620e0a9d2c440bc2.txt), seed 003 「CronJob」 (003_d8925e36aedd8024.txt);
kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/.

Every CronJob here fires each minute. They are all created at once by one module fixture, so the
module costs about two scheduled minutes in all: its tests run in order on one worker (xdist
group), each waiting for the slot it observes: m1 is the first minute boundary after creation,
m2 the next. Tests observing m1 come first, then the ones that act between m1 and m2, then m2's.
"""
from datetime import datetime, timedelta, timezone

import pytest

from fixtures.polling import consistently, eventually
from fixtures.pods import event_reasons, events_of
from fixtures.reporting import step
from fixtures.workloads import batch, cronjob, jobs_of

pytestmark = [pytest.mark.area("controllers"), pytest.mark.slow, pytest.mark.requires(images=["busybox"]),
              pytest.mark.xdist_group("cronjob-schedule")]

CJ = "controllers/cronjob/cj.yaml"
BASE = dict(schedule="* * * * *", concurrency="Allow", suspend=False, starting_deadline="null", success_history=3,
            script="sleep 100")  # a Job started at m1 is still running at m2
CRONJOBS = {
    "allow": {}, "forbid": {"concurrency": "Forbid"}, "forbid-twin": {"concurrency": "Forbid"},
    "replace": {"concurrency": "Replace"}, "pausable": {},
    "no-history": {"success_history": 0, "script": "true"},
    "late": {"suspend": True, "starting_deadline": 10, "script": "true"},
    "late-no-deadline": {"suspend": True, "script": "true"},
}


class Slots:
    """The scheduled minutes after the CronJobs' creation (server time)."""

    def __init__(self, created: datetime):
        self.m1 = created.replace(second=0, microsecond=0) + timedelta(minutes=1)
        self.m2 = self.m1 + timedelta(minutes=1)


@pytest.fixture(scope="module")
def slots(module_ns, cluster):
    """Given every-minute CronJobs allow, forbid, forbid-twin, replace, pausable (jobs sleep 100 s),
    no-history (successfulJobsHistoryLimit 0), late and late-no-deadline (created suspended)."""
    for name, params in CRONJOBS.items():
        module_ns.apply(CJ, name=name, **{**BASE, **params})
    created = batch(cluster).read_namespaced_cron_job("allow", module_ns.name).metadata.creation_timestamp
    return Slots(created)


def now() -> datetime:
    return datetime.now(timezone.utc)


def wait_until(moment: datetime, timeouts) -> None:
    eventually(now, until=lambda t: t >= moment, timeout=timeouts.cron_schedule, desc=f"clock at {moment:%H:%M:%S}")


def wait_jobs(cluster, ns, name: str, n: int, timeouts) -> list[dict]:
    return eventually(lambda: jobs_of(cluster, ns.name, name), until=lambda js: len(js) >= n, timeout=timeouts.cron_schedule,
                      desc=f"{n} Job(s) of CronJob {name}")


def minutes(t: datetime) -> int:
    return int(t.timestamp()) // 60


@pytest.mark.claim("S002-162", "S003-100")
def test_a_job_is_created_just_after_the_scheduled_minute_and_named_after_it(module_ns, cluster, slots, timeouts):
    """Each Job is created at, or a few seconds after, its scheduled minute; lastScheduleTime is the
    scheduled minute itself, and the Job is named <cronjob>-<scheduled time in unix minutes>, so a
    slot cannot create two Jobs. (The document's 10-second polling is the pre-1.21 controller; the
    queue-based one fires on time.)"""
    with step(f"When minute {slots.m1:%H:%M} comes"):
        first = wait_jobs(cluster, module_ns, "allow", 1, timeouts)[0]
    with step("Then the Job is named allow-<unix minutes of the slot> and annotated with the slot"):
        assert first["name"] == f"allow-{minutes(slots.m1)}", (first["name"], slots.m1)
        assert first["scheduled"] == slots.m1.strftime("%Y-%m-%dT%H:%M:%SZ"), first["scheduled"]
    with step("And it was created less than 10 s after the scheduled minute"):
        lag = (first["created"] - slots.m1).total_seconds()
        assert 0 <= lag < 10, f"created {lag:.0f}s after {slots.m1}"
    with step("And the CronJob's lastScheduleTime is a scheduled minute (second 0) of one of its Jobs"):
        # the controller writes the CronJob's status after creating the Job: under load it trails it
        last = eventually(lambda: cronjob(cluster, module_ns.name, "allow")["last_schedule"], until=bool,
                          timeout=timeouts.controller_sync, desc="the CronJob's lastScheduleTime")
        assert last.second == 0 and last.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") in {j["scheduled"] for j in jobs_of(cluster, module_ns.name, "allow")}, last


@pytest.mark.claim("S003-096")
def test_two_forbid_cronjobs_with_the_same_template_run_their_jobs_concurrently(module_ns, cluster, slots, timeouts):
    """concurrencyPolicy applies within one CronJob: two Forbid CronJobs' Jobs run at the same time."""
    with step(f"When minute {slots.m1:%H:%M} comes"):
        both = eventually(lambda: [j for name in ("forbid", "forbid-twin") for j in jobs_of(cluster, module_ns.name, name) if j["active"]],
                          until=lambda js: {j["owner"][1] for j in js} == {"forbid", "forbid-twin"}, timeout=timeouts.cron_schedule,
                          desc="a running Job of each Forbid CronJob")
    with step("Then both Forbid CronJobs have a Job running at once"):
        assert {j["owner"][1] for j in both} == {"forbid", "forbid-twin"}, both


@pytest.mark.claim("S003-098")
def test_a_successful_history_limit_of_0_deletes_each_job_once_it_completes(module_ns, cluster, slots, timeouts):
    """With successfulJobsHistoryLimit 0, a Job that completes is deleted soon after."""
    with step(f"When no-history's Job of {slots.m1:%H:%M} completes"):
        eventually(lambda: cronjob(cluster, module_ns.name, "no-history")["last_successful"], until=bool,
                   timeout=timeouts.cron_schedule, desc="no-history ran a Job to completion")
    with step("Then no Job of no-history remains"):
        eventually(lambda: jobs_of(cluster, module_ns.name, "no-history"), until=lambda js: js == [],
                   timeout=timeouts.controller_sync, desc="no-history's Jobs deleted")


@pytest.mark.claim("S003-094")
def test_a_run_missed_by_more_than_the_starting_deadline_is_skipped_not_failed(module_ns, cluster, slots, timeouts):
    """A run missed by more than startingDeadlineSeconds is not started, and not failed either: no Job
    exists for it, the next Job is the next minute's; without a deadline the same missed run starts at
    once. (The v2 controller skips it silently: it looks for missed times only within the deadline, so
    the MissSchedule warning of the old controller is not emitted in this case.)"""
    with step("Given 'late' (startingDeadlineSeconds 10) and 'late-no-deadline', both suspended through a scheduled minute"):
        # resume 20-40 s into a minute after m1: that minute's run was missed by more than the 10 s deadline
        moment = eventually(now, until=lambda t: t >= slots.m1 + timedelta(seconds=20) and 20 <= t.second <= 40,
                            timeout=timeouts.cron_schedule, desc="20-40 s into a minute after m1")
        missed = moment.replace(second=0, microsecond=0)
    with step(f"When both are resumed {moment.second} s after the missed minute {missed:%H:%M}"):
        for name in ("late", "late-no-deadline"):
            batch(cluster).patch_namespaced_cron_job(name, module_ns.name, {"spec": {"suspend": False}})
    with step(f"Then late-no-deadline starts the missed run of {missed:%H:%M} at once"):
        run = wait_jobs(cluster, module_ns, "late-no-deadline", 1, timeouts)[0]
        assert run["name"] == f"late-no-deadline-{minutes(missed)}" and run["created"] < missed + timedelta(minutes=1), run
    with step(f"And 'late' runs nothing for {missed:%H:%M}: its first Job is the next minute's, and nothing failed"):
        first = wait_jobs(cluster, module_ns, "late", 1, timeouts)[0]
        assert first["name"] == f"late-{minutes(missed) + 1}", first


@pytest.mark.claim("S003-097")
def test_suspending_a_cronjob_keeps_its_running_job_and_starts_no_new_one(module_ns, cluster, slots, timeouts):
    """Suspending does not stop a Job already running; while suspended no Job is created."""
    with step("Given a Job of 'pausable' is running"):
        running = eventually(lambda: [j for j in jobs_of(cluster, module_ns.name, "pausable") if j["active"]], until=bool,
                             timeout=timeouts.cron_schedule, desc="a running Job of pausable")[-1]
    with step("When the CronJob is suspended, well inside a minute"):
        eventually(now, until=lambda t: 5 <= t.second <= 50, timeout=timeouts.cron_schedule, desc="5-50 s into a minute")
        batch(cluster).patch_namespaced_cron_job("pausable", module_ns.name, {"spec": {"suspend": True}})
        suspended_at, before = now(), [j["name"] for j in jobs_of(cluster, module_ns.name, "pausable")]
        next_slot = suspended_at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    with step(f"Then past the next scheduled minute {next_slot:%H:%M} no Job was added for a minute after the suspension"):
        wait_until(next_slot + timedelta(seconds=5), timeouts)
        # a slow controller may still create the Job of a minute that came before the suspension: that is not a violation
        late = [j for j in jobs_of(cluster, module_ns.name, "pausable") if j["name"] not in before
                and datetime.strptime(j["scheduled"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) >= suspended_at]
        assert late == [], late
    with step(f"And {running['name']} was not stopped: it is still running or completed, never failed"):
        [now_job] = [j for j in jobs_of(cluster, module_ns.name, "pausable") if j["name"] == running["name"]]
        assert "Failed" not in now_job["conditions"] and (now_job["active"] or "Complete" in now_job["conditions"]), now_job


def job_span(cluster, ns, name: str) -> tuple[datetime, datetime]:
    """When a Job ran: its start time and when it ended (completed or failed; now while it still runs)."""
    st = batch(cluster).read_namespaced_job(name, ns.name).status
    failed = next((c.last_transition_time for c in st.conditions or [] if c.type == "Failed" and c.status == "True"), None)
    return st.start_time, st.completion_time or failed or now()


@pytest.mark.claim("S002-163", "S003-095")
def test_allow_runs_the_next_job_beside_the_running_one(module_ns, cluster, slots, timeouts):
    """concurrencyPolicy Allow: the next minute's Job starts while the previous one (100 s) still runs."""
    def overlapping():
        spans = [job_span(cluster, module_ns, j["name"]) for j in jobs_of(cluster, module_ns.name, "allow")]
        return [(a, b) for a, b in zip(spans, spans[1:]) if a[0] and b[0] and b[0] < a[1]]

    with step("When allow's next scheduled minute comes while a Job of it runs"):
        pairs = eventually(overlapping, until=bool, timeout=timeouts.cron_schedule, desc="two allow Jobs running together")
    with step("Then the next Job started before the previous one ended"):
        assert pairs[0][1][0] < pairs[0][0][1], pairs


@pytest.mark.claim("S002-163")
def test_forbid_skips_the_run_while_the_previous_job_is_still_running(module_ns, cluster, slots, timeouts):
    """concurrencyPolicy Forbid: a scheduled minute that comes while the previous Job (100 s) runs is
    skipped (event JobAlreadyActive); forbid's Jobs never overlap."""
    with step("When a scheduled minute comes while forbid's Job runs"):
        eventually(lambda: event_reasons(cluster, module_ns.name, "forbid", kind="CronJob"), until=lambda r: "JobAlreadyActive" in r,
                   timeout=timeouts.cron_schedule, desc="JobAlreadyActive event")
    with step("Then no two of forbid's Jobs ever ran at the same time"):
        spans = [job_span(cluster, module_ns, j["name"]) for j in jobs_of(cluster, module_ns.name, "forbid")]
        assert spans and all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:])), spans


@pytest.mark.claim("S002-163")
def test_replace_deletes_the_running_job_and_starts_the_new_one(module_ns, cluster, slots, timeouts):
    """concurrencyPolicy Replace: at the next minute the Job still running (100 s) is deleted and the new
    minute's Job created; only one Job is ever active."""
    def deleted() -> list[str]:
        return [e.message.rsplit(" ", 1)[-1] for e in events_of(cluster, module_ns.name, "replace", kind="CronJob")
                if e.reason == "SuccessfulDelete"]

    with step("When a scheduled minute comes while replace's Job runs"):
        gone = eventually(deleted, until=bool, timeout=timeouts.cron_schedule, desc="a Job deleted by replace")
    with step(f"Then {gone[0]} (running: its 100 s were not over) was deleted and a newer Job replaced it"):
        live = eventually(lambda: [j for j in jobs_of(cluster, module_ns.name, "replace") if not j["deleting"]],
                          until=lambda js: js and gone[0] not in [j["name"] for j in js], timeout=timeouts.controller_sync,
                          desc=f"{gone[0]} gone")
        assert int(live[-1]["name"].rsplit("-", 1)[1]) > int(gone[0].rsplit("-", 1)[1]), (gone, live)
    with step("And the CronJob has a single active Job"):
        assert len(cronjob(cluster, module_ns.name, "replace")["active"]) == 1
