"""Secret and ConfigMap data in a running pod: volumes follow changes, subPath files and env vars do not.

Seed 002 › Projected Volume › Secret: "if the data in etcd changes, the data mounted into the container is
updated after some delay"; configMap: "same purpose and usage as secret". Holds for volumes, within the
kubelet's sync period plus its cache delay; a key mounted with subPath and an environment variable keep
the value the container started with; an immutable Secret refuses changes. ConfigMaps also carry binary
data (binaryData) and are limited to 1 MiB.
Source: https://kubernetes.io/docs/concepts/configuration/secret/#using-secrets-as-files-from-a-pod,
https://kubernetes.io/docs/concepts/configuration/configmap/#mounted-configmaps-are-updated-automatically
"""
import time

import pytest

from fixtures.api_calls import answer_of, create_raw
from fixtures.podexec import env_of, exec_in, read_file
from fixtures.polling import eventually
from fixtures.pods import is_ready, wait_pod
from fixtures.reporting import log, step

pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(images=["busybox"]), pytest.mark.slow,
              pytest.mark.xdist_group("pods-secret-configmap-refresh")]

POD = "consumer"
MAX_CONFIGMAP_BYTES = 1024 * 1024


@pytest.fixture(scope="module")
def updated(module_ns, cluster, timeouts):
    """A running pod that consumes `creds` and `settings` at v1; both objects are then changed to v2.
    Returns the namespace and the monotonic time of the change."""
    ns = module_ns.name
    with step("Given a pod reading Secret `creds` and ConfigMap `settings` (v1) by volume, subPath and env"):
        module_ns.apply("pods/secret-refresh/sources.yaml", value="v1")
        module_ns.apply("pods/secret-refresh/pod.yaml", name=POD)
        wait_pod(cluster, ns, POD, is_ready, timeouts)
        seen = {p: read_file(cluster, ns, POD, "app", p) for p in ("/secret/value", "/subpath/secret-value",
                                                                     "/config/value", "/subpath/config-value")}
        env = env_of(cluster, ns, POD, "app")
        assert set(seen.values()) == {"v1"} and (env["SECRET_VALUE"], env["CONFIG_VALUE"]) == ("v1", "v1"), (seen, env)
    with step("When both the Secret and the ConfigMap are changed to v2"):
        module_ns.apply("pods/secret-refresh/sources.yaml", value="v2")
        changed_at = time.monotonic()
    return module_ns, changed_at


def _follows_change(cluster, ns: str, changed_at: float, volume_file: str, subpath_file: str, env_name: str, timeouts):
    with step(f"Then {volume_file} shows v2 within the kubelet's sync period plus cache delay"):
        eventually(lambda: read_file(cluster, ns, POD, "app", volume_file), until=lambda v: v == "v2",
                   timeout=timeouts.volume_refresh, desc=f"{volume_file} updated to v2")
        delay = time.monotonic() - changed_at
        log.info("%s updated %.1f s after the change", volume_file, delay)
    with step(f"And the subPath file {subpath_file} and env {env_name} still hold v1"):
        assert read_file(cluster, ns, POD, "app", subpath_file) == "v1", f"{subpath_file} followed the change"
        assert env_of(cluster, ns, POD, "app")[env_name] == "v1", f"{env_name} followed the change"


@pytest.mark.claim("S002-086")
def test_secret_volume_follows_a_change_but_subpath_file_and_env_keep_the_start_value(updated, cluster, timeouts):
    """A changed Secret reaches its mounted volume after a delay (kubelet sync + cache); the same key mounted
    with subPath and the env var from secretKeyRef never change."""
    ns, changed_at = updated
    _follows_change(cluster, ns.name, changed_at, "/secret/value", "/subpath/secret-value", "SECRET_VALUE", timeouts)


@pytest.mark.claim("S002-089")
def test_configmap_volume_follows_a_change_but_subpath_file_and_env_keep_the_start_value(updated, cluster, timeouts):
    """ConfigMap volumes follow the same rules as Secret volumes (the document: "same usage as secret")."""
    ns, changed_at = updated
    _follows_change(cluster, ns.name, changed_at, "/config/value", "/subpath/config-value", "CONFIG_VALUE", timeouts)


@pytest.mark.claim("S002-089")
def test_configmap_binary_data_is_mounted_byte_for_byte(updated, cluster):
    """binaryData carries non-UTF-8 bytes: the mounted file holds exactly ff fe 00 01."""
    ns, _ = updated
    with step("When the app dumps /config/blob"):
        out = exec_in(cluster, ns.name, POD, "app", ["od", "-An", "-tx1", "/config/blob"])
    with step("Then it holds the four bytes of binaryData"):
        assert out.stdout.split() == ["ff", "fe", "00", "01"], out


@pytest.mark.claim("S002-089")
def test_configmap_over_one_mebibyte_is_refused(updated, cluster):
    """A ConfigMap whose data exceeds 1 MiB is refused by validation (422); one just under is accepted."""
    ns, _ = updated
    doc = lambda size: {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},  # noqa: E731
                        "data": {"k": "x" * size}}
    with step("When ConfigMaps of 1 MiB + 1 byte and of 1 MiB - 1 KiB are created (dry run)"):
        over = create_raw(cluster, doc(MAX_CONFIGMAP_BYTES + 1), ns.name, dry_run=True)
        under = create_raw(cluster, doc(MAX_CONFIGMAP_BYTES - 1024), ns.name, dry_run=True)
    with step("Then the larger one is refused as too long and the smaller accepted"):
        assert over.status == 422 and "1048576" in over.message, str(over)
        assert under.status == 201, str(under)


@pytest.mark.claim("S002-086")
def test_immutable_secret_refuses_a_data_change(updated, cluster):
    """A Secret with `immutable: true` refuses a change of its data (422) and keeps its value; a mutable
    Secret takes the same patch (the control: `creds` was changed above)."""
    ns, _ = updated
    ns.apply("pods/secret-refresh/immutable-secret.yaml", name="frozen")
    with step("When the immutable Secret's data is patched"):
        answer = answer_of(lambda: cluster.core.patch_namespaced_secret("frozen", ns.name, {"stringData": {"value": "v2"}}))
    with step("Then the patch is refused as invalid, naming immutability, and the value stays v1"):
        assert answer.status == 422 and "immutable" in answer.message, str(answer)
        assert cluster.core.read_namespaced_secret("frozen", ns.name).data["value"] == "djE="
        assert cluster.core.read_namespaced_secret("creds", ns.name).data["value"] == "djI="
