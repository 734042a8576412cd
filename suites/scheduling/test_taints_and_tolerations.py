"""Taints and tolerations: NoSchedule blocks, PreferNoSchedule steers, NoExecute evicts (after
tolerationSeconds when tolerated for a while); a preset spec.nodeName bypasses the scheduler.

Seed 002 「调度策略」 (PodToleratesNodeTaints, PodFitsHost) and 「常见的调度方式」 (Taint/Toleration);
seed 003 「调度失败」 (节点存在污点, 没有可用节点). Every test here taints or cordons workers, so it is
disruptive: it first asserts every node is at rest (Ready, uncordoned, untainted), and restores and
re-checks that state at the end. Evicted pods carry a test finalizer so their end can be read.
Source: kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/; taint-eviction
controller (pkg/controller/tainteviction); DisruptionTarget condition GA in 1.31.
"""
import time

import pytest

from fixtures.nodes import cordoned, pristine_workers, tainted
from fixtures.pods import (HOLD_FINALIZER, held, is_bound, phase_is, scheduler_events, unschedulable_because, view,
                           views, wait_pod)
from fixtures.polling import consistently, eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.disruptive,
              pytest.mark.requires(images=["agnhost"], multinode=True)]

KEY = "kubeproof.io/dedicated"
TOLERATION_SECONDS = 6  # behaviour parameter: long enough to tell "at once" from "after N s"


@pytest.mark.claim("S002-037", "S003-035")
def test_no_schedule_taint_keeps_pods_without_a_matching_toleration_off_the_node(ns, cluster, timeouts):
    """With every worker tainted dedicated=test:NoSchedule, a pod without toleration stays Pending
    ("untolerated taint"); pods tolerating it with operator Equal (key, value, effect) or Exists are
    scheduled; once the taint is gone the intolerant pod schedules too."""
    nodes = pristine_workers(cluster, settle=timeouts.controller_sync)
    with tainted(cluster, nodes, KEY, "test", "NoSchedule"):
        with step(f"Given every worker tainted {KEY}=test:NoSchedule"):
            pass
        with step("When a plain pod, an Equal-tolerating pod and an Exists-tolerating pod are created"):
            ns.apply("scheduling/taints/pod-any-node.yaml", name="plain", app="plain")
            ns.apply("scheduling/taints/pod-tolerating-any-node.yaml", name="equal", app="equal",
                     key=KEY, value="test", effect="NoSchedule")
            ns.apply("scheduling/taints/pod-tolerating-exists.yaml", name="exists", app="exists", key=KEY)
        with step("Then the plain pod is Unschedulable for an untolerated taint"):
            wait_pod(cluster, ns.name, "plain", unschedulable_because("untolerated taint"), timeouts)
        with step("And both tolerating pods are scheduled onto a tainted worker and run"):
            for name in ("equal", "exists"):
                assert wait_pod(cluster, ns.name, name, phase_is("Running"), timeouts).node in nodes
        with step("And the plain pod stays Pending while the taint is there"):
            consistently(lambda: view(cluster, ns.name, "plain"), holds=lambda p: p.node is None,
                         duration=timeouts.short_hold, desc="plain pod unbound")
    with step("When the taint is removed, the plain pod (the negative control) schedules"):
        wait_pod(cluster, ns.name, "plain", is_bound, timeouts)
    with step("And every node is back at rest"):
        pristine_workers(cluster, settle=timeouts.controller_sync)


@pytest.mark.claim("S003-035", "S002-045")
def test_prefer_no_schedule_taint_only_steers_pods_away(ns, cluster, timeouts):
    """PreferNoSchedule is soft: with one worker tainted, intolerant pods go to the other worker;
    with every worker tainted, an intolerant pod is still scheduled."""
    nodes = pristine_workers(cluster, settle=timeouts.controller_sync)
    avoided, other = nodes[0], nodes[1]
    with tainted(cluster, [avoided], KEY, "soft", "PreferNoSchedule"):
        with step(f"Given {avoided} tainted {KEY}=soft:PreferNoSchedule"):
            pass
        with step("When three intolerant pods are created"):
            for i in range(3):
                ns.apply("scheduling/taints/pod-any-node.yaml", name=f"steered-{i}", app="steered")
        with step(f"Then all three are placed on {other}"):
            ps = eventually(lambda: views(cluster, ns.name, "app=steered"),
                            until=lambda ps: len(ps) == 3 and all(p.node for p in ps),
                            timeout=timeouts.pod_start, desc="steered pods bound")
            assert {p.node for p in ps} == {other}, f"PreferNoSchedule did not steer: {[(p.name, p.node) for p in ps]}"
        with tainted(cluster, [other], KEY, "soft", "PreferNoSchedule"):
            with step("When every worker carries the PreferNoSchedule taint, an intolerant pod is still scheduled"):
                ns.apply("scheduling/taints/pod-any-node.yaml", name="anyway", app="anyway")
                assert wait_pod(cluster, ns.name, "anyway", phase_is("Running"), timeouts).node in nodes
    with step("And every node is back at rest"):
        pristine_workers(cluster, settle=timeouts.controller_sync)


def _ends(cluster, namespace: str, names: list[str]) -> dict[str, tuple[bool, str | None]]:
    """name -> (deletion begun?, DisruptionTarget reason) for each pod."""
    out = {}
    for name in names:
        p = view(cluster, namespace, name)
        c = p.conditions.get("DisruptionTarget")
        out[name] = (p.deleting, c[1] if c and c[0] == "True" else None)
    return out


@pytest.mark.claim("S002-045")
def test_no_execute_taint_evicts_intolerant_pods_at_once_and_timed_tolerations_after_their_seconds(ns, cluster, timeouts):
    """A NoExecute taint evicts running pods that do not tolerate it at once (DisruptionTarget,
    reason DeletionByTaintManager); a pod tolerating it with tolerationSeconds: N is evicted N s after
    the taint; a pod tolerating it without tolerationSeconds keeps running."""
    node = pristine_workers(cluster, settle=timeouts.controller_sync)[0]
    names = ["intolerant", "timed", "forever"]
    with held(cluster, ns.name, "app=evictee"):
        with step(f"Given three running pods on {node}: intolerant, tolerating for {TOLERATION_SECONDS} s, tolerating forever"):
            ns.apply("scheduling/taints/pod-plain.yaml", name="intolerant", app="evictee", node=node,
                     finalizer=HOLD_FINALIZER)
            ns.apply("scheduling/taints/pod-toleration-seconds.yaml", name="timed", app="evictee", node=node,
                     key=KEY, seconds=TOLERATION_SECONDS, finalizer=HOLD_FINALIZER)
            ns.apply("scheduling/taints/pod-tolerating.yaml", name="forever", app="evictee", node=node,
                     key=KEY, value="evict", effect="NoExecute", finalizer=HOLD_FINALIZER)
            for name in names:
                wait_pod(cluster, ns.name, name, phase_is("Running"), timeouts)
        with tainted(cluster, [node], KEY, "evict", "NoExecute"):
            t0 = time.monotonic()
            with step(f"When {node} is tainted {KEY}=evict:NoExecute"):
                pass
            with step("Then the intolerant pod is evicted at once by the taint manager"):
                eventually(lambda: _ends(cluster, ns.name, names)["intolerant"], until=lambda e: e[0],
                           timeout=timeouts.controller_sync, desc="intolerant pod evicted")
                t_intolerant = time.monotonic() - t0
                assert t_intolerant < TOLERATION_SECONDS - 2, f"intolerant pod evicted only after {t_intolerant:.1f}s"
                assert _ends(cluster, ns.name, names)["intolerant"][1] == "DeletionByTaintManager"
            with step(f"And the timed pod is evicted {TOLERATION_SECONDS} s after the taint"):
                eventually(lambda: _ends(cluster, ns.name, names)["timed"], until=lambda e: e[0],
                           timeout=TOLERATION_SECONDS + timeouts.controller_sync, desc="timed pod evicted")
                t_timed = time.monotonic() - t0
                # the taint's timeAdded is second-granular: the deadline may come up to 1 s early
                assert TOLERATION_SECONDS - 1 <= t_timed <= TOLERATION_SECONDS + 3, (
                    f"tolerationSeconds {TOLERATION_SECONDS}: evicted after {t_timed:.1f}s")
                assert _ends(cluster, ns.name, names)["timed"][1] == "DeletionByTaintManager"
            with step("And the pod tolerating it forever keeps running"):
                consistently(lambda: view(cluster, ns.name, "forever"), holds=lambda p: p.phase == "Running" and not p.deleting,
                             duration=timeouts.short_hold, desc="forever-tolerating pod running")
    with step("And every node is back at rest"):
        pristine_workers(cluster, settle=timeouts.controller_sync)


@pytest.mark.claim("S002-032")
def test_pod_with_preset_node_name_runs_on_a_cordoned_no_schedule_node_but_no_execute_evicts_it(ns, cluster, timeouts):
    """A pod with spec.nodeName preset never passes through the scheduler (no Scheduled event): the
    kubelet runs it although the node is cordoned and tainted NoSchedule, where a scheduled twin stays
    Pending; a NoExecute taint still evicts it."""
    node = pristine_workers(cluster, settle=timeouts.controller_sync)[0]
    with held(cluster, ns.name, "app=preset"), cordoned(cluster, node), tainted(cluster, [node], KEY, "x", "NoSchedule"):
        with step(f"Given {node} cordoned and tainted {KEY}=x:NoSchedule"):
            pass
        with step(f"When a pod with nodeName {node} and a twin with nodeSelector {node} are created"):
            ns.apply("scheduling/taints/pod-node-name.yaml", name="preset", app="preset", node=node,
                     finalizer=HOLD_FINALIZER)
            ns.apply("scheduling/affinity/pod-on-node.yaml", name="twin", node=node)
        with step("Then the preset pod runs there"):
            wait_pod(cluster, ns.name, "preset", phase_is("Running"), timeouts)
        with step("And the scheduled twin (the negative control) is refused by the scheduler"):
            wait_pod(cluster, ns.name, "twin", unschedulable_because(), timeouts)
        with step("And no scheduler ever reported on the preset pod"):
            assert scheduler_events(cluster, ns.name, "preset") == []
        with tainted(cluster, [node], KEY, "x", "NoExecute"):
            with step(f"When {node} is also tainted {KEY}=x:NoExecute, the preset pod is evicted"):
                p = wait_pod(cluster, ns.name, "preset", lambda p: p.deleting, timeouts, budget="controller_sync",
                             desc="preset pod evicted")
                assert p.conditions.get("DisruptionTarget", ("", None))[1] == "DeletionByTaintManager", p.conditions
    with step("And every node is back at rest"):
        pristine_workers(cluster, settle=timeouts.controller_sync)


@pytest.mark.claim("S003-036")
def test_pod_stays_pending_while_every_node_is_cordoned_and_schedules_when_one_is_uncordoned(ns, cluster, timeouts):
    """With every worker cordoned (and the control plane tainted), no node is available: a new pod
    stays Pending, the message naming unschedulable nodes; uncordoning lets it schedule."""
    nodes = pristine_workers(cluster, settle=timeouts.controller_sync)
    with cordoned(cluster, nodes[0]):
        with cordoned(cluster, nodes[1]):
            with step("Given every worker cordoned"):
                pass
            with step("When a plain pod is created"):
                ns.apply("scheduling/taints/pod-any-node.yaml", name="homeless", app="homeless")
            with step("Then it is Unschedulable: the nodes 'were unschedulable'"):
                wait_pod(cluster, ns.name, "homeless", unschedulable_because("were unschedulable"), timeouts)
        with step(f"When {nodes[1]} is uncordoned, the pod (the negative control) is scheduled there"):
            assert wait_pod(cluster, ns.name, "homeless", is_bound, timeouts).node == nodes[1]
    with step("And every node is back at rest"):
        pristine_workers(cluster, settle=timeouts.controller_sync)
