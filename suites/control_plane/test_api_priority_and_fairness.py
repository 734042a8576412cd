"""API server rate limiting: API Priority and Fairness (GA 1.29) splits the server's in-flight concurrency
(--max-requests-inflight 400 + --max-mutating-requests-inflight 200) among priority levels chosen by
FlowSchemas; a priority level with tiny concurrency and `Reject` answers 429 under load.

Source: seed 000, 2021-02-22~28 › k8s api server 限流; seed 002 «流程» (限速). Upstream:
https://kubernetes.io/docs/concepts/cluster-administration/flow-control/
"""
import secrets

import pytest
from kubernetes import client

from fixtures import apiserver, auth
from fixtures.polling import eventually
from fixtures.reporting import step

# the 429 test adds a priority level, which re-splits the seats the 600-seat test adds up: never side by side
pytestmark = [pytest.mark.area("control-plane"), pytest.mark.xdist_group("control-plane-apf")]

MANDATORY_SCHEMAS = {"exempt", "catch-all"}
# the document-era workload-leader-election schema is no longer among the suggested ones
SUGGESTED_SCHEMAS = {"system-leader-election", "system-nodes", "kube-controller-manager", "kube-scheduler", "global-default"}
# requests released together: far above the test level's 3 seats, small enough for one process
BURST = 40


@pytest.mark.claim("S002-020")
def test_every_response_names_its_flow_schema_and_priority_level(cluster):
    """APF is active: every response carries X-Kubernetes-PF-FlowSchema-UID and -PriorityLevel-UID naming
    live objects; the mandatory (exempt, catch-all) and suggested FlowSchemas exist (system-leader-election,
    system-nodes, global-default...; workload-leader-election, listed in older notes, is gone)."""
    fc = client.FlowcontrolApiserverV1Api(cluster.api)
    with step("Given the FlowSchemas and PriorityLevelConfigurations the API server maintains"):
        schemas = {s.metadata.uid: s.metadata.name for s in fc.list_flow_schema().items}
        levels = {p.metadata.uid: p.metadata.name for p in fc.list_priority_level_configuration().items}
        assert MANDATORY_SCHEMAS | SUGGESTED_SCHEMAS <= set(schemas.values()), sorted(schemas.values())
    with step("When a plain GET is made"):
        answer = apiserver.get(cluster.api, "/api")
    with step("Then its response names the flow schema and priority level that classified it"):
        fs, pl = answer.headers.get("x-kubernetes-pf-flowschema-uid"), answer.headers.get("x-kubernetes-pf-prioritylevel-uid")
        assert fs in schemas and pl in levels, f"headers {answer.headers}"


@pytest.mark.claim("S002-020")
def test_the_servers_concurrency_is_600_in_flight_seats_split_among_priority_levels(cluster):
    """Claim: the API server limits reads to 400/s and writes to 200/s. Wrong unit: --max-requests-inflight (400)
    and --max-mutating-requests-inflight (200) are concurrency limits, not rates; with APF their sum (600 seats)
    is split among the priority levels by their nominal shares."""
    with step("Given the API server's flags (the defaults apply when unset)"):
        flags = apiserver.static_pod_flags(cluster, "kube-apiserver")
        reads = int(flags.get("--max-requests-inflight", 400))
        writes = int(flags.get("--max-mutating-requests-inflight", 200))
    with step("Then the nominal seats of all limited priority levels add up to their sum"):
        seats = apiserver.metric_samples(apiserver.metrics(cluster), "apiserver_flowcontrol_nominal_limit_seats")
        # the gauge of a deleted level lingers: count the levels that exist
        live = {p.metadata.name for p in client.FlowcontrolApiserverV1Api(cluster.api).list_priority_level_configuration().items}
        limited = {labels["priority_level"]: value for labels, value in seats
                   if labels.get("priority_level") in live - {"exempt"}}
        assert limited and reads + writes <= sum(limited.values()) <= reads + writes + len(limited), (
            f"{reads}+{writes} in flight vs nominal seats {limited}")


@pytest.mark.claim("S000-57")
@pytest.mark.requires(min_version="1.29")
def test_a_tiny_priority_level_rejects_a_burst_with_429_while_single_requests_pass(ns, cluster, cluster_objects, timeouts):
    """A custom PriorityLevelConfiguration with the smallest share (3 seats, no borrowing, limitResponse Reject)
    matched by a FlowSchema for the test's own ServiceAccount only: single requests pass, a burst of concurrent
    requests is partly refused with 429. (EventRateLimit is alpha and off; client-side QPS is client-go's own.)"""
    level = f"kp-tiny-{secrets.token_hex(3)}"
    fc = client.FlowcontrolApiserverV1Api(cluster.api)
    with step("Given a ServiceAccount allowed to read its namespace, and its token"):
        ns.apply("control_plane/tokens/service-account.yaml", name="hammer")
        ns.apply("control_plane/rbac/binding.yaml", name="hammer-view", role_kind="ClusterRole", role="view",
                 **auth.subject("ServiceAccount", "hammer"))
        token = auth.request_token(cluster, ns.name, "hammer")
    with step(f"And priority level {level} (1 share, Reject) with a FlowSchema matching only that ServiceAccount"):
        ns.apply("control_plane/apf/priority-level.yaml", name=level)
        cluster_objects.track("flowcontrol.apiserver.k8s.io/v1", "PriorityLevelConfiguration", level)
        ns.apply("control_plane/apf/flow-schema.yaml", name=level, service_account="hammer")
        cluster_objects.track("flowcontrol.apiserver.k8s.io/v1", "FlowSchema", level)
        level_uid = fc.read_priority_level_configuration(level).metadata.uid
    path = f"/api/v1/namespaces/{ns.name}/configmaps"
    with step("Then a single request of that ServiceAccount is served, classified into the tiny level (control)"):
        single = eventually(lambda: apiserver.burst(cluster, path, token, 1)[0],
                            until=lambda r: r[0] == 200 and r[1].get("x-kubernetes-pf-prioritylevel-uid") == level_uid,
                            timeout=timeouts.apply, desc="requests classified into the test level")
        assert single[0] == 200
    with step(f"When {BURST} requests arrive at once"):
        answers = eventually(lambda: apiserver.burst(cluster, path, token, BURST),
                             until=lambda rs: any(s == 429 for s, _ in rs), timeout=timeouts.apply,
                             desc="a burst meets the 3-seat limit")
    with step("Then some are refused with 429 by that priority level, and the rest are served"):
        codes = sorted({s for s, _ in answers})
        assert set(codes) <= {200, 429} and 200 in codes, codes
        refused = [h for s, h in answers if s == 429]
        assert all(h.get("x-kubernetes-pf-prioritylevel-uid") == level_uid for h in refused), refused[:1]
    with step("And the API server runs without the EventRateLimit admission plugin (alpha, off by default)"):
        plugins = apiserver.static_pod_flags(cluster, "kube-apiserver").get("--enable-admission-plugins", "")
        assert "EventRateLimit" not in plugins, plugins
