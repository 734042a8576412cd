"""Projected volumes: Secret, ConfigMap, downward API and service-account token data inside a pod.

Seed 002 › Pod中的Projected Volume(投射数据卷) (Secret, configMap, downward API). The document's own
`test-projected-volume` (Secrets made with `kubectl create secret generic user --from-file=./username.txt`)
and `test-downwardapi-volume` pods run here in one shared pod, beside one projected volume that combines
all four source kinds. Everything is read from inside the pod (exec), as the application sees it.
Source: https://kubernetes.io/docs/concepts/storage/projected-volumes/,
https://kubernetes.io/docs/concepts/workloads/pods/downward-api/
"""
import pytest

from fixtures.api_calls import create_raw
from fixtures.nodes import allocatable
from fixtures.podexec import env_of, exec_in, read_file
from fixtures.polling import eventually
from fixtures.pods import is_ready, view, wait_pod
from fixtures.reporting import step
from fixtures.tokens import claims_of

pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(images=["busybox"]),
              pytest.mark.xdist_group("pods-projected-volumes")]

POD, RELABELLED = "test-projected-volume", "relabelled"
TOKEN_SECONDS = 600  # the shortest lifetime a projected token may ask for
DOC_LABELS = {"zone": "us-est-coast", "cluster": "test-cluster1", "rack": "rack-22"}


@pytest.fixture(scope="module")
def projected(module_ns, cluster, timeouts, tmp_path_factory):
    """The document's Secrets (from files), its `mysecret`, a ConfigMap, and two running pods that mount them."""
    files = tmp_path_factory.mktemp("secret-files")
    (files / "username.txt").write_text("admin")
    (files / "password.txt").write_text("c1oudc0w!")
    with step("Given Secrets `user` and `pass` created as the document does: kubectl create secret generic --from-file"):
        for name, file in (("user", "username.txt"), ("pass", "password.txt")):
            cluster.kubectl("create", "secret", "generic", name, f"--from-file={files / file}", "-n", module_ns.name)
        module_ns.apply("pods/projected-volume/sources.yaml")
    with step("And the document's pods (projected Secrets, /podInfo labels) with an all-sources projected volume"):
        for name in (POD, RELABELLED):
            module_ns.apply("pods/projected-volume/pod.yaml", name=name, token_seconds=TOKEN_SECONDS)
        for name in (POD, RELABELLED):
            wait_pod(cluster, module_ns.name, name, is_ready, timeouts)
    return module_ns


def _listing(cluster, namespace: str, path: str) -> list[str]:
    """Entry names of a directory in the app container (ls hides the kubelet's ..data/..timestamp links)."""
    out = exec_in(cluster, namespace, POD, "app", ["ls", "-1", path])
    assert out.returncode == 0, f"ls {path}: {out.stderr}"
    return sorted(out.stdout.split())


@pytest.mark.claim("S002-085")
def test_one_projected_volume_combines_secret_configmap_downward_api_and_token_files(projected, cluster):
    """One `projected` volume puts a Secret key, a ConfigMap key, downward-API fields and a service-account
    token side by side in one directory; only the keys it selects appear (the unselected key is the control)."""
    ns = projected.name
    with step("When the app lists the all-in-one projected directory"):
        names = _listing(cluster, ns, "/all-in-one")
    with step("Then it holds one file per selected item of each of the four source kinds, and nothing else"):
        assert names == sorted(["secret-user", "configmap-greeting", "downward-labels", "downward-cpu-limit", "token"]), names
    with step("And each file carries its source's data"):
        read = lambda p: read_file(cluster, ns, POD, "app", f"/all-in-one/{p}")  # noqa: E731
        assert read("secret-user") == "admin", "the Secret's base64 `YWRtaW4=` must appear decoded"
        assert read("configmap-greeting") == "hello-from-configmap"
        assert 'zone="us-est-coast"' in read("downward-labels").splitlines()
        assert read("downward-cpu-limit").strip() == "250"
        assert claims_of(read("token")).audiences == ["kubeproof"]


@pytest.mark.claim("S002-087")
def test_secret_made_from_a_file_is_mounted_under_the_file_name_and_each_data_key_becomes_a_file(projected, cluster):
    """`--from-file=./username.txt` stores key `username.txt`: the mounted file is /projected-volume/username.txt,
    not `user` (the Secret's name); each `data` key of `mysecret` becomes one file holding the decoded value."""
    ns = projected.name
    with step("Given the Secret `user` the document created from ./username.txt"):
        keys = sorted((cluster.core.read_namespaced_secret("user", ns).data or {}).keys())
        assert keys == ["username.txt"], keys
    with step("Then the document's pod sees the files under their key names, not under the Secrets' names"):
        assert _listing(cluster, ns, "/projected-volume") == ["password.txt", "username.txt"]
        assert read_file(cluster, ns, POD, "app", "/projected-volume/username.txt") == "admin"
    with step("And `mysecret` gives one file per data key, holding the base64-decoded value"):
        assert _listing(cluster, ns, "/mysecret") == ["pass", "user"]
        got = {k: read_file(cluster, ns, POD, "app", f"/mysecret/{k}") for k in ("user", "pass")}
        assert got == {"user": "admin", "pass": "1f2d1e2e67df"}, got


@pytest.mark.claim("S002-087")
def test_secret_data_must_be_base64_while_string_data_is_taken_as_plain_text(projected, cluster):
    """`data` values must be base64: a plain-text value is refused with 400; `stringData` takes plain text
    and is stored base64-encoded under `data`."""
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "plain"}, "data": {"k": "not base64!"}}
    with step("When a Secret with a non-base64 `data` value is created"):
        refused = create_raw(cluster, doc, projected.name, dry_run=True)
    with step("Then the API server refuses it as a bad request naming base64"):
        assert refused.status == 400 and "base64" in refused.message, str(refused)
    with step("And the same value under stringData is accepted and stored base64-encoded"):
        ok = create_raw(cluster, {**doc, "data": None, "stringData": {"k": "not base64!"}}, projected.name, dry_run=True)
        assert ok.status == 201 and ok.body["data"] == {"k": "bm90IGJhc2U2NCE="}, str(ok)


@pytest.mark.claim("S002-091")
def test_downward_api_file_lists_the_pod_labels_and_cpu_limit_env_reports_millicores(projected, cluster):
    """/podInfo/labels holds one key="value" line per label; `resourceFieldRef: limits.cpu` with divisor 1m gives
    millicores (250 for a 250m limit) and, without a limit, the node's allocatable CPU; `spec.nodeName` is the node."""
    ns = projected.name
    pod = view(cluster, ns, POD)
    with step("When the app reads /podInfo/labels and its environment"):
        lines = read_file(cluster, ns, POD, "app", "/podInfo/labels").splitlines()
        env, limited_env = env_of(cluster, ns, POD, "app"), env_of(cluster, ns, POD, "limited")
    with step("Then the labels file is exactly the document's three labels, one key=\"value\" per line"):
        assert sorted(lines) == sorted(f'{k}="{v}"' for k, v in DOC_LABELS.items()), lines
    with step("And limits.cpu in millicores is 250 with a 250m limit, the node's allocatable CPU without one"):
        assert limited_env["CPU_LIMIT_MILLI"] == "250", limited_env["CPU_LIMIT_MILLI"]
        node_cpu = allocatable(cluster, pod.node)["cpu"]
        node_milli = int(node_cpu[:-1]) if node_cpu.endswith("m") else int(node_cpu) * 1000
        assert int(env["CPU_LIMIT_MILLI"]) == node_milli, f"no limit: {env['CPU_LIMIT_MILLI']} vs node {node_cpu}"
    with step("And spec.nodeName is the node's name"):
        assert env["NODE_NAME"] == pod.node, (env["NODE_NAME"], pod.node)


@pytest.mark.claim("S002-090")
def test_downward_api_env_carries_values_known_only_after_the_pod_started(projected, cluster):
    """The document says the downward API only gives what is known before the pod starts. Wrong: the pod IP
    and host IP (assigned when the sandbox starts on a node) are available as environment variables."""
    ns = projected.name
    with step("When the app reads its environment"):
        env = env_of(cluster, ns, POD, "app")
        pod = view(cluster, ns, POD)
    with step("Then POD_IP and HOST_IP are the pod's status.podIP and status.hostIP"):
        assert (env["POD_IP"], env["HOST_IP"]) == (pod.ip, pod.host_ip), (
            f"[behaviour-changed] env {env['POD_IP']}/{env['HOST_IP']} vs status {pod.ip}/{pod.host_ip}")


@pytest.mark.claim("S002-090")
def test_downward_api_label_file_follows_a_label_change_while_the_env_keeps_the_start_value(projected, cluster, timeouts):
    """Labels changed on a running pod reach its downward-API volume file (refreshed by the kubelet);
    an environment variable from the same label keeps the value it had when the container started."""
    ns = projected.name
    with step("Given the pod's labels file shows zone=us-est-coast"):
        assert 'zone="us-est-coast"' in read_file(cluster, ns, RELABELLED, "app", "/podInfo/labels").splitlines()
    with step("When the running pod is relabelled zone=eu-west"):
        cluster.core.patch_namespaced_pod(RELABELLED, ns, {"metadata": {"labels": {"zone": "eu-west"}}})
    with step("Then /podInfo/labels shows the new value"):
        eventually(lambda: read_file(cluster, ns, RELABELLED, "app", "/podInfo/labels").splitlines(),
                   until=lambda lines: 'zone="eu-west"' in lines, timeout=timeouts.volume_refresh,
                   desc="relabelled zone in /podInfo/labels")
    with step("And the environment variable from the same label still has the start value"):
        assert env_of(cluster, ns, RELABELLED, "app")["ZONE_LABEL"] == "us-est-coast"
