"""Init containers run one by one before the app; a failing one blocks the pod; native sidecars are the exception.

Seed 002 「原理」(Pod) and 「Side Car」: init containers "run first, in the configured order, and the
containers start after they finish"; a helper container started before the main one "is called a
sidecar". The order holds. The naming does not: in Kubernetes a sidecar is an init container with
`restartPolicy: Always` (beta and on by default in 1.29, GA in 1.33), which keeps running beside the
app, does not hold back the pod's completion, and is stopped after the app containers.
Ordering is read from microsecond stamps the containers write (fixtures/timeline.py).
Source: https://kubernetes.io/docs/concepts/workloads/pods/init-containers/ ;
https://kubernetes.io/docs/concepts/workloads/pods/sidecar-containers/
"""
import pytest

from fixtures import timeline
from fixtures.pods import backing_off, container_is, phase_is, view, wait_pod
from fixtures.polling import consistently
from fixtures.reporting import step

pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(images=["busybox"])]

WORK_SECONDS = 0.3
LINGER_SECONDS = 1


@pytest.mark.claim("S002-075")
def test_init_containers_run_one_at_a_time_in_spec_order_before_the_app(ns, cluster, timeouts):
    """Each init container starts only after the previous one exited 0; the app starts after the last one."""
    with step("Given init containers zulu, alpha, mike (spec order, not sorted), each working a moment, then the app"):
        ns.apply("pods/init-containers/sequential.yaml", name="inits", work_seconds=WORK_SECONDS)
    with step("When the pod starts"):
        events = timeline.wait_for(cluster, ns.name, "inits", "app", "start", "app", timeout=timeouts.pod_start)
    with step("Then the init containers started in spec order, each after the previous one had ended"):
        assert events.order("start") == ["zulu", "alpha", "mike", "app"], f"observed:\n{events}"
        for before, after in (("zulu", "alpha"), ("alpha", "mike"), ("mike", "app")):
            assert events.at("start", after) >= events.at("end", before), f"{after} started before {before} ended:\n{events}"
    with step("And every init container terminated with exit code 0"):
        pod = view(cluster, ns.name, "inits")
        assert all(pod.container(c).exit_code == 0 for c in ("zulu", "alpha", "mike")), pod.containers


@pytest.mark.claim("S002-083")
def test_a_failing_init_container_is_retried_with_back_off_and_blocks_the_app_when_restart_is_always(ns, cluster, timeouts):
    """restartPolicy Always: the failed init container is restarted with back-off; the next init and the app never start."""
    with step("Given a pod whose first init container exits 1"):
        ns.apply("pods/init-containers/failing.yaml", name="blocked", restart_policy="Always")
    with step("When the kubelet has retried it and backs off"):
        pod = wait_pod(cluster, ns.name, "blocked",
                       backing_off(cluster, ns.name, "blocked", "setup"), timeouts)
    with step("Then the pod is not Initialized and the later init container and the app wait in PodInitializing"):
        assert pod.condition("Initialized") == "False" and pod.phase == "Pending", pod
        assert container_is("after", "waiting", "PodInitializing")(pod) and container_is("app", "waiting", "PodInitializing")(pod), pod.containers
    with step("And they keep waiting through the back-off"):
        consistently(lambda: view(cluster, ns.name, "blocked"),
                     holds=lambda p: p.container("app").state == "waiting" and p.container("after").restarts == 0,
                     duration=timeouts.short_hold, desc="app still not started")


@pytest.mark.claim("S002-083")
def test_a_failing_init_container_fails_the_pod_without_starting_the_app_when_restart_is_never(ns, cluster, timeouts):
    """restartPolicy Never: one failed init container makes the pod Failed; the app never ran."""
    with step("Given a restartPolicy Never pod whose first init container exits 1"):
        ns.apply("pods/init-containers/failing.yaml", name="doomed", restart_policy="Never")
    with step("Then the pod becomes Failed"):
        pod = wait_pod(cluster, ns.name, "doomed", phase_is("Failed"), timeouts)
    with step("And the init container was not retried, and neither the next init container nor the app ever started"):
        assert pod.container("setup").exit_code == 1 and pod.container("setup").restarts == 0, pod.container("setup")
        for c in ("after", "app"):
            assert pod.container(c).started_at is None and pod.container(c).exit_code in (None, 0) and pod.container(c).state != "running", pod.containers


@pytest.mark.claim("S002-076")
@pytest.mark.requires(min_version="1.29")
def test_native_sidecars_run_beside_the_app_do_not_block_completion_and_stop_after_it_in_reverse_order(ns, cluster, timeouts):
    """Documented: any helper started first is "a sidecar". In Kubernetes a sidecar is an init container with
    restartPolicy Always: it keeps running beside the app, the pod completes when the app does, and sidecars are
    stopped after the app, last-started first."""
    with step("Given a restartPolicy Never pod: sidecars 'first' and 'second' that never exit on their own, then 'main' (1 s, exit 0)"):
        ns.apply("pods/init-containers/native-sidecars.yaml", name="sidecars", linger=LINGER_SECONDS)
    with step("When main exits 0"):
        pod = wait_pod(cluster, ns.name, "sidecars", phase_is("Succeeded", "Failed"), timeouts)
    with step("Then the pod Succeeded: the still-running sidecars did not hold it back"):
        assert pod.phase == "Succeeded", pod
        events = timeline.from_logs(cluster, ns.name, "sidecars", ["first", "second", "main"])
    with step("And main started only after both sidecars had started, and ran beside them"):
        assert events.at("start", "main") >= max(events.at("start", "first"), events.at("start", "second")), f"observed:\n{events}"
    with step("And the sidecars were stopped only after main had ended, 'second' before 'first' (reverse order)"):
        assert min(events.at("stop", "first"), events.at("stop", "second")) >= events.at("end", "main"), f"observed:\n{events}"
        assert events.at("stop", "first") >= events.at("exit", "second"), f"[behaviour-changed] sidecars not stopped in reverse order:\n{events}"
