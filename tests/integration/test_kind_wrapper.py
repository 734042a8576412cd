"""The one kind wrapper: a failing `kind create` is one line with kind's reason, and leaves nothing behind."""
import uuid

import pytest

from fixtures.providers import kind

pytestmark = [pytest.mark.integration]


def test_a_kind_create_that_fails_names_kind_s_reason_in_one_line_and_leaves_no_node(offline_tools, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking:\n  kubeProxyMode: bogus\nnodes:\n- role: control-plane\n")
    name = f"kp-bad-{uuid.uuid4().hex[:4]}"
    with pytest.raises(kind.ProviderError) as err:
        kind.create_cluster(name, offline_tools.node_image, bad, tmp_path / "kc", timeout=120)
    message = str(err.value)
    assert "\n" not in message and message.startswith("kind create cluster") and "bogus" in message, message
    assert not kind.node_containers(name) and name not in kind.existing_clusters()


def test_a_kind_call_that_outlives_its_timeout_is_stopped_with_a_clear_error():
    with pytest.raises(kind.ProviderError, match=r"kind get clusters did not finish within 0s"):
        kind.run_kind("get", "clusters", timeout=0.001)
