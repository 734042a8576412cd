"""The declarative API: apply is idempotent and merges (fields other writers own survive), replace overwrites,
create refuses an existing object, server-side apply tracks field managers and reports conflicts (409); status
is the system's, not the client's.

Source: seed 002 «声明式API», «基本» (CRD bullet). Upstream: https://kubernetes.io/docs/reference/using-api/server-side-apply/,
https://kubernetes.io/docs/tasks/manage-kubernetes-objects/declarative-config/
"""
import pytest

from fixtures.kube import retry_on_conflict
from fixtures.manifests import render
from fixtures.polling import eventually
from fixtures.reporting import step
from fixtures.workloads import wait_rollout

pytestmark = [pytest.mark.area("control-plane"), pytest.mark.requires(images=["agnhost"])]


@pytest.mark.claim("S002-222")
def test_apply_twice_changes_nothing_and_keeps_fields_set_by_others_while_replace_overwrites(ns, cluster, manifest_file, timeouts):
    """`kubectl apply` of the same file twice is a no-op (resourceVersion and generation unchanged); fields the file
    does not set (replicas scaled by someone else, a label added by kubectl label) survive a re-apply, while
    `kubectl replace` resets them; `kubectl create` of an existing object fails AlreadyExists."""
    path = manifest_file("control_plane/apply/deployment.yaml", name="web")
    k = lambda *a, **kw: cluster.kubectl("-n", ns.name, *a, **kw)  # noqa: E731
    with step("Given the Deployment applied once"):
        k("apply", "-f", path)
        wait_rollout(cluster, ns.name, "web", timeouts)  # the controller's status writes also move resourceVersion
        first = cluster.apps.read_namespaced_deployment("web", ns.name)
    with step("When the same file is applied again"):
        again = k("apply", "-f", path).stdout
    with step("Then nothing changed: kubectl says unchanged, resourceVersion and generation stay"):
        second = cluster.apps.read_namespaced_deployment("web", ns.name)
        assert "unchanged" in again, again
        assert (second.metadata.resource_version, second.metadata.generation) == (first.metadata.resource_version, first.metadata.generation)
    with step("When someone scales it to 0 and labels it, then the file is applied again"):
        k("scale", "deployment/web", "--replicas=0")
        k("label", "deployment/web", "added-by=hand")
        k("apply", "-f", path)
    with step("Then the replicas and the label survive the apply (merge)"):
        merged = cluster.apps.read_namespaced_deployment("web", ns.name)
        assert merged.spec.replicas == 0 and merged.metadata.labels.get("added-by") == "hand", (merged.spec.replicas, merged.metadata.labels)
    with step("When the file replaces the object instead"):
        k("replace", "-f", path)
    with step("Then the label is gone and replicas are back to the default 1 (overwritten)"):
        replaced = cluster.apps.read_namespaced_deployment("web", ns.name)
        assert "added-by" not in replaced.metadata.labels and replaced.spec.replicas == 1, (replaced.spec.replicas, replaced.metadata.labels)
    with step("And kubectl create of the existing object fails with AlreadyExists"):
        created = k("create", "-f", path, check=False)
        assert created.returncode != 0 and "AlreadyExists" in created.stderr, created.stderr


@pytest.mark.claim("S002-222")
def test_server_side_apply_records_field_managers_and_refuses_a_conflicting_manager_with_409(ns, cluster, manifest_file):
    """Server-side apply records which manager owns each field; a second manager applying a different value for an
    owned field gets a conflict (HTTP 409) unless it forces, and then owns the field."""
    k = lambda *a, **kw: cluster.kubectl("-n", ns.name, *a, **kw)  # noqa: E731
    with step("Given manager alice applied data.owner=alice"):
        k("apply", "--server-side", "--field-manager=alice", "-f", manifest_file("control_plane/apply/configmap.yaml", name="cfg", value="alice"))
    bob = manifest_file("control_plane/apply/configmap.yaml", name="cfg", value="bob")
    with step("When manager bob applies data.owner=bob"):
        conflict = k("apply", "--server-side", "--field-manager=bob", "-f", bob, "-v=6", check=False)
    with step("Then the API server answers 409 naming the conflicting field and manager, and nothing changes"):
        assert conflict.returncode != 0 and "409" in conflict.stderr, conflict.stderr[-800:]
        assert 'conflict with "alice"' in conflict.stderr and ".data.owner" in conflict.stderr, conflict.stderr[-800:]
        assert cluster.core.read_namespaced_config_map("cfg", ns.name).data == {"owner": "alice"}
    with step("When bob forces the apply"):
        k("apply", "--server-side", "--field-manager=bob", "--force-conflicts", "-f", bob)
    with step("Then the value is bob's and bob alone manages it"):
        cm = cluster.core.read_namespaced_config_map("cfg", ns.name)
        managers = {f.manager for f in cm.metadata.managed_fields if "f:owner" in str(f.fields_v1)}
        assert cm.data == {"owner": "bob"} and managers == {"bob"}, managers


@pytest.mark.claim("S002-004")
def test_status_written_by_a_client_is_ignored_and_is_visible_with_a_plain_get(ns, cluster, timeouts):
    """Claim: status is provided and managed by Kubernetes and seen through describe. The first half holds: a
    status in the created object (or in a main-resource update) is dropped, only the status subresource and the
    controllers write it. The second half is wrong: a plain GET (-o yaml) shows status."""
    body = render("control_plane/apply/deployment-with-status.yaml", name="claims", image_agnhost=ns.images["agnhost"])[0]
    with step("When a Deployment is created carrying status.readyReplicas: 99"):
        created = cluster.apps.create_namespaced_deployment(ns.name, body)
    with step("Then the stored object has no such status"):
        assert created.status.ready_replicas is None and created.status.replicas is None, created.status
    with step("And a main-resource update carrying the status leaves it alone too"):
        def update():  # the controller writes the object too: a 409 means read again
            current = cluster.apps.read_namespaced_deployment("claims", ns.name)
            current.status.ready_replicas = 99
            return cluster.apps.replace_namespaced_deployment("claims", ns.name, current)

        updated = retry_on_conflict(update)
        assert updated.status.ready_replicas != 99, updated.status
    with step("And the controller's status is right there in a plain GET"):
        status = eventually(lambda: cluster.kubectl("-n", ns.name, "get", "deployment/claims", "-o", "jsonpath={.status.observedGeneration}").stdout,
                            until=lambda s: s.strip() != "", timeout=timeouts.controller_sync, desc="status in kubectl get")
        assert int(status) >= 1
