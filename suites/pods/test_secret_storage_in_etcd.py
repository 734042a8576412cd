"""Secrets at rest: base64 in the API, plain bytes in etcd unless encryption at rest is configured.

Seed 002 › Projected Volume › Secret: 「将Pod想要访问的加密数据，存放到etcd中」 ("the encrypted data the pod
wants is stored in etcd"). Secrets are not encrypted by default: the API shows them base64-encoded, and
without an EncryptionConfiguration (kind's and kubeadm's default) etcd holds the value in plain text.
Source: https://kubernetes.io/docs/concepts/configuration/secret/ (caution box),
https://kubernetes.io/docs/tasks/administer-cluster/encrypt-data/
"""
import base64

import pytest

from fixtures import etcd
from fixtures.reporting import step

pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(node_access=True)]

VALUE = "kubeproof-s3cr3t-marker"


@pytest.mark.claim("S002-088")
def test_secret_value_is_stored_in_etcd_in_plain_text_without_encryption_at_rest(ns, cluster):
    """The document says Secrets hold encrypted data in etcd. Wrong by default: the API server stores the
    value's plain bytes (protobuf, no encryption envelope), and `data` is only base64 of it."""
    with step(f"Given a Secret whose password is {VALUE!r}"):
        ns.apply("pods/secret-storage/secret.yaml", name="db", value=VALUE)
        api_value = cluster.core.read_namespaced_secret("db", ns.name).data["password"]
    with step("Then the API shows it base64-encoded: an encoding anyone can reverse, not encryption"):
        assert base64.b64decode(api_value).decode() == VALUE
    with step("When etcd's stored bytes under /registry/secrets/<ns>/db are read"):
        raw = etcd.stored(cluster, f"/registry/secrets/{ns.name}/db")
        assert etcd.stored(cluster, f"/registry/secrets/{ns.name}/absent") is None, "the probe must see a missing key"
    with step("Then they are the API server's plain protobuf, with the value in clear text"):
        assert raw is not None, "the Secret is not under the expected etcd key"
        assert not raw.startswith(etcd.ENCRYPTED_PREFIX), (
            f"[behaviour-changed] the Secret is encrypted at rest ({raw[:24]!r}): an EncryptionConfiguration is active")
        assert raw.startswith(etcd.PROTOBUF_MAGIC) and VALUE.encode() in raw, raw[:200]
