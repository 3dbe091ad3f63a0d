"""Node lifecycle executor: lease age → Ready condition and NoExecute taints → evictions.

Node agents renew leases in the mutable ``node_leases`` table (migration 0003_nodes);
this controller reads them through :class:`LeaseSource`. A node whose lease is older than the
grace period turns Ready=Unknown with the ``node.kubernetes.io/unreachable:NoExecute`` taint,
and one ``NodeNotReady`` event is recorded per transition (``plan_node_lifecycle`` plans
transitions only). Pods leave such a node once their toleration (default 300 s, configurable)
runs out: they are deleted gracefully, and since no agent can confirm the stop on an
unreachable node, a terminating pod there is then removed for good (what Kubernetes' PodGC does
for out-of-service nodes), so their controllers recreate them elsewhere.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine

from dockyard.controllers import convert
from dockyard.controllers.context import ControllerContext, controller_actor
from dockyard.controllers.node_lifecycle_plan import (
    NOT_READY_TAINT_KEY,
    UNREACHABLE_TAINT_KEY,
    NodeHealthView,
    plan_node_lifecycle,
)
from dockyard.controllers.runtime import Change, Key
from dockyard.controllers.views import Taint, Toleration

log = logging.getLogger(__name__)
COMPONENT = "node-controller"
KEY = "nodes"


class LeaseSource(Protocol):
    def renew_times(self) -> dict[str, datetime]:
        """Each node's last lease renewal."""
        ...


class PostgresLeaseSource:
    """Reads ``node_leases`` (migration 0003_nodes), which node agents and hollow nodes renew."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def renew_times(self) -> dict[str, datetime]:
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT node_name, renewed_at FROM node_leases").all()
        return {str(name): renewed for name, renewed in rows}


def with_default_tolerations(
    tolerations: Sequence[Toleration], seconds: int
) -> tuple[Toleration, ...]:
    """DefaultTolerationSeconds with a configurable duration."""
    result = list(tolerations)
    for key in (NOT_READY_TAINT_KEY, UNREACHABLE_TAINT_KEY):
        if not any(t.tolerates(Taint(key, "NoExecute")) for t in result):
            result.append(Toleration(key, "Exists", "", "NoExecute", seconds))
    return tuple(result)


class NodeLifecycleController:
    name = "node-lifecycle"
    batch_size = 1

    def __init__(self, ctx: ControllerContext, leases: LeaseSource) -> None:
        self.ctx = ctx
        self.leases = leases
        self.actor = controller_actor(COMPONENT)

    def keys_for(self, change: Change) -> Iterable[Key]:
        return [KEY] if change.kind == "Node" and change.type == "ObjectCreated" else []

    def resync_keys(self) -> Iterable[Key]:
        return [KEY]

    def sync(self, items: Sequence[tuple[Key, int | None]]) -> dict[Key, float | None]:
        causation = max((c for _, c in items if c is not None), default=None)
        return {KEY: self._monitor(causation)}

    def _monitor(self, causation: int | None) -> float:
        s = self.ctx.settings
        now = convert.now_utc()
        renewals = self.leases.renew_times()
        node_bodies = {str(convert.meta(b)["name"]): b for b in self.ctx.cache.objects("Node")}
        nodes = []
        for name, body in node_bodies.items():
            ready = next(
                (
                    c
                    for c in convert.conditions_of(convert.status(body).get("conditions"))
                    if c.type == "Ready"
                ),
                None,
            )
            nodes.append(
                NodeHealthView(
                    name=name,
                    created_at=convert.parse_time(convert.meta(body).get("creationTimestamp"))
                    or now,
                    lease_renew_time=renewals.get(name),
                    ready=ready,
                    taints=convert.taints_of(convert.spec(body).get("taints")),
                )
            )
        cache = self.ctx.cache
        pod_bodies = {cache.view(p, convert.pod_view).uid: p for p in cache.objects("Pod")}
        pods = [
            replace(
                v,
                tolerations=with_default_tolerations(
                    v.tolerations, s.pod_eviction_toleration_seconds
                ),
            )
            for v in cache.views(pod_bodies.values(), convert.pod_view)
        ]
        plan = plan_node_lifecycle(
            nodes,
            pods,
            now,
            grace_period=timedelta(seconds=s.node_monitor_grace_seconds),
            startup_grace_period=timedelta(seconds=s.node_startup_grace_seconds),
        )
        unreachable = {n.name for n in nodes if n.ready is not None and n.ready.status == "Unknown"}
        unreachable |= {u.name for u in plan.updates if u.ready.status == "Unknown"}
        written: list[tuple[dict[str, Any], bool]] = []
        events = []
        with self.ctx.writer.store.engine.begin() as conn:
            for update in plan.updates:
                body = node_bodies[update.name]
                new = copy.deepcopy(dict(body))
                new["metadata"].pop("resourceVersion", None)
                new["spec"] = {
                    **convert.spec(body),
                    "taints": [convert.taint_to_json(t) for t in update.taints],
                }
                if not new["spec"]["taints"]:
                    del new["spec"]["taints"]
                respec = self.ctx.update(conn, new, self.actor, causation)
                conditions = [
                    c
                    for c in convert.status(body).get("conditions") or ()
                    if c.get("type") != "Ready"
                ]
                ready_json = convert.condition_to_json(
                    update.ready, update_field="lastHeartbeatTime"
                )
                restatus = copy.deepcopy(respec)
                restatus["metadata"].pop("resourceVersion", None)
                restatus["status"] = {
                    **convert.status(body),
                    "conditions": [*conditions, ready_json],
                }
                written.append(
                    (
                        self.ctx.update(conn, restatus, self.actor, causation, status_only=True),
                        False,
                    )
                )
                if update.event is not None:
                    uid = str(convert.meta(body).get("uid", ""))
                    events.append(
                        self.ctx.kube_event(
                            update.event, component=COMPONENT, uid=uid, causation=causation
                        )
                    )
            for eviction in plan.evictions:
                victim = pod_bodies.get(eviction.pod.uid)
                if victim is None:
                    continue
                evicted_body = self.ctx.delete(conn, victim, self.actor, causation, graceful=True)
                if evicted_body is not None:
                    written.append((evicted_body, False))
                    events.append(
                        self.ctx.kube_event(
                            eviction.event,
                            component="taint-eviction-controller",
                            uid=eviction.pod.uid,
                            causation=causation,
                        )
                    )
            evicted = {e.pod.uid for e in plan.evictions}
            for uid, pod_body in pod_bodies.items():
                terminating = convert.meta(pod_body).get("deletionTimestamp") or uid in evicted
                if terminating and convert.spec(pod_body).get("nodeName") in unreachable:
                    gone = self.ctx.delete(conn, pod_body, self.actor, causation)
                    if gone is not None:
                        written.append((gone, True))
            self.ctx.record(conn, events)
        self.ctx.observe(written)
        period = s.node_monitor_period_seconds
        if plan.next_check_at is None:
            return period
        return max(min((plan.next_check_at - now).total_seconds() + 0.05, period), 0.05)
