"""Jobs and CronJobs as the API serves them: which versions exist, what is validated, what the server
defaults, and how kubectl creates a CronJob today. Acceptance and validation claims, so server-side
dry run (nothing stored) is the observation.

Source: seed 002 「CronJob」(YAML) (002_620e0a9d2c440bc2.txt), seed 003 「Job」「CronJob」
(003_d8925e36aedd8024.txt); kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/,
.../job/, .../reference/using-api/deprecation-guide/#cronjob-v125.
"""
import pytest

from fixtures.api_calls import create_raw
from fixtures.manifests import render
from fixtures.reporting import step

pytestmark = [pytest.mark.area("controllers")]

IMAGE = {"image_busybox": "busybox"}


def dry_run(cluster, ns, manifest: str, strict: bool = False, **params):
    doc = render(f"controllers/{manifest}", **{**IMAGE, **params})[0]
    return create_raw(cluster, doc, ns.name, dry_run=True, field_validation="Strict" if strict else None)


@pytest.mark.claim("S003-088")
def test_a_job_with_restart_policy_always_is_refused(ns, cluster):
    """A Job's pod template may only use restartPolicy Never or OnFailure; Always is refused (422)."""
    with step("When Jobs with restartPolicy Never, OnFailure and Always are submitted"):
        answers = {policy: dry_run(cluster, ns, "job/minimal.yaml", name=policy.lower(), restart=policy)
                   for policy in ("Never", "OnFailure", "Always")}
    with step("Then Never and OnFailure are accepted and Always is refused with 422"):
        assert (answers["Never"].status, answers["OnFailure"].status) == (201, 201), answers
        assert answers["Always"].status == 422 and "restartPolicy" in answers["Always"].message, answers["Always"]


@pytest.mark.claim("S003-089")
def test_a_job_defaults_to_one_completion_one_pod_at_a_time_and_six_retries(ns, cluster):
    """The server defaults completions 1, parallelism 1, completionMode NonIndexed, backoffLimit 6, suspend false."""
    with step("When a Job with only a pod template is submitted"):
        answer = dry_run(cluster, ns, "job/minimal.yaml", name="bare", restart="Never")
        assert answer.status == 201, answer
    with step("Then its spec carries the documented defaults"):
        spec = answer.body["spec"]
        assert {k: spec.get(k) for k in ("completions", "parallelism", "completionMode", "backoffLimit", "suspend")} == {
            "completions": 1, "parallelism": 1, "completionMode": "NonIndexed", "backoffLimit": 6, "suspend": False}, spec


@pytest.mark.claim("S003-092", "S002-164")
def test_cronjobs_are_served_as_batch_v1_only(ns, cluster, server_version):
    """batch/v1 CronJob is served (GA 1.21); the document's batch/v1beta1 was removed in 1.25 and
    batch/v2alpha1 in 1.21."""
    with step("When the document's CronJob is submitted as batch/v1beta1, batch/v2alpha1 and batch/v1"):
        answers = {v: dry_run(cluster, ns, "cronjob/doc-v1beta1.yaml", api_version=v) for v in ("batch/v1beta1", "batch/v2alpha1", "batch/v1")}
    with step("Then only batch/v1 is served"):
        assert answers["batch/v1"].status == 201, answers["batch/v1"]
        if server_version >= (1, 25, 0):
            assert answers["batch/v1beta1"].status == 404, f"[behaviour-changed] batch/v1beta1 CronJob served: {answers['batch/v1beta1']}"
        assert answers["batch/v2alpha1"].status == 404, answers["batch/v2alpha1"]


@pytest.mark.claim("S002-164")
def test_the_documents_completions_and_parallelism_are_unknown_fields_of_a_cronjob(ns, cluster):
    """completions and parallelism belong under jobTemplate.spec: directly under a CronJob's spec they
    are unknown fields, refused under strict field validation (and silently dropped otherwise)."""
    with step("When the document's CronJob (as batch/v1) is submitted with strict field validation"):
        strict = dry_run(cluster, ns, "cronjob/doc-v1beta1.yaml", strict=True, api_version="batch/v1")
    with step("Then spec.completions and spec.parallelism are refused as unknown fields"):
        assert strict.status == 400 and 'unknown field "spec.completions"' in strict.message \
            and 'unknown field "spec.parallelism"' in strict.message, strict
    with step("And without strict validation they are dropped"):
        lax = dry_run(cluster, ns, "cronjob/doc-v1beta1.yaml", api_version="batch/v1")
        assert lax.status == 201 and not {"completions", "parallelism"} & set(lax.body["spec"]), lax.body.get("spec")


@pytest.mark.claim("S003-093")
def test_a_cronjob_needs_a_valid_schedule_and_a_job_template_and_takes_a_time_zone_field(ns, cluster):
    """schedule and jobTemplate are required; an invalid cron expression is refused; the timeZone field
    is accepted, a TZ= prefix inside the schedule is refused."""
    with step("When CronJobs without schedule, without jobTemplate, and with schedule '61 * * * *' are submitted"):
        refused = {"no schedule": dry_run(cluster, ns, "cronjob/no-schedule.yaml", name="a"),
                   "no jobTemplate": dry_run(cluster, ns, "cronjob/no-job-template.yaml", name="b"),
                   "bad cron": dry_run(cluster, ns, "cronjob/minimal.yaml", name="c", schedule="61 * * * *", time_zone="null"),
                   "TZ= prefix": dry_run(cluster, ns, "cronjob/minimal.yaml", name="d", schedule="TZ=UTC * * * * *", time_zone="null")}
    with step("Then each is refused with 422"):
        assert {k: a.status for k, a in refused.items()} == dict.fromkeys(refused, 422), {k: str(a) for k, a in refused.items()}
    with step("And timeZone: Asia/Shanghai is accepted"):
        zoned = dry_run(cluster, ns, "cronjob/minimal.yaml", name="e", schedule="0 8 * * *", time_zone="Asia/Shanghai")
        assert zoned.status == 201 and zoned.body["spec"]["timeZone"] == "Asia/Shanghai", zoned


@pytest.mark.claim("S003-095", "S003-098")
def test_a_cronjob_defaults_to_allow_and_keeps_3_successful_and_1_failed_job(ns, cluster):
    """The server defaults concurrencyPolicy Allow, successfulJobsHistoryLimit 3, failedJobsHistoryLimit 1."""
    with step("When a CronJob with only schedule and jobTemplate is submitted"):
        answer = dry_run(cluster, ns, "cronjob/minimal.yaml", name="plain", schedule="* * * * *", time_zone="null")
        assert answer.status == 201, answer
    with step("Then concurrencyPolicy is Allow and the history limits are 3 and 1"):
        spec = answer.body["spec"]
        assert (spec["concurrencyPolicy"], spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"], spec["suspend"]) == (
            "Allow", 3, 1, False), spec


@pytest.mark.claim("S003-099")
def test_kubectl_run_no_longer_creates_cronjobs_and_kubectl_create_cronjob_does(ns, cluster):
    """The document's `kubectl run hello --schedule=...` fails (kubectl run only creates pods since 1.18);
    `kubectl create cronjob` is today's way."""
    with step("When the document's kubectl run --schedule command is run"):
        run = cluster.kubectl("-n", ns.name, "run", "hello", "--schedule=*/1 * * * *", "--restart=OnFailure", "--image=busybox",
                              "--dry-run=server", "--", "/bin/sh", "-c", "date", check=False)
    with step("Then kubectl refuses the unknown flag --schedule"):
        assert run.returncode != 0 and "unknown flag: --schedule" in run.stderr, f"[behaviour-changed] {run}"
    with step("And kubectl create cronjob creates one (server dry run)"):
        created = cluster.kubectl("-n", ns.name, "create", "cronjob", "hello", "--schedule=*/1 * * * *", "--image=busybox",
                                  "--dry-run=server", "-o", "jsonpath={.kind} {.spec.schedule}", "--", "/bin/sh", "-c", "date")
        assert created.stdout == "CronJob */1 * * * *", created
