"""What each control-plane component does, observed on one pod's path: the API server stores and answers
at once, the controllers create the ReplicaSet and pods asynchronously, the scheduler binds (spec.nodeName
through pods/binding), the kubelet starts the containers and reports the node IP.

Source: seed 002 «基本» (Master bullets), «核心组件的协作流程», «资源创建流程». Upstream:
https://kubernetes.io/docs/concepts/overview/components/
"""
import pytest
from kubernetes import client

from fixtures import api_calls
from fixtures.manifests import render
from fixtures.nodes import workers
from fixtures.pods import events_of, is_ready, view, views, wait_pod
from fixtures.polling import consistently, eventually
from fixtures.reporting import step
from fixtures.workloads import replicasets

pytestmark = [pytest.mark.area("control-plane"), pytest.mark.requires(images=["agnhost"])]

NO_SCHEDULER = "kubeproof-nobody"  # a schedulerName no scheduler serves: the pod waits for a manual binding


@pytest.fixture(scope="module")
def created_deployment(module_ns, cluster, timeouts):
    """Given a Deployment `web` (2 replicas) POSTed directly: the API server's answer, then the rolled-out objects."""
    body = render("control_plane/lifecycle/deployment.yaml", name="web", replicas=2, image_agnhost=module_ns.images["agnhost"])[0]
    answer = cluster.apps.create_namespaced_deployment(module_ns.name, body)
    eventually(lambda: [p for p in views(cluster, module_ns.name, "app=web") if is_ready(p)], until=lambda ps: len(ps) == 2,
               timeout=timeouts.pod_start, desc="2 web pods ready")
    return answer


@pytest.mark.claim("S002-063")
def test_creating_a_deployment_returns_at_once_and_its_replica_set_appears_afterwards(created_deployment, module_ns, cluster):
    """The API server answers a POST once the object is stored: the 201 carries no status (no controller has
    seen it), and the ReplicaSet and pods are created later by controllers watching it."""
    with step("Then the create response has an empty status: nothing had acted on it yet"):
        st = created_deployment.status
        assert st.observed_generation is None and not st.replicas and not st.conditions, st
    with step("And the ReplicaSet was created after the Deployment, by the controller"):
        rs = cluster.apps.list_namespaced_replica_set(module_ns.name, label_selector="app=web").items
        assert len(rs) == 1 and rs[0].metadata.creation_timestamp >= created_deployment.metadata.creation_timestamp
        assert [f.manager for f in rs[0].metadata.managed_fields][0] == "kube-controller-manager", rs[0].metadata.managed_fields


@pytest.mark.claim("S002-015")
def test_a_deployment_owns_its_replica_set_which_owns_pods_that_the_scheduler_binds_and_the_kubelet_runs(
        created_deployment, module_ns, cluster):
    """Deployment -> ReplicaSet (controller ownerReference) -> Pod (ownerReference to the RS); the scheduler sets
    spec.nodeName, the kubelet fills hostIP, podIP and container states."""
    rs = cluster.apps.list_namespaced_replica_set(module_ns.name, label_selector="app=web").items[0]
    with step("Then the ReplicaSet's controller is the Deployment"):
        owner = rs.metadata.owner_references[0]
        assert (owner.kind, owner.uid, owner.controller) == ("Deployment", created_deployment.metadata.uid, True), owner
    with step("And each pod's controller is the ReplicaSet, and each is bound, scheduled and running"):
        for pod in cluster.core.list_namespaced_pod(module_ns.name, label_selector="app=web").items:
            o = pod.metadata.owner_references[0]
            assert (o.kind, o.uid, o.controller) == ("ReplicaSet", rs.metadata.uid, True), o
            p = view(cluster, module_ns.name, pod.metadata.name)
            assert p.node and p.condition("PodScheduled") == "True" and p.phase == "Running", p
            assert p.host_ip and p.ip and p.containers["app"].running, p


@pytest.mark.claim("S002-015")
def test_a_bound_pods_node_cannot_be_changed(created_deployment, module_ns, cluster):
    """Binding is one-way: spec.nodeName of a bound pod is immutable (422), and a second binding is refused (409)."""
    pod = cluster.core.list_namespaced_pod(module_ns.name, label_selector="app=web").items[0]
    other = next(n for n in workers(cluster) + ["kubeproof-nowhere"] if n != pod.spec.node_name)
    with step(f"When {pod.metadata.name} on {pod.spec.node_name} is patched to {other}, then bound to it"):
        patched = api_calls.answer_of(lambda: cluster.core.patch_namespaced_pod(
            pod.metadata.name, module_ns.name, {"spec": {"nodeName": other}}))
        rebound = api_calls.bind(cluster, module_ns.name, pod.metadata.name, other)
    with step("Then both are refused and the pod stays where it is"):
        assert patched.status == 422, patched
        assert rebound.status == 409, rebound
        assert cluster.core.read_namespaced_pod(pod.metadata.name, module_ns.name).spec.node_name == pod.spec.node_name


@pytest.mark.claim("S002-007")
def test_the_replica_set_controller_replaces_a_deleted_pod(created_deployment, module_ns, cluster, timeouts):
    """kube-controller-manager reconciles actual with desired state: a deleted pod of a ReplicaSet is replaced
    by a new pod (new UID); the controller manager holding the kube-system/kube-controller-manager Lease does it."""
    before = {p.name: p.uid for p in views(cluster, module_ns.name, "app=web")}
    victim = sorted(before)[0]
    with step(f"When pod {victim} is deleted"):
        cluster.core.delete_namespaced_pod(victim, module_ns.name, grace_period_seconds=0)
    with step("Then a replacement with a new UID brings the ready count back to 2"):
        after = eventually(lambda: {p.name: p.uid for p in views(cluster, module_ns.name, "app=web") if is_ready(p)},
                           until=lambda m: len(m) == 2 and victim not in m, timeout=timeouts.pod_start,
                           desc="replacement pod ready")
        new = set(after.values()) - set(before.values())
        assert len(new) == 1, (before, after)
    with step("And the controller manager that did it holds the kube-controller-manager Lease"):
        lease = client.CoordinationV1Api(cluster.api).read_namespaced_lease("kube-controller-manager", "kube-system")
        holder = lease.spec.holder_identity or ""
        kcm = cluster.core.list_namespaced_pod("kube-system", label_selector="component=kube-controller-manager").items
        assert any(holder.startswith(f"{p.spec.node_name}_") for p in kcm), (holder, [p.metadata.name for p in kcm])
        rs_name = replicasets(cluster, module_ns.name, "app=web")[0]["name"]
        replacement = next(n for n, u in after.items() if u in new)
        assert cluster.core.read_namespaced_pod(replacement, module_ns.name).metadata.owner_references[0].name == rs_name


@pytest.mark.claim("S002-005")
def test_a_pod_without_node_name_is_bound_by_the_default_scheduler_then_started_by_the_kubelet(ns, cluster, timeouts):
    """The scheduler watches for unbound pods and binds each to a node: spec.nodeName set, PodScheduled=True, a
    Scheduled event from default-scheduler; then the kubelet's Pulled/Created/Started events follow, in order.
    A pod naming a scheduler that does not exist is never bound (control)."""
    with step("Given a pod for the default scheduler and one for a scheduler nobody runs"):
        ns.apply("control_plane/lifecycle/pod.yaml", name="default", scheduler="default-scheduler")
        ns.apply("control_plane/lifecycle/pod.yaml", name="orphan", scheduler=NO_SCHEDULER)
    with step("Then the default scheduler binds the first one, and the kubelet runs it"):
        p = wait_pod(cluster, ns.name, "default", is_ready, timeouts)
        assert p.node and p.condition("PodScheduled") == "True", p
    with step("And the events tell the path: Scheduled by default-scheduler, then the kubelet's Pulled, Created, Started"):
        # event timestamps are second-granular: order by the order the API server stored them (resourceVersion,
        # numeric on etcd); each component posts its events sequentially
        events = sorted(events_of(cluster, ns.name, "default"), key=lambda e: int(e.metadata.resource_version))
        by_reason = {e.reason: e for e in events}
        sched = by_reason.get("Scheduled")
        assert sched and (sched.reporting_component or sched.source.component) == "default-scheduler", events
        assert p.node in sched.message, sched.message
        path = [e.reason for e in events if e.reason in ("Scheduled", "Pulled", "Created", "Started")]
        assert path == ["Scheduled", "Pulled", "Created", "Started"], path
        assert all((by_reason[r].reporting_component or by_reason[r].source.component) == "kubelet"
                   for r in ("Pulled", "Created", "Started")), events
    with step("And the pod for the missing scheduler stays unbound with no Scheduled event"):
        consistently(lambda: view(cluster, ns.name, "orphan"), holds=lambda o: o.node is None and o.phase == "Pending",
                     duration=timeouts.short_hold, desc="orphan pod unbound")
        assert "Scheduled" not in [e.reason for e in events_of(cluster, ns.name, "orphan")]


@pytest.mark.claim("S002-064")
@pytest.mark.requires(multinode=True)
def test_binding_sets_the_node_name_and_the_kubelet_reports_the_node_ip(ns, cluster, timeouts):
    """Claim: the Bind API binds the scheduled node's IP to the pod. Wrong: a Binding sets spec.nodeName (a
    name); the node's IP appears later in status.hostIP, written by that node's kubelet."""
    node = workers(cluster)[-1]
    with step("Given a pod no scheduler will bind"):
        ns.apply("control_plane/lifecycle/pod.yaml", name="manual", scheduler=NO_SCHEDULER)
        assert view(cluster, ns.name, "manual").node is None
    with step(f"When it is bound to {node} through pods/binding, as a scheduler does"):
        answer = api_calls.bind(cluster, ns.name, "manual", node)
        assert answer.status == 201, answer
    with step("Then spec.nodeName is the node's name"):
        assert cluster.core.read_namespaced_pod("manual", ns.name).spec.node_name == node
    with step("And the kubelet starts it and reports the node's InternalIP as hostIP"):
        p = wait_pod(cluster, ns.name, "manual", is_ready, timeouts)
        internal = next(a.address for a in cluster.core.read_node(node).status.addresses if a.type == "InternalIP")
        assert p.host_ip == internal and p.node == node, p
