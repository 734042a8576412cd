"""RBAC: Roles and ClusterRoles, their bindings' reach, resourceNames, the built-in user-facing roles and
their aggregation, observed as real requests made as an impersonated user (each one authorized as that
user) and as SubjectAccessReviews.

Source: seed 002 «RBAC», «流程» (授权). Upstream: https://kubernetes.io/docs/reference/access-authn-authz/rbac/
"""
import secrets

import pytest
from kubernetes import client

from fixtures import apiserver, auth
from fixtures.polling import eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("control-plane")]


def _user() -> str:
    return f"kp-user-{secrets.token_hex(3)}"


def _allowed_soon(call, timeouts, desc: str) -> None:
    """A new binding reaches the RBAC authorizer's informer within moments."""
    eventually(lambda: auth.status_of(call), until=lambda s: s == 200, timeout=timeouts.apply, desc=desc)


@pytest.mark.claim("S002-022")
def test_the_apiserver_authorizes_with_node_and_rbac_and_enforces_role_bindings(ns, cluster, timeouts):
    """kubeadm runs kube-apiserver with --authorization-mode=Node,RBAC; an RBAC binding decides a request."""
    user = _user()
    as_user = client.CoreV1Api(auth.impersonating(cluster, user))
    with step("Given the API server's authorization mode"):
        mode = apiserver.static_pod_flags(cluster, "kube-apiserver").get("--authorization-mode", "")
        assert mode.split(",") == ["Node", "RBAC"], f"[behaviour-changed] --authorization-mode={mode!r}"
    with step(f"Then {user}, bound to nothing, is refused by RBAC"):
        assert auth.status_of(lambda: as_user.list_namespaced_pod(ns.name)) == 403
        allowed, _ = auth.access_review(cluster, user, "list", "pods", ns.name)
        assert not allowed
    with step("When a Role and RoleBinding grant it pod reads, the same request is allowed"):
        ns.apply("control_plane/rbac/pod-reader-role.yaml", name="pod-reader")
        ns.apply("control_plane/rbac/binding.yaml", name="read-pods", role_kind="Role", role="pod-reader", **auth.subject("User", user))
        _allowed_soon(lambda: as_user.list_namespaced_pod(ns.name), timeouts, "pods listable after the binding")
        allowed, reason = auth.access_review(cluster, user, "list", "pods", ns.name)
        assert allowed and "RBAC" in reason, reason


@pytest.mark.claim("S002-215")
def test_a_role_binding_grants_pod_reads_in_its_namespace_only(ns, cluster, timeouts):
    """The document's Role + RoleBinding: example-user may get/list/watch pods in the namespace, may not
    delete them, and may not read pods of any other namespace."""
    user = _user()
    as_user = client.CoreV1Api(auth.impersonating(cluster, user))
    with step("Given the document's pod-reader Role bound to the user in the test namespace"):
        ns.apply("control_plane/rbac/pod-reader-role.yaml", name="pod-reader")
        ns.apply("control_plane/rbac/binding.yaml", name="read-pods", role_kind="Role", role="pod-reader", **auth.subject("User", user))
    with step("Then it may list, get and watch pods there"):
        _allowed_soon(lambda: as_user.list_namespaced_pod(ns.name), timeouts, "pods listable")
        watched, _ = apiserver.watch_events(as_user.api_client, f"/api/v1/namespaces/{ns.name}/pods", 1)
        assert watched == 200, watched
        assert auth.status_of(lambda: as_user.read_namespaced_pod("absent", ns.name)) == 404  # authorized, not found
    with step("And it may not delete pods there, nor list pods elsewhere"):
        assert auth.status_of(lambda: as_user.delete_namespaced_pod("absent", ns.name)) == 403
        assert auth.status_of(lambda: as_user.list_namespaced_pod("default")) == 403


@pytest.mark.claim("S002-216")
def test_a_cluster_role_grants_everywhere_through_a_cluster_binding_and_in_one_namespace_through_a_role_binding(
        ns, cluster, cluster_objects, timeouts):
    """A ClusterRole bound by a ClusterRoleBinding grants in every namespace and on cluster-scoped resources;
    the same ClusterRole bound by a RoleBinding grants only inside that namespace."""
    everywhere, here = _user(), _user()
    role = f"kp-reader-{secrets.token_hex(3)}"
    a = client.CoreV1Api(auth.impersonating(cluster, everywhere))
    b = client.CoreV1Api(auth.impersonating(cluster, here))
    with step(f"Given ClusterRole {role} (pods, namespaces) bound cluster-wide to one user and by a RoleBinding to another"):
        ns.apply("control_plane/rbac/cluster-reader.yaml", name=role)
        cluster_objects.track("rbac.authorization.k8s.io/v1", "ClusterRole", role)
        ns.apply("control_plane/rbac/cluster-binding.yaml", name=role, role=role, **auth.subject("User", everywhere))
        cluster_objects.track("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", role)
        ns.apply("control_plane/rbac/binding.yaml", name="reader", role_kind="ClusterRole", role=role, **auth.subject("User", here))
    with step("Then the cluster-wide user reads pods in any namespace and the cluster-scoped namespaces"):
        _allowed_soon(lambda: a.list_namespaced_pod("default"), timeouts, "pods in default readable")
        assert auth.status_of(lambda: a.list_namespaced_pod(ns.name)) == 200
        assert auth.status_of(lambda: a.list_namespace()) == 200
    with step("And the namespace-bound user reads pods only in the test namespace, and no namespaces"):
        _allowed_soon(lambda: b.list_namespaced_pod(ns.name), timeouts, "pods in the test namespace readable")
        assert auth.status_of(lambda: b.list_namespaced_pod("default")) == 403
        assert auth.status_of(lambda: b.list_namespace()) == 403


@pytest.mark.claim("S002-217")
def test_resource_names_restrict_named_verbs_but_not_list_or_create(ns, cluster, timeouts):
    """resourceNames limits get/update/delete to the named objects; it cannot restrict a plain list or create
    (no name at authorization time), except list with fieldSelector metadata.name=<name>. Verbs beyond the
    CRUD set exist: deletecollection is granted separately."""
    user = _user()
    as_user = client.CoreV1Api(auth.impersonating(cluster, user))
    with step("Given configmaps a and b, and a Role granting every verb on configmap a only (+ deletecollection on secrets)"):
        for name in ("a", "b"):
            ns.apply("control_plane/rbac/configmap.yaml", name=name)
        ns.apply("control_plane/rbac/named-configmap-role.yaml", name="only-a", allowed="a")
        ns.apply("control_plane/rbac/binding.yaml", name="only-a", role_kind="Role", role="only-a", **auth.subject("User", user))
    with step("Then get and patch of a are allowed, of b refused"):
        _allowed_soon(lambda: as_user.read_namespaced_config_map("a", ns.name), timeouts, "configmap a readable")
        assert auth.status_of(lambda: as_user.patch_namespaced_config_map("a", ns.name, {"data": {"k": "w"}})) == 200
        assert auth.status_of(lambda: as_user.read_namespaced_config_map("b", ns.name)) == 403
        assert auth.status_of(lambda: as_user.patch_namespaced_config_map("b", ns.name, {"data": {"k": "w"}})) == 403
    with step("And a plain list is refused, a list selecting metadata.name=a allowed"):
        assert auth.status_of(lambda: as_user.list_namespaced_config_map(ns.name)) == 403
        assert auth.status_of(lambda: as_user.list_namespaced_config_map(ns.name, field_selector="metadata.name=a")) == 200
    with step("And create is refused even for the name a (deleted first): create has no name to match"):
        assert auth.status_of(lambda: as_user.delete_namespaced_config_map("a", ns.name)) == 200
        body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="a"))
        assert auth.status_of(lambda: as_user.create_namespaced_config_map(ns.name, body)) == 403
    with step("And deletecollection is its own verb: granted on secrets, not on configmaps"):
        assert auth.status_of(lambda: as_user.delete_collection_namespaced_secret(ns.name)) == 200
        assert auth.status_of(lambda: as_user.delete_collection_namespaced_config_map(ns.name)) == 403


@pytest.mark.claim("S002-221")
def test_view_cannot_read_secrets_edit_cannot_grant_roles_and_view_aggregates_labelled_roles(
        ns, cluster, cluster_objects, timeouts):
    """The built-in cluster-admin, admin, edit and view ClusterRoles exist; view cannot read Secrets; edit cannot
    create Roles or RoleBindings; admin/edit/view aggregate rules from ClusterRoles labelled aggregate-to-*."""
    viewer, editor = _user(), _user()
    group = f"kp-{secrets.token_hex(3)}.example.com"
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    with step("Given the four user-facing ClusterRoles"):
        for name in ("cluster-admin", "admin", "edit", "view"):
            rbac.read_cluster_role(name)
        assert rbac.read_cluster_role("view").aggregation_rule is not None
    with step("And a viewer and an editor bound in the test namespace"):
        ns.apply("control_plane/rbac/binding.yaml", name="viewer", role_kind="ClusterRole", role="view", **auth.subject("User", viewer))
        ns.apply("control_plane/rbac/binding.yaml", name="editor", role_kind="ClusterRole", role="edit", **auth.subject("User", editor))
        v = client.CoreV1Api(auth.impersonating(cluster, viewer))
        e = client.CoreV1Api(auth.impersonating(cluster, editor))
        _allowed_soon(lambda: v.list_namespaced_pod(ns.name), timeouts, "viewer reads pods")
        _allowed_soon(lambda: e.list_namespaced_secret(ns.name), timeouts, "editor reads secrets")
    with step("Then view may read configmaps but not secrets"):
        assert auth.status_of(lambda: v.list_namespaced_config_map(ns.name)) == 200
        assert auth.status_of(lambda: v.list_namespaced_secret(ns.name)) == 403
    with step("And edit may create configmaps but not Roles"):
        e_rbac = client.RbacAuthorizationV1Api(auth.impersonating(cluster, editor))
        assert auth.status_of(lambda: e.create_namespaced_config_map(
            ns.name, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="by-editor")))) == 200
        role = client.V1Role(metadata=client.V1ObjectMeta(name="by-editor"), rules=[])
        assert auth.status_of(lambda: e_rbac.create_namespaced_role(ns.name, role)) == 403
    with step(f"When a ClusterRole labelled aggregate-to-view grants get on widgets.{group}"):
        assert not auth.access_review(cluster, viewer, "get", "widgets", ns.name, group=group)[0], "control"
        ns.apply("control_plane/rbac/aggregate-to-view.yaml", name=f"kp-widgets-{group.split('.')[0]}", group=group)
        cluster_objects.track("rbac.authorization.k8s.io/v1", "ClusterRole", f"kp-widgets-{group.split('.')[0]}")
    with step("Then the view role folds the rule in and the viewer is allowed"):
        eventually(lambda: [r.api_groups for r in rbac.read_cluster_role("view").rules], until=lambda g: [group] in g,
                   timeout=timeouts.controller_sync, desc="view aggregates the widgets rule")
        eventually(lambda: auth.access_review(cluster, viewer, "get", "widgets", ns.name, group=group)[0],
                   until=bool, timeout=timeouts.apply, desc="viewer may get widgets")
