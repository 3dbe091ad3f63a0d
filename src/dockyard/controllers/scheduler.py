"""The scheduler: binds pending pods to nodes, or says why it cannot.

Binding is what Kubernetes' binding subresource does: an ``ObjectUpdated`` that sets
``spec.nodeName``, plus a ``Scheduled`` event. A pod that fits nowhere gets the condition
``PodScheduled=False`` reason ``Unschedulable`` with the ``FailedScheduling`` message (and one
warning event per new message); it is retried when nodes change or pods leave a node, and
after a back-off. Pods are taken from the queue in batches; each batch is scheduled one pod
after the other against per-node running totals that count the batch's own bindings, and
written in one transaction with one append for all its bindings (``update_many_in``).

:func:`schedule_fast` is ``scheduler_plan.schedule`` with the bound pods summed up per node
(:class:`NodeUsage`), so a decision costs O(nodes) instead of O(nodes × all pods); the unit
tests check it decides exactly as ``schedule`` does.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection

from dockyard.controllers import convert
from dockyard.controllers.context import ControllerContext, controller_actor
from dockyard.controllers.runtime import Change, Key
from dockyard.controllers.scheduler_plan import (
    DEFAULT_MEMORY_REQUEST,
    DEFAULT_MILLI_CPU_REQUEST,
    MAX_NODE_SCORE,
    Binding,
    NodeUsage,
    NodeView,
    Unschedulable,
    failed_scheduling_message,
    filter_node_usage,
    least_allocated_score,
)
from dockyard.controllers.views import Event, PodView
from dockyard.store.writer import Conflict, NotFound, ObjectKey, StoredObject

COMPONENT = "default-scheduler"
UNSCHEDULABLE_RETRY_SECONDS = 5.0


def _normalize_reverse(counts: Mapping[str, int]) -> dict[str, int]:
    highest = max(counts.values(), default=0)
    if highest == 0:
        return {name: MAX_NODE_SCORE for name in counts}
    return {name: MAX_NODE_SCORE - c * MAX_NODE_SCORE // highest for name, c in counts.items()}


def schedule_fast(
    pod: PodView, nodes: Sequence[NodeView], usage: Mapping[str, NodeUsage]
) -> Binding | Unschedulable:
    """``schedule(pod, nodes, bound_pods)`` with the bound pods summed up per node name."""
    if pod.affinity_node:  # a DaemonSet pod: only its node is a candidate
        nodes = [n for n in nodes if n.name == pod.affinity_node] or list(nodes)
    if not nodes:
        return Unschedulable("no nodes available to schedule pods", {})
    empty = NodeUsage()
    reasons: dict[str, tuple[str, ...]] = {}
    feasible: list[tuple[NodeView, NodeUsage]] = []
    for node in nodes:
        node_usage = usage.get(node.name, empty)
        node_reasons = filter_node_usage(pod, node, node_usage)
        if node_reasons:
            reasons[node.name] = node_reasons
        else:
            feasible.append((node, node_usage))
    if not feasible:
        return Unschedulable(failed_scheduling_message(len(nodes), reasons), reasons)
    cpu = pod.cpu_request_millis or DEFAULT_MILLI_CPU_REQUEST
    memory = pod.memory_request_bytes or DEFAULT_MEMORY_REQUEST
    resources: dict[str, int] = {}
    intolerable: dict[str, int] = {}
    siblings: dict[str, int] = {}
    for node, node_usage in feasible:
        resources[node.name] = (
            least_allocated_score(cpu + node_usage.non_zero_cpu_millis, node.allocatable_cpu_millis)
            + least_allocated_score(
                memory + node_usage.non_zero_memory_bytes, node.allocatable_memory_bytes
            )
        ) // 2
        intolerable[node.name] = sum(
            1
            for taint in node.taints
            if taint.effect == "PreferNoSchedule"
            and not any(
                t.tolerates(taint) for t in pod.tolerations if t.effect in ("", "PreferNoSchedule")
            )
        )
        siblings[node.name] = node_usage.siblings(pod)
    taints, spread = _normalize_reverse(intolerable), _normalize_reverse(siblings)
    scores = {name: resources[name] + 3 * taints[name] + spread[name] for name in resources}
    best = min((node for node, _ in feasible), key=lambda node: (-scores[node.name], node.name))
    return Binding(pod.name, pod.namespace, best.name, scores)


def _is_pending(body: Mapping[str, Any]) -> bool:
    spec, meta = convert.spec(body), convert.meta(body)
    return (
        not spec.get("nodeName")
        and not meta.get("deletionTimestamp")
        and spec.get("schedulerName", "default-scheduler") == "default-scheduler"
        and convert.status(body).get("phase", "Pending") == "Pending"
    )


def _key(body: Mapping[str, Any]) -> Key:
    meta = convert.meta(body)
    return (str(meta.get("namespace") or ""), str(meta.get("name", "")))


class Scheduler:
    name = "scheduler"
    batch_size = 200

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.actor = controller_actor(COMPONENT)
        self.bound = 0

    def keys_for(self, change: Change) -> Iterable[Key]:
        if change.kind == "Pod":
            if change.new is not None and _is_pending(change.new):
                return [_key(change.new)]
            if (
                change.old is not None
                and convert.spec(change.old).get("nodeName")
                and (change.new is None or change.type == "ObjectDeletionRequested")
            ):
                return self._pending_keys()  # resources freed on a node
            return []
        if change.kind == "Node":
            before = convert.node_view(change.old) if change.old is not None else None
            after = convert.node_view(change.new) if change.new is not None else None
            if before != after:
                return self._pending_keys()
        return []

    def _pending_keys(self) -> list[Key]:
        return [_key(p) for p in self.ctx.cache.objects("Pod") if _is_pending(p)]

    def resync_keys(self) -> Iterable[Key]:
        return self._pending_keys()

    def sync(self, items: Sequence[tuple[Key, int | None]]) -> dict[Key, float | None]:
        cache = self.ctx.cache
        nodes = sorted(cache.views(cache.objects("Node"), convert.node_view), key=lambda n: n.name)
        usage: dict[str, NodeUsage] = {}
        for bound in cache.objects("Pod"):
            node_name = convert.spec(bound).get("nodeName")
            if node_name:
                view = cache.view(bound, convert.pod_view)
                usage.setdefault(str(node_name), NodeUsage()).add(view)
        requeue: dict[Key, float | None] = {}
        writes: list[tuple[Any, Binding | Unschedulable, int | None]] = []
        for key, causation in items:
            namespace, name = key
            body = cache.get("Pod", namespace, name)
            if body is None or not _is_pending(body):
                continue
            pod = cache.view(body, convert.pod_view)
            decision = schedule_fast(pod, nodes, usage)
            if isinstance(decision, Binding):  # the batch's own bindings count at once
                usage.setdefault(decision.node_name, NodeUsage()).add(
                    replace(pod, node_name=decision.node_name)
                )
            else:
                requeue[key] = UNSCHEDULABLE_RETRY_SECONDS
            writes.append((body, decision, causation))
        self._write(writes)
        return requeue

    def _write(self, writes: list[tuple[Any, Binding | Unschedulable, int | None]]) -> None:
        """All decisions in one transaction: every binding in one append, every Unschedulable
        status in another, the events in a third. Each write names the resourceVersion the
        cache saw; if a pod changed or vanished since (or a new pod took its name), the batch
        is retried without it, in the same transaction (nothing was written: the writer checks
        before it appends). The pod's next event brings it back."""
        binds: list[_Write] = []
        verdicts: list[_Write] = []
        for body, decision, causation in writes:
            if isinstance(decision, Binding):
                binds.append((_bound_body(body, decision), causation, _scheduled(decision)))
            else:
                verdict = _unschedulable(body, decision)
                if verdict is not None:
                    verdicts.append((verdict[0], causation, verdict[1]))
        if not binds and not verdicts:
            return
        writer = self.ctx.writer
        with writer.store.engine.begin() as conn:
            try:
                written = self._write_batch(conn, binds, verdicts)
            except (NotFound, Conflict):
                keys = [ObjectKey.of(new) for new, _, _ in [*binds, *verdicts]]
                current = writer.get_many(keys, conn=conn, for_update=True)
                binds = [w for w in binds if _unchanged(w[0], current)]
                verdicts = [w for w in verdicts if _unchanged(w[0], current)]
                written = self._write_batch(conn, binds, verdicts)
        self.ctx.observe([(stored, False) for stored in written])
        self.bound += len(binds)

    def _write_batch(
        self, conn: Connection, binds: list[_Write], verdicts: list[_Write]
    ) -> list[dict[str, Any]]:
        # Events are built before the first append: the append lock is held from there to the
        # commit, so nothing slow may happen in between.
        events = [
            self.ctx.kube_event(
                event,
                component=COMPONENT,
                uid=str(convert.meta(new).get("uid", "")),
                causation=causation,
            )
            for new, causation, event in [*binds, *verdicts]
        ]
        writer = self.ctx.writer
        written = writer.update_many_in(
            conn,
            [new for new, _, _ in binds],
            actor=self.actor,
            verb="bind",
            causation=[c for _, c, _ in binds],
        ) + writer.update_many_in(
            conn,
            [new for new, _, _ in verdicts],
            actor=self.actor,
            causation=[c for _, c, _ in verdicts],
            status_only=True,
        )
        self.ctx.record(conn, events)
        return written


_Write = tuple[dict[str, Any], int | None, Event]


def _unchanged(new: Mapping[str, Any], current: Mapping[ObjectKey, StoredObject]) -> bool:
    stored = current.get(ObjectKey.of(new))
    meta = convert.meta(new)
    return (
        stored is not None
        and stored.uid == meta.get("uid")
        and str(stored.resource_version) == str(meta.get("resourceVersion"))
    )


def _bound_body(body: Any, decision: Binding) -> dict[str, Any]:
    """The pod with ``spec.nodeName`` (the writer copies it; the cache's body stays as is)."""
    return {
        **body,
        "metadata": dict(convert.meta(body)),
        "spec": {**convert.spec(body), "nodeName": decision.node_name},
    }


def _scheduled(decision: Binding) -> Event:
    return Event(
        "Scheduled", decision.message, "Normal", "Pod", decision.pod_name, decision.namespace
    )


def _unschedulable(body: Any, decision: Unschedulable) -> tuple[dict[str, Any], Event] | None:
    """The pod with ``PodScheduled=False``, and its ``FailedScheduling`` event; None when the
    pod already carries this verdict (no new event, no new write)."""
    status = dict(convert.status(body))
    conditions = [c for c in status.get("conditions") or () if c.get("type") != "PodScheduled"]
    old = next((c for c in status.get("conditions") or () if c.get("type") == "PodScheduled"), None)
    if old is not None and old.get("message") == decision.message and old.get("status") == "False":
        return None
    conditions.append(
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": decision.message,
            "lastTransitionTime": convert.format_time(convert.now_utc()),
        }
    )
    new = copy.deepcopy(dict(body))  # keeps resourceVersion: the write checks it
    new["status"] = {**status, "phase": "Pending", "conditions": conditions}
    meta = convert.meta(body)
    event = Event(
        "FailedScheduling",
        decision.message,
        "Warning",
        "Pod",
        str(meta.get("name", "")),
        str(meta.get("namespace") or ""),
    )
    return new, event
