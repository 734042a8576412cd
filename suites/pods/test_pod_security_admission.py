"""Pod security: PodSecurityPolicy is gone; Pod Security Admission enforces the standard profiles by
namespace label.

Seed 003 › 安全策略: "a PodSecurityPolicy is a cluster-level resource that controls what pods may do",
with its table of controls (privileged, capabilities, volumes, hostNetwork, hostPorts, hostPID, hostIPC,
allowedHostPaths, seLinux, runAsUser, ..., readOnlyRootFilesystem). PodSecurityPolicy was removed in 1.25;
the built-in successor, Pod Security Admission (GA 1.25), applies the Pod Security Standards
(privileged / baseline / restricted) per namespace through `pod-security.kubernetes.io/{enforce,audit,warn}`
labels. It only accepts or refuses (no defaults are added, unlike PSP's defaultAddCapabilities), and it has
no readOnlyRootFilesystem or user-range control.
Source: https://kubernetes.io/docs/concepts/security/pod-security-admission/,
https://kubernetes.io/docs/concepts/security/pod-security-standards/
"""
import pytest
from kubernetes import client

from fixtures.addons.dry_run import dry_run_apply
from fixtures.api_calls import create_raw
from fixtures.manifests import render
from fixtures.reporting import step

pytestmark = [pytest.mark.area("pods"), pytest.mark.requires(images=["busybox"], min_version="1.25")]

LABEL = "pod-security.kubernetes.io"
BASELINE = {f"{LABEL}/enforce": "baseline", f"{LABEL}/warn": "restricted", f"{LABEL}/audit": "restricted"}
RESTRICTED = {f"{LABEL}/enforce": "restricted"}
PRIVILEGED = {f"{LABEL}/enforce": "privileged"}

# manifest -> the Pod Security Standards check that refuses it under baseline
BASELINE_VIOLATIONS = {
    "privileged": "privileged", "host-network": "host namespaces", "host-pid": "host namespaces",
    "host-ipc": "host namespaces", "host-port": "hostPort", "host-path": "hostPath volumes",
    "added-capability": "non-default capabilities", "unsafe-sysctl": "forbidden sysctls",
    "selinux-user": "seLinuxOptions",
}


def _submit(cluster, ns, images, manifest: str):
    doc = render(f"pods/pod-security/{manifest}.yaml", **{f"image_{r}": i for r, i in images.items()})[0]
    return create_raw(cluster, doc, ns.name, dry_run=True)


@pytest.mark.claim("S003-007")
def test_pod_security_policy_is_not_served_since_1_25(cluster):
    """policy/v1beta1 PodSecurityPolicy is not served: the policy group has v1 only, without PSP."""
    with step("When the API server's discovery is read"):
        versions = next(g for g in client.ApisApi(cluster.api).get_api_versions().groups if g.name == "policy").versions
        resources = [r.name for r in client.PolicyV1Api(cluster.api).get_api_resources().resources]
    with step("Then policy serves v1 only, and nothing named podsecuritypolicies"):
        assert [v.version for v in versions] == ["v1"], [v.version for v in versions]
        assert "podsecuritypolicies" not in resources, resources


@pytest.mark.claim("S003-007", "S003-008")
@pytest.mark.parametrize("ns_labels", [RESTRICTED])
def test_restricted_namespace_refuses_a_plain_pod_naming_each_violation(ns, cluster, images):
    """With `enforce: restricted` a plain busybox pod is refused (403), the message listing what it lacks:
    allowPrivilegeEscalation=false, dropped capabilities, runAsNonRoot, a seccomp profile; a pod that sets
    them all (and leaves readOnlyRootFilesystem false, which no profile checks) is admitted."""
    with step("When a plain pod is created in the restricted namespace"):
        refused = _submit(cluster, ns, images, "plain")
    with step("Then Pod Security Admission refuses it, naming each missing setting"):
        assert refused.status == 403 and 'violates PodSecurity "restricted:latest"' in refused.message, str(refused)
        for check in ("allowPrivilegeEscalation != false", "unrestricted capabilities", "runAsNonRoot != true", "seccompProfile"):
            assert check in refused.message, (check, refused.message)
    with step("And a pod meeting the restricted profile is admitted"):
        admitted = _submit(cluster, ns, images, "restricted-compliant")
        assert admitted.status == 201, str(admitted)


@pytest.mark.claim("S003-008")
@pytest.mark.parametrize("ns_labels", [BASELINE])
@pytest.mark.parametrize("manifest", sorted(BASELINE_VIOLATIONS))
def test_baseline_namespace_refuses_each_privileged_setting_of_the_psp_table(ns, cluster, images, manifest):
    """Each PSP-table control that baseline covers (privileged, host namespaces, hostPort, hostPath,
    added capabilities, unsafe sysctls, custom SELinux user) is refused with 403 naming its check."""
    with step(f"When the {manifest} pod is created in a baseline namespace"):
        answer = _submit(cluster, ns, images, manifest)
    with step(f"Then it is refused by the {BASELINE_VIOLATIONS[manifest]!r} check"):
        assert answer.status == 403 and 'violates PodSecurity "baseline:latest"' in answer.message, str(answer)
        assert BASELINE_VIOLATIONS[manifest] in answer.message, answer.message


@pytest.mark.claim("S003-007", "S003-008")
@pytest.mark.parametrize("ns_labels", [PRIVILEGED])
def test_privileged_namespace_admits_what_baseline_refuses(ns, cluster, images):
    """The control: in an `enforce: privileged` namespace every one of those pods is admitted."""
    with step("When each baseline-violating pod is created in a privileged namespace"):
        answers = {m: _submit(cluster, ns, images, m) for m in sorted(BASELINE_VIOLATIONS)}
    with step("Then all are admitted"):
        assert all(a.status == 201 for a in answers.values()), {m: str(a) for m, a in answers.items() if a.status != 201}


@pytest.mark.claim("S003-007")
@pytest.mark.parametrize("ns_labels", [BASELINE])
def test_warn_label_admits_the_pod_with_a_warning_for_the_stricter_profile(ns, cluster, images):
    """`warn: restricted` beside `enforce: baseline`: a plain pod is admitted, and the client is warned
    that it would violate restricted. Nothing is added to the pod (PSA does not mutate)."""
    with step("When a plain pod is applied (server dry run) in the namespace"):
        got = dry_run_apply(cluster, "pods/pod-security/plain.yaml", ns.name, image_busybox=images["busybox"])
    with step("Then it is accepted with a warning naming the restricted profile"):
        assert got.accepted, got
        assert any('would violate PodSecurity "restricted:latest"' in w for w in got.warnings), got.warnings
    with step("And the admitted pod carries no security settings it did not ask for"):
        admitted = _submit(cluster, ns, images, "plain")
        assert admitted.status == 201 and "securityContext" not in admitted.body["spec"]["containers"][0], admitted.body
