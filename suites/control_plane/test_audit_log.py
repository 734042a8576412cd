"""Auditing: with an audit policy, the API server writes an audit event for each stage of each request it
matches (RequestReceived, then ResponseComplete), and none for a request the policy sets to level None.

The kind configs (manifests/cluster/) start kube-apiserver with --audit-policy-file and --audit-log-path; the
policy (manifests/cluster/audit/policy.yaml) logs only requests naming the ConfigMap `kubeproof-audited`, at
Metadata level. A create POSTed to the collection carries no name a policy rule could match, so the ConfigMap is
created by server-side apply (a PATCH to its own URL, answered 201 Created).

Source: seed 002 «流程» (审计). Upstream: https://kubernetes.io/docs/tasks/debug/debug-cluster/audit/
"""
import json

import pytest

from fixtures import apiserver, auth
from fixtures.manifests import render
from fixtures.polling import eventually
from fixtures.reporting import attach_text, step

pytestmark = [pytest.mark.area("control-plane")]

AUDITED, NOT_AUDITED = "kubeproof-audited", "kubeproof-not-audited"
MANIFEST = "control_plane/audit/configmap.yaml"


def _requests(cluster, namespace: str, name: str) -> dict[str, tuple[int, str]]:
    """Create (server-side apply), read and update the ConfigMap `name`: verb -> (status, Audit-Id header)."""
    url = f"/api/v1/namespaces/{namespace}/configmaps/{name}"
    doc = render(MANIFEST, name=name, namespace=namespace)[0]
    done = {"patch": apiserver.request(cluster.api, url, [("fieldManager", "kubeproof")], method="PATCH", body=doc,
                                       content_type="application/apply-patch+yaml")}
    done["get"] = apiserver.get(cluster.api, url)
    current = done["get"].json()
    current["data"]["updated"] = "yes"
    done["update"] = apiserver.request(cluster.api, url, method="PUT", body=current)
    return {verb: (r.status, r.headers.get("audit-id", "")) for verb, r in done.items()}


@pytest.mark.claim("S002-021")
@pytest.mark.requires(node_access=True)
def test_the_apiserver_writes_an_audit_event_for_each_stage_of_each_request_its_policy_matches(ns, cluster, timeouts):
    """With an audit policy, the API server writes audit events for each request stage: a request the policy
    logs at Metadata level leaves a RequestReceived event and then a ResponseComplete event (same auditID, the
    verb, the requesting user, the response code); a request the policy sets to None leaves none."""
    with step("Given a kube-apiserver with an audit policy and a log file backend"):
        path = apiserver.audit_log_path(cluster)
        if path is None:
            pytest.skip("the kube-apiserver has no audit log: its static pod lacks --audit-policy-file and "
                        "--audit-log-path (a log file), as the kind configs in manifests/cluster/ set them")
        me = auth.whoami(cluster.api).username
    with step(f"When {NOT_AUDITED} (policy level None) and then {AUDITED} (level Metadata) are created by "
              "server-side apply, read and updated"):
        ignored = _requests(cluster, ns.name, NOT_AUDITED)
        sent = _requests(cluster, ns.name, AUDITED)
        assert {v: s for v, (s, _) in sent.items()} == {"patch": 201, "get": 200, "update": 200}, sent
        assert all(audit_id for _, audit_id in sent.values()), f"no Audit-Id response header: {sent}"
        assert {v: s for v, (s, _) in ignored.items()} == {"patch": 201, "get": 200, "update": 200}, ignored
    with step(f"Then the audit log holds RequestReceived then ResponseComplete for each request on {AUDITED}"):
        def complete(events) -> bool:
            return {(e.audit_id, e.stage) for e in events} >= {(i, "ResponseComplete") for _, i in sent.values()}

        events = eventually(lambda: apiserver.audit_events(cluster, path, ns.name, AUDITED), until=complete,
                            timeout=timeouts.apply, desc=f"ResponseComplete audit events for {AUDITED} in {path}")
        seen = {}
        for verb, (status, audit_id) in sent.items():
            mine = [e for e in events if e.audit_id == audit_id]
            seen[verb] = [(e.stage, e.code) for e in mine]
            assert [e.stage for e in mine] == ["RequestReceived", "ResponseComplete"], f"{verb}: {mine}"
            received, completed = mine
            assert received.at <= completed.at, f"{verb}: stages out of time order: {mine}"
            assert {e.verb for e in mine} == {verb} and {e.user for e in mine} == {me}, f"{verb}: {mine}"
            assert {e.level for e in mine} == {"Metadata"}, f"{verb}: {mine}"
            assert (received.code, completed.code) == (None, status), f"{verb}: {mine}"
        assert {e.audit_id for e in events} == {i for _, i in sent.values()}, (
            f"events of requests the test did not send: {events}")
        attach_text("audit events (verb: [stage, code])", json.dumps(seen, indent=1), "json")
    with step(f"And none for the requests on {NOT_AUDITED}, written before them"):
        assert apiserver.audit_events(cluster, path, ns.name, NOT_AUDITED) == []
