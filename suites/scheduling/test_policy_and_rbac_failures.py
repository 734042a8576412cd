"""Security policy and RBAC are not container-creation failures (seed 003 「容器创建失败」: 「违反集群的
安全策略，比如违反了 PodSecurityPolicy」, 「容器无权操作集群内的资源…需要为 ServiceAccount 配置角色绑定」).

PodSecurityPolicy was removed in 1.25; its successor Pod Security Admission refuses the API request:
no pod exists, a controller reports FailedCreate. Missing RBAC never stops a container: the pod runs,
its API calls get 403. This module's namespaces enforce the baseline Pod Security level.
Source: kubernetes.io/docs/concepts/security/pod-security-admission/, /docs/reference/access-authn-authz/rbac/
"""
import pytest
from kubernetes.client import ApiException

from fixtures.podexec import exec_in
from fixtures.pods import event_reasons, events_of, is_ready, views, wait_pod
from fixtures.polling import eventually
from fixtures.reporting import step
from fixtures.workloads import replicasets

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.requires(images=["agnhost"])]

TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


@pytest.fixture
def ns_labels() -> dict[str, str]:
    return {"pod-security.kubernetes.io/enforce": "baseline"}


@pytest.mark.claim("S003-044")
def test_pod_security_violation_refuses_the_pod_at_the_api_and_the_replicaset_reports_failed_create(ns, cluster, timeouts):
    """In a namespace enforcing baseline, a privileged pod is refused by the API (403, "violates
    PodSecurity"): no pod object exists; a Deployment of such pods gets a ReplicaSet with FailedCreate
    events and no pod, while the same Deployment unprivileged (the negative control) runs."""
    with step("When a privileged pod is created"):
        with pytest.raises(ApiException) as refused:
            ns.apply("scheduling/pod-failures/pod-privileged.yaml", name="bare")
    with step("Then the API refuses it for PodSecurity, and no pod exists"):
        body = str(refused.value.body)
        assert refused.value.status == 403 and "violates PodSecurity" in body, body
        assert views(cluster, ns.name) == []
    with step("When a Deployment of privileged pods and an unprivileged twin are created"):
        ns.apply("scheduling/pod-failures/deployment-privileged.yaml", name="privileged", privileged=True)
        ns.apply("scheduling/pod-failures/deployment-privileged.yaml", name="plain", privileged=False)
    with step("Then the privileged one's ReplicaSet reports FailedCreate naming PodSecurity, and has no pod"):
        rs = eventually(lambda: replicasets(cluster, ns.name, "app=privileged"), until=lambda r: len(r) == 1,
                        timeout=timeouts.controller_sync, desc="the privileged Deployment's ReplicaSet")[0]
        name = rs["name"]
        eventually(lambda: [e.message or "" for e in events_of(cluster, ns.name, name, kind="ReplicaSet")
                            if e.reason == "FailedCreate"],
                   until=lambda ms: any("violates PodSecurity" in m for m in ms), timeout=timeouts.controller_sync,
                   desc="FailedCreate naming PodSecurity")
        assert views(cluster, ns.name, "app=privileged") == []
    with step("And the unprivileged twin runs"):
        eventually(lambda: [p for p in views(cluster, ns.name, "app=plain") if is_ready(p)], until=lambda ps: len(ps) == 1,
                   timeout=timeouts.pod_start, desc="unprivileged replica ready")


@pytest.mark.claim("S003-045")
def test_missing_rbac_lets_the_pod_run_and_its_api_calls_get_403(ns, cluster, timeouts):
    """A pod whose ServiceAccount has no role runs normally; its call to list pods is refused with 403
    while a call every authenticated client may make (/version) succeeds with the same token."""
    with step("Given a pod running as the namespace's default ServiceAccount (no role bound)"):
        ns.apply("scheduling/pod-failures/pod-api-client.yaml", name="client")
        wait_pod(cluster, ns.name, "client", is_ready, timeouts)
        assert "Started" in event_reasons(cluster, ns.name, "client")

    def call(path):
        cmd = (f'curl -sk -o /dev/null -w "%{{http_code}}" -H "Authorization: Bearer $(cat {TOKEN})" '
               f'"https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT{path}"')
        return exec_in(cluster, ns.name, "client", "app", ["sh", "-c", cmd]).stdout.strip()

    with step("When it calls the API with its token: GET /version (the negative control), then list its namespace's pods"):
        version, pods = call("/version"), call(f"/api/v1/namespaces/{ns.name}/pods")
    with step("Then /version answers 200 and listing pods is forbidden (403): RBAC bites at run time"):
        assert (version, pods) == ("200", "403"), f"/version {version}, pods {pods}"


@pytest.mark.claim("S003-032")
def test_resource_quota_refuses_pods_at_admission_not_at_scheduling(ns, cluster, timeouts):
    """A ResourceQuota is enforced when a pod is created, not by the scheduler: beyond `pods: 2` a
    create is refused with 403 "exceeded quota" and no pod object exists; with requests.cpu quota'd a
    pod without a CPU request is refused ("must specify"); a Deployment of 3 gets 2 pods and its
    ReplicaSet reports FailedCreate and the ReplicaFailure condition."""
    with step("Given a quota of 2 pods that also limits requests.cpu"):
        ns.apply("scheduling/pod-failures/quota.yaml", name="quota", pods=2)
        eventually(lambda: cluster.core.read_namespaced_resource_quota("quota", ns.name).status.hard,
                   until=bool, timeout=timeouts.controller_sync, desc="quota status computed")
    with step("Then a pod without a CPU request is refused at creation"):
        with pytest.raises(ApiException) as refused:
            ns.apply("scheduling/pod-failures/pod-api-client.yaml", name="no-request")
        assert refused.value.status == 403 and "must specify" in str(refused.value.body), refused.value.body
    with step("When a Deployment of 3 replicas (each requesting CPU) is created"):
        ns.apply("scheduling/pod-failures/deployment-cpu-request.yaml", name="capped", replicas=3)
    with step("Then only 2 pods are created, and its ReplicaSet reports FailedCreate: exceeded quota"):
        eventually(lambda: views(cluster, ns.name, "app=capped"), until=lambda ps: len(ps) == 2,
                   timeout=timeouts.controller_sync, desc="2 pods created")
        rs = replicasets(cluster, ns.name, "app=capped")[0]["name"]
        eventually(lambda: [e.message or "" for e in events_of(cluster, ns.name, rs, kind="ReplicaSet")
                            if e.reason == "FailedCreate"],
                   until=lambda ms: any("exceeded quota" in m for m in ms), timeout=timeouts.controller_sync,
                   desc="FailedCreate: exceeded quota")
        conditions = {c.type: c.status for c in cluster.apps.read_namespaced_replica_set(rs, ns.name).status.conditions or []}
        assert conditions.get("ReplicaFailure") == "True", conditions
    with step("And a third pod created directly is refused with 403 exceeded quota, leaving no object"):
        with pytest.raises(ApiException) as refused:
            ns.apply("scheduling/pod-failures/pod-cpu-request.yaml", name="third")
        assert refused.value.status == 403 and "exceeded quota" in str(refused.value.body), refused.value.body
        assert [p.name for p in views(cluster, ns.name) if p.name == "third"] == []
