"""Image pull failures (seed 003 「镜像拉取失败」): a wrong image leaves the pod Pending in
ErrImagePull / ImagePullBackOff; pull secrets come from the pod or its ServiceAccount and are looked
up in the pod's namespace; the dockershim-era pull flags are gone, image pulls are serialized per node.

The cluster has no registry: a name under registry.invalid fails to resolve, which is what a
misspelt image does. Source: kubernetes.io/docs/concepts/containers/images/ (ImagePullBackOff,
imagePullSecrets, serial and parallel image pulls), /docs/reference/config-api/kubelet-config.v1beta1/.
"""
import time

import pytest

from fixtures.nodes import kubelet_config, workers
from fixtures.pods import event_reasons, events_of, is_ready, view, wait_pod
from fixtures.polling import consistently, eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("scheduling")]

MISSING_IMAGE = "registry.invalid/kubeproof/no-such-image:1"
INITIAL_BACKOFF = 10  # the kubelet's first image-pull back-off (pkg/kubelet/images: backOffPeriod 10 s, doubling to 300 s)


@pytest.mark.claim("S003-037", "S003-028")
@pytest.mark.slow
def test_wrong_image_leaves_the_pod_pending_in_err_image_pull_then_image_pull_back_off(ns, cluster, timeouts):
    """A pod whose image cannot be pulled stays Pending: its container waits with ErrImagePull after a
    failed pull, then ImagePullBackOff while the kubelet backs off; the next pull comes no sooner
    than the initial back-off, and the events say "Failed to pull image" and "Back-off pulling image"."""
    with step(f"When a pod with image {MISSING_IMAGE} is created"):
        ns.apply("scheduling/pod-failures/pod-image.yaml", name="typo", image=MISSING_IMAGE, pull_policy="IfNotPresent")
    seen: list[tuple[float, str | None]] = []

    def reasons():
        p = view(cluster, ns.name, "typo")
        reason = p.containers["app"].reason if "app" in p.containers else None
        if not seen or seen[-1][1] != reason:
            seen.append((time.monotonic(), reason))
        assert p.phase == "Pending", f"phase {p.phase} while the image cannot be pulled"
        return [r for _, r in seen]

    def pulled_twice(rs) -> bool:
        return rs.count("ErrImagePull") >= 2 and "ImagePullBackOff" in rs

    with step("Then its container waits ErrImagePull, then ImagePullBackOff, then ErrImagePull again (a retry)"):
        eventually(reasons, until=pulled_twice, timeout=timeouts.image_pull_backoff,
                   desc="ErrImagePull -> ImagePullBackOff -> ErrImagePull, phase Pending")
        order = [r for _, r in seen if r in ("ErrImagePull", "ImagePullBackOff")]
        assert order[:3] == ["ErrImagePull", "ImagePullBackOff", "ErrImagePull"], seen
    with step(f"And the retry came no sooner than the initial back-off ({INITIAL_BACKOFF} s)"):
        attempts = [t for t, r in seen if r == "ErrImagePull"]
        assert attempts[1] - attempts[0] >= INITIAL_BACKOFF - 1, f"retried after {attempts[1] - attempts[0]:.1f}s: {seen}"
    with step("And the kubelet's events name the failed pull and the back-off"):
        messages = [e.message or "" for e in events_of(cluster, ns.name, "typo")]
        assert any("Failed to pull image" in m for m in messages), messages
        assert any("Back-off pulling image" in m for m in messages), messages


@pytest.mark.claim("S003-038")
@pytest.mark.requires(images=["agnhost"])
def test_service_account_pull_secrets_are_copied_into_the_pod_and_looked_up_in_its_namespace(ns, cluster, timeouts, server_version):
    """A ServiceAccount's imagePullSecrets are copied into spec.imagePullSecrets of the pods that run
    as it (admission); the kubelet looks the Secret up in the pod's own namespace and warns
    FailedToRetrieveImagePullSecret while it is absent there; a kubernetes.io/dockerconfigjson Secret
    created there silences the warning for a new pod.
    Changed in 1.37: the kubelet warns only when a pull was attempted and failed (before, on every sync,
    even for an image already on the node)."""
    with step("Given a ServiceAccount listing pull secret 'regcred' that does not exist in the namespace"):
        ns.apply("scheduling/pod-failures/service-account-pull-secret.yaml", name="puller", secret="regcred")
    with step("Then the pod running as it got imagePullSecrets [regcred] at admission"):
        spec = cluster.core.read_namespaced_pod("puller", ns.name).spec
        assert [s.name for s in spec.image_pull_secrets or []] == ["regcred"], spec.image_pull_secrets
    wait_pod(cluster, ns.name, "puller", is_ready, timeouts)
    if server_version < (1, 37, 0):
        with step("And the kubelet warns it cannot retrieve the secret (the image is present, so the pod still runs)"):
            eventually(lambda: event_reasons(cluster, ns.name, "puller"),
                       until=lambda rs: "FailedToRetrieveImagePullSecret" in rs, timeout=timeouts.controller_sync,
                       desc="FailedToRetrieveImagePullSecret event")
    else:
        with step("And [behaviour-changed] no warning for the pod whose image is present (no pull was attempted)"):
            consistently(lambda: event_reasons(cluster, ns.name, "puller"),
                         holds=lambda rs: "FailedToRetrieveImagePullSecret" not in rs, duration=timeouts.short_hold,
                         desc="no FailedToRetrieveImagePullSecret while nothing is pulled")
        with step(f"And a pod of that account whose pull of {MISSING_IMAGE} fails gets the warning"):
            ns.apply("scheduling/pod-failures/service-account-pull-secret.yaml", name="pulling", secret="regcred",
                     image_agnhost=MISSING_IMAGE)
            eventually(lambda: event_reasons(cluster, ns.name, "pulling"),
                       until=lambda rs: "FailedToRetrieveImagePullSecret" in rs, timeout=timeouts.image_pull_backoff,
                       desc="FailedToRetrieveImagePullSecret after a failed pull")
    with step("When the dockerconfigjson Secret exists in the namespace, a new pod of that account gets no warning"):
        ns.apply("scheduling/pod-failures/docker-config-secret.yaml", name="regcred")
        ns.apply("scheduling/pod-failures/service-account-pull-secret.yaml", name="puller2", secret="regcred")
        wait_pod(cluster, ns.name, "puller2", is_ready, timeouts)
        reasons = event_reasons(cluster, ns.name, "puller2")
        assert "Started" in reasons and "FailedToRetrieveImagePullSecret" not in reasons, reasons
    if server_version >= (1, 37, 0):
        with step("And a new pod whose pull fails, with the Secret now found, gets pull failures but no secret warning"):
            ns.apply("scheduling/pod-failures/service-account-pull-secret.yaml", name="pulling2", secret="regcred",
                     image_agnhost=MISSING_IMAGE)
            # BackOff comes from the sync after the failed one: the failed sync's own events are all out by then
            reasons = eventually(lambda: event_reasons(cluster, ns.name, "pulling2"), until=lambda rs: "Failed" in rs and "BackOff" in rs,
                                 timeout=timeouts.image_pull_backoff, desc="a failed pull of pulling2, then its back-off")
            assert "FailedToRetrieveImagePullSecret" not in reasons, reasons


@pytest.mark.claim("S003-040", "S003-041")
@pytest.mark.requires(node_access=True)
def test_kubelet_pull_settings_have_no_progress_deadline_and_serialize_pulls(cluster, server_version):
    """The kubelet's running configuration has runtimeRequestTimeout 2m0s and no image pull progress
    deadline (a dockershim flag, removed with dockershim in 1.24); serializeImagePulls is true, so
    maxParallelImagePulls is unset (it only applies when pulls are not serialized)."""
    for node in workers(cluster):
        cfg = kubelet_config(cluster, node)
        with step(f"Then {node}'s kubelet has runtimeRequestTimeout 2m0s and no imagePullProgressDeadline"):
            assert cfg.get("runtimeRequestTimeout") == "2m0s", cfg.get("runtimeRequestTimeout")
            if server_version >= (1, 24, 0):
                assert not any("progress" in k.lower() for k in cfg), (
                    f"[behaviour-changed] pull progress setting present: {[k for k in cfg if 'progress' in k.lower()]}")
        with step("And it serializes image pulls, maxParallelImagePulls unset"):
            assert cfg.get("serializeImagePulls") is True, cfg.get("serializeImagePulls")
            assert cfg.get("maxParallelImagePulls") in (None, 1), cfg.get("maxParallelImagePulls")
