"""The document's pod manifests as printed, against today's API: mis-indented fields and a removed API.

Seed 002 › Pod中的健康检查 (livenessProbe snippet), › 挂载宿主机上的目录 (`two-containers`), › PodPreset;
seed 003 › Preset. Fields indented one level too deep are unknown fields: server-side field validation
Strict (GA 1.27; kubectl's default) refuses them, the API's default (Warn) drops them silently, so the
probe keeps its defaults. PodPreset (settings.k8s.io/v1alpha1) was removed in 1.20, with its admission
plugin. Each manifest is submitted verbatim (only the namespace is ours).
Source: https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation,
https://kubernetes.io/docs/reference/using-api/deprecation-guide/ (PodPreset: 1.20 release notes)
"""
import re

import pytest
from kubernetes import client

from fixtures.api_calls import create_raw
from fixtures.manifests import render
from fixtures.nodes import control_plane
from fixtures.podexec import exec_in
from fixtures.reporting import step

pytestmark = [pytest.mark.area("pods")]


def _unknown_fields(answer) -> set[str]:
    """The field paths a Strict field-validation refusal names."""
    return set(re.findall(r'unknown field "([^"]+)"', answer.message))


def _doc(relpath: str, kind: str, images) -> dict:
    return next(d for d in render(relpath, **{f"image_{r}": i for r, i in images.items()}) if d["kind"] == kind)


@pytest.mark.claim("S002-110")
@pytest.mark.requires(min_version="1.27")
def test_document_liveness_probe_is_refused_under_strict_field_validation(ns, cluster, images):
    """The snippet nests initialDelaySeconds/periodSeconds inside httpGet: Strict validation refuses
    them as unknown fields by name."""
    pod = _doc("pods/documents/s002-liveness-probe.yaml", "Pod", images)
    with step("When the document's probe is submitted with fieldValidation=Strict"):
        answer = create_raw(cluster, pod, ns.name, dry_run=True, field_validation="Strict")
    with step("Then it is refused, naming both mis-indented fields"):
        probe = "spec.containers[0].livenessProbe.httpGet"
        assert answer.status == 400, str(answer)
        assert _unknown_fields(answer) == {f"{probe}.initialDelaySeconds", f"{probe}.periodSeconds"}, answer.message


@pytest.mark.claim("S002-110")
def test_document_liveness_probe_keeps_default_timing_when_unknown_fields_are_dropped(ns, cluster, images):
    """Under the API's default validation (Warn) the pod is accepted, the mis-indented fields are dropped,
    and the probe runs with the defaults (no initial delay, every 10 s) instead of the document's 3 s / 3 s."""
    pod = _doc("pods/documents/s002-liveness-probe.yaml", "Pod", images)
    with step("When the document's probe is submitted with the API's default field validation"):
        answer = create_raw(cluster, pod, ns.name, dry_run=True)
    with step("Then the stored probe has the defaults: periodSeconds 10, no initialDelaySeconds"):
        assert answer.status == 201, str(answer)
        probe = answer.body["spec"]["containers"][0]["livenessProbe"]
        assert probe["periodSeconds"] == 10 and probe.get("initialDelaySeconds", 0) == 0, probe
        assert set(probe["httpGet"]) == {"path", "port", "httpHeaders", "scheme"}, probe["httpGet"]


@pytest.mark.claim("S002-094")
@pytest.mark.requires(min_version="1.27")
def test_document_two_containers_pod_is_refused_for_command_nested_in_volume_mounts(ns, cluster, images):
    """The document's `two-containers` pod indents command/args under volumeMounts[0]: Strict validation
    refuses it naming them; default validation would drop them and the debian container would run its
    default command, never writing index.html."""
    pod = _doc("pods/documents/s002-two-containers.yaml", "Pod", images)
    with step("When the document's pod is submitted with fieldValidation=Strict"):
        answer = create_raw(cluster, pod, ns.name, dry_run=True, field_validation="Strict")
    with step("Then it is refused for the two fields nested in volumeMounts[0]"):
        mount = "spec.containers[1].volumeMounts[0]"
        assert answer.status == 400, str(answer)
        assert _unknown_fields(answer) == {f"{mount}.command", f"{mount}.args"}, answer.message
    with step("And under default validation the container is stored without any command"):
        lenient = create_raw(cluster, pod, ns.name, dry_run=True)
        debian = lenient.body["spec"]["containers"][1]
        assert lenient.status == 201 and "command" not in debian and "args" not in debian, debian


def _served_groups(cluster) -> set[str]:
    return {g.name for g in client.ApisApi(cluster.api).get_api_versions().groups}


@pytest.mark.claim("S002-114", "S003-024")
@pytest.mark.requires(min_version="1.20")
def test_pod_preset_is_not_served_and_a_matching_pod_is_left_unchanged(ns, cluster, images):
    """PodPreset was removed in 1.20: the settings.k8s.io group is not served, the document's PodPreset is
    refused (404), and a pod its selector would match gets neither the env/volume nor the
    podpreset.admission.kubernetes.io annotation."""
    preset = _doc("pods/documents/s002-pod-preset.yaml", "PodPreset", images)
    pod = _doc("pods/documents/s002-pod-preset.yaml", "Pod", images)
    with step("When the document's PodPreset is submitted to its own API path"):
        answer = create_raw(cluster, preset, ns.name)
    with step("Then the API group is not served and the PodPreset is refused with 404"):
        assert "settings.k8s.io" not in _served_groups(cluster)
        assert answer.status == 404, f"[behaviour-changed] {answer}"
    with step("And a role=frontend pod is admitted without the preset's env, volume or annotation"):
        created = create_raw(cluster, pod, ns.name, dry_run=True)
        spec, meta = created.body["spec"], created.body["metadata"]
        assert created.status == 201, str(created)
        assert not any(k.startswith("podpreset.admission.kubernetes.io") for k in meta.get("annotations") or {}), meta
        assert "env" not in spec["containers"][0] and not any(v["name"] == "cache-volume" for v in spec.get("volumes", [])), spec


@pytest.mark.claim("S003-025")
def test_admission_control_flag_is_deprecated_and_no_pod_preset_plugin_exists(cluster):
    """The document enables PodPreset with `--admission-control` and `--runtime-config=settings.k8s.io/v1alpha1=true`.
    Today `--admission-control` is still accepted but deprecated for --enable-admission-plugins, neither flag's
    plugin list knows PodPreset, and the running server enables no settings.k8s.io version."""
    pod = f"kube-apiserver-{control_plane(cluster)}"
    with step("When the kube-apiserver binary's own help is read (in its static pod)"):
        out = exec_in(cluster, "kube-system", pod, "kube-apiserver", ["kube-apiserver", "--help"], timeout=30)
        flags = {line.split()[0]: line for line in (out.stdout + out.stderr).splitlines() if line.strip().startswith("--")}
    with step("Then --admission-control is marked deprecated in favour of --enable-admission-plugins"):
        assert "DEPRECATED: Use --enable-admission-plugins" in flags["--admission-control"], flags["--admission-control"]
    with step("And no plugin list has PodPreset, while both list the built-in plugins (PodSecurity)"):
        for flag in ("--admission-control", "--enable-admission-plugins"):
            assert "PodSecurity" in flags[flag] and "PodPreset" not in flags[flag], flags[flag]
    with step("And the running server's command line enables no settings.k8s.io API, and none is served"):
        command = cluster.core.read_namespaced_pod(pod, "kube-system").spec.containers[0].command
        assert not any("settings.k8s.io" in c for c in command), command
        assert "settings.k8s.io" not in _served_groups(cluster)
