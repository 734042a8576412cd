"""imagePullPolicy: its default, its values, and what the kubelet does with each; what a pull records.

Seed 002 「配置相关」: "ImagePullPolicy = Always (default), Never, IfNotPresent": the default is wrong. It is
Always only for an untagged or `:latest` image, IfNotPresent otherwise; values are case-sensitive.
Seed 001 2021-05-17~23 › containerd 镜像下载的过程 (the pull flow). This cluster has no registry and no
internet, which the tests use: a pull that reaches for a registry fails, one that does not succeeds.
Source: https://kubernetes.io/docs/concepts/containers/images/#imagepullpolicy-defaulting
"""
import pytest

from fixtures.api_calls import create_raw
from fixtures.manifests import render
from fixtures.pods import container_is, events_of, is_ready, wait_pod
from fixtures.polling import eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(images=["busybox"])]

UNREACHABLE = "127.0.0.1:1/kubeproof/absent:1"  # a registry address where nothing listens: refused at once
ABSENT = "kubeproof/absent-from-every-node:1"


def _messages(cluster, ns, pod):
    return [(e.reason, e.message or "") for e in events_of(cluster, ns, pod)]


@pytest.mark.claim("S002-230")
@pytest.mark.parametrize("image, default", [
    ("busybox", "Always"), ("busybox:latest", "Always"), ("busybox:1.36", "IfNotPresent"),
    ("busybox@sha256:" + "0" * 64, "IfNotPresent")])
def test_the_default_pull_policy_is_always_only_for_untagged_or_latest_images(ns, cluster, image, default):
    """Documented: the default is Always. It is Always for an untagged or :latest image, IfNotPresent otherwise."""
    with step(f"When a pod naming {image!r} without imagePullPolicy is created (server-side dry run)"):
        answer = create_raw(cluster, render("pods/images/defaulted.yaml", name="defaulted", image=image)[0], ns.name, dry_run=True)
    with step(f"Then the API server defaults imagePullPolicy to {default}"):
        assert answer.status == 201, answer
        assert answer.body["spec"]["containers"][0]["imagePullPolicy"] == default, answer.body["spec"]["containers"][0]


@pytest.mark.claim("S002-230")
def test_pull_policy_values_are_case_sensitive(ns, cluster, images):
    """Only Always, Never and IfNotPresent are valid; the document's lower-case spelling is refused."""
    with step("When a pod with imagePullPolicy 'always' (lower case) is created (dry run)"):
        doc = render("pods/images/with-policy.yaml", name="lower", image=images["busybox"], policy="always")[0]
        answer = create_raw(cluster, doc, ns.name, dry_run=True)
    with step("Then it is refused as invalid, naming the supported values"):
        assert answer.status == 422 and "Always" in answer.message and "IfNotPresent" in answer.message, answer
    with step("And the same pod with 'Always' is accepted (control)"):
        doc = render("pods/images/with-policy.yaml", name="upper", image=images["busybox"], policy="Always")[0]
        assert create_raw(cluster, doc, ns.name, dry_run=True).status == 201


@pytest.mark.claim("S002-230", "S001-20")
def test_if_not_present_uses_the_image_on_the_node_without_pulling(ns, cluster, images, timeouts):
    """IfNotPresent with the image on the node: no pull, event Pulled "already present on machine", imageID recorded."""
    with step(f"Given {images['busybox']}, preloaded on every node"):
        ns.apply("pods/images/with-policy.yaml", name="present", image=images["busybox"], policy="IfNotPresent")
    with step("When the pod starts"):
        pod = wait_pod(cluster, ns.name, "present", is_ready, timeouts)
    with step("Then the kubelet did not pull: its Pulled event says the image is already present, and no Pulling event exists"):
        events = _messages(cluster, ns.name, "present")
        assert any(r == "Pulled" and "already present on machine" in m for r, m in events), events
        assert not any(r == "Pulling" for r, _ in events), events
    with step("And the container status records the content-addressed image ID the runtime ran"):
        assert "sha256:" in (pod.container("app").image_id or ""), pod.container("app")


@pytest.mark.claim("S002-230")
def test_always_contacts_the_registry_even_when_the_image_is_on_the_node(ns, cluster, images, timeouts):
    """Always: the kubelet pulls although the image is present; with no registry reachable the pull fails."""
    with step(f"Given {images['busybox']}, preloaded on every node, with imagePullPolicy Always"):
        ns.apply("pods/images/with-policy.yaml", name="always", image=images["busybox"], policy="Always")
    with step("Then the kubelet tries to pull it (Pulling) and fails (no registry here): the container waits, image pull error"):
        wait_pod(cluster, ns.name, "always", lambda p: p.container("app").reason in ("ErrImagePull", "ImagePullBackOff"), timeouts)
        assert "Pulling" in [r for r, _ in _messages(cluster, ns.name, "always")]


@pytest.mark.claim("S002-230")
def test_never_with_an_image_missing_from_the_node_waits_with_err_image_never_pull(ns, cluster, timeouts):
    """Never and an image the node lacks: the container waits with ErrImageNeverPull; nothing is pulled."""
    with step(f"Given a pod naming {ABSENT} with imagePullPolicy Never"):
        ns.apply("pods/images/with-policy.yaml", name="never", image=ABSENT, policy="Never")
    with step("Then its container waits with reason ErrImageNeverPull, and no pull was attempted"):
        wait_pod(cluster, ns.name, "never", container_is("app", "waiting", "ErrImageNeverPull"), timeouts)
        assert "Pulling" not in [r for r, _ in _messages(cluster, ns.name, "never")]


@pytest.mark.claim("S003-014", "S001-20")
def test_a_failed_pull_waits_with_err_image_pull_then_image_pull_back_off(ns, cluster, timeouts):
    """A pull that cannot reach its registry: ErrImagePull, then ImagePullBackOff while the kubelet backs off."""
    with step(f"Given a pod naming {UNREACHABLE} (nothing listens at that registry address)"):
        ns.apply("pods/images/with-policy.yaml", name="unpullable", image=UNREACHABLE, policy="IfNotPresent")
    with step("Then the kubelet reports the pull error as ErrImagePull"):
        eventually(lambda: _messages(cluster, ns.name, "unpullable"), until=lambda ev: any("ErrImagePull" in m for _, m in ev),
                   timeout=timeouts.pod_start, desc="an ErrImagePull event")
    with step("And the container then waits in ImagePullBackOff"):
        pod = wait_pod(cluster, ns.name, "unpullable", container_is("app", "waiting", "ImagePullBackOff"), timeouts)
        assert pod.phase == "Pending", pod
