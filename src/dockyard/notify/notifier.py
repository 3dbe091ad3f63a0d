"""The notifier: a log consumer that turns failures into outbox rows, exactly once.

Each batch is one transaction: lock the checkpoint, read the events after it, fold them
through the container marks into facts, match routes, open or extend episodes, write outbox
rows, advance the checkpoint. A crash anywhere rolls all of it back, so a restarted notifier
re-reads the same events and writes the same rows: nothing is missed and nothing doubled (the
outbox's unique dedup keys would refuse a double anyway). Sending is someone else's job
(sender.py), so a slow or failing Slack never holds up detection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import Connection, Engine

from dockyard.notify import matching, render
from dockyard.notify.facts import (
    AGENT_FACT_TYPES,
    FACT_EVENT_TYPES,
    AlertFact,
    Mark,
    Owner,
    agent_fact,
    enrich,
    node_facts,
    object_of,
    pod_facts,
)
from dockyard.notify.owner_change import last_change
from dockyard.notify.routes import AlertRoute
from dockyard.notify.tables import (
    destination_of,
    insert_outbox,
    load_marks,
    load_routes,
    pod_by_uid,
    save_marks,
)
from dockyard.store.events import EventStore, RecordedEvent

log = logging.getLogger(__name__)

CHECKPOINT = "notifier"
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Notifier:
    def __init__(
        self,
        engine: Engine,
        store: EventStore,
        *,
        resolve_after_seconds: int = 600,
        max_fact_age_seconds: int = 3600,
        batch_size: int = 500,
        clock: Clock = utcnow,
    ) -> None:
        self.engine = engine
        self.store = store
        self.resolve_after_seconds = resolve_after_seconds
        self.max_fact_age = timedelta(seconds=max_fact_age_seconds)
        self.batch_size = batch_size
        self.clock = clock

    # -- the log side ---------------------------------------------------------------------

    def position(self) -> int:
        with self.engine.connect() as conn:
            row = conn.exec_driver_sql(
                "SELECT position FROM projection_checkpoints WHERE name = %s", (CHECKPOINT,)
            ).first()
        return int(row[0]) if row else 0

    def run_once(self) -> int:
        """Consume the next batch of the log; returns how many positions it advanced."""
        with self.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO projection_checkpoints (name, position) VALUES (%s, 0) "
                "ON CONFLICT (name) DO NOTHING",
                (CHECKPOINT,),
            )
            position = int(
                conn.exec_driver_sql(
                    "SELECT position FROM projection_checkpoints WHERE name = %s FOR UPDATE",
                    (CHECKPOINT,),
                ).scalar_one()
            )
            head = self.store.head_position(conn=conn)
            if head <= position:
                return 0
            until = min(head, position + self.batch_size)
            events = self.store.read_all(
                after=position,
                until=until,
                types=FACT_EVENT_TYPES,
                limit=until - position,
                conn=conn,
            )
            if events:
                self._apply(conn, events)
            conn.exec_driver_sql(
                "UPDATE projection_checkpoints SET position = %s, updated_at = now() "
                "WHERE name = %s",
                (until, CHECKPOINT),
            )
            return until - position

    def catch_up(self) -> int:
        total = 0
        while (advanced := self.run_once()) > 0:
            total += advanced
        return total

    def _apply(self, conn: Connection, events: Sequence[RecordedEvent]) -> None:
        routes = load_routes(conn)
        marks = load_marks(conn, events)
        pods: dict[str, Mapping[str, Any] | None] = {}
        owners: dict[tuple[str, str, str], Owner | None] = {}
        now = self.clock()
        for event in events:
            for fact in self._facts(conn, event, marks, pods):
                fact = fact.with_owner(self._top_owner(conn, fact, owners))
                if fact.notify is not None:
                    self._hook_notify(conn, fact, routes)
                    continue
                if now - fact.observed_at > self.max_fact_age:
                    continue  # an old failure seen for the first time: history, not an alert
                for route in routes:
                    if matching.route_matches(route, fact):
                        self._episode(conn, route, fact, now)
                    elif fact.corrects is not None:
                        # Told as it was first known, no longer matching as corrected: the
                        # episode that told it still hears the correction.
                        self._episode(conn, route, fact, now, told_only=True)
        save_marks(conn, marks)

    def _facts(
        self,
        conn: Connection,
        event: RecordedEvent,
        marks: dict[tuple[str, str], Mark | None],
        pods: dict[str, Mapping[str, Any] | None],
    ) -> list[AlertFact]:
        obj = object_of(event)
        meta = obj.get("metadata") or {}
        if event.type in AGENT_FACT_TYPES:
            uid = str(event.data.get("podUID") or "")
            mine = {c: m for (s, c), m in marks.items() if s == uid and m is not None}
            fact = agent_fact(event, mine)
            if fact is None:
                return []
            if uid not in pods:
                pods[uid] = pod_by_uid(conn, uid)
            return [enrich(fact, pods[uid])]
        if event.type == "ObjectDeleted":
            subject = str(meta.get("uid")) if obj.get("kind") == "Pod" else None
            for key in [k for k in marks if k[0] == subject]:
                marks[key] = None  # forget a deleted pod's containers
            return []
        if obj.get("kind") == "Pod":
            uid = str(meta.get("uid"))
            pods[uid] = obj
            current = {c: m for (s, c), m in marks.items() if s == uid and m is not None}
            facts, new = pod_facts(
                obj, current, observed_at=event.recorded_at, position=event.position
            )
            for container, mark in new.items():
                marks[(uid, container)] = mark
            return facts
        if obj.get("kind") == "Node":
            subject = f"node:{meta.get('name')}"
            facts, mark = node_facts(
                obj,
                marks.get((subject, "")),
                observed_at=event.recorded_at,
                position=event.position,
            )
            marks[(subject, "")] = mark
            return facts
        return []

    def _top_owner(
        self,
        conn: Connection,
        fact: AlertFact,
        cache: dict[tuple[str, str, str], Owner | None],
    ) -> Owner | None:
        """A ReplicaSet's pods are grouped by its Deployment (a rollout is one episode)."""
        owner = fact.owner
        if owner is None or owner.kind != "ReplicaSet":
            return owner
        key = (fact.namespace, owner.kind, owner.name)
        if key not in cache:
            row = conn.exec_driver_sql(
                "SELECT body FROM objects WHERE kind = 'ReplicaSet' AND namespace = %s "
                "AND name = %s",
                (fact.namespace, owner.name),
            ).first()
            parent = None
            for ref in ((row[0] if row else {}).get("metadata") or {}).get("ownerReferences") or []:
                if ref.get("controller"):
                    parent = Owner(str(ref["kind"]), str(ref["name"]), str(ref.get("uid", "")))
            cache[key] = parent or owner
        return cache[key]

    def _episode(
        self,
        conn: Connection,
        route: AlertRoute,
        fact: AlertFact,
        now: datetime,
        *,
        told_only: bool = False,
    ) -> None:
        """Fold ``fact`` into the route's open episode for its group (opening one), writing
        its outbox rows; ``told_only``: only if that episode told the fact's restart."""
        name = route.metadata.name or ""
        group = matching.group_key(fact)
        row = conn.exec_driver_sql(
            "SELECT id, summary FROM notify_episodes WHERE route = %s AND group_key = %s "
            "AND resolved_at IS NULL FOR UPDATE",
            (name, group),
        ).first()
        if told_only and not matching.told(row[1] if row else None, fact):
            return
        step = matching.step(row[1] if row else None, fact)
        if not step.actions:
            return
        summary = step.summary
        if row is None:
            summary["ownerChange"] = self._owner_change(conn, fact)
            summary["delivery"] = {
                "destination": destination_of(route),
                "template": route.spec.template,
                "mentions": list(route.spec.mentions),
                "redactPatterns": list(route.spec.redact_patterns),
            }
            resolve_after = route.spec.resolve_after_seconds or self.resolve_after_seconds
            episode_id = int(
                conn.exec_driver_sql(
                    "INSERT INTO notify_episodes (route, group_key, opened_at, last_fact_at, "
                    "resolve_after, summary) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                    (
                        name,
                        group,
                        fact.observed_at,
                        fact.observed_at,
                        resolve_after,
                        Jsonb(summary),
                    ),
                ).scalar_one()
            )
        else:
            episode_id = int(row[0])
            conn.exec_driver_sql(
                "UPDATE notify_episodes SET summary = %s, "
                "last_fact_at = greatest(last_fact_at, %s) WHERE id = %s",
                (Jsonb(summary), fact.observed_at, episode_id),
            )
        delivery = summary["delivery"]
        held = matching.quiet_until(route.spec.quiet_hours, now)
        for action in step.actions:
            kind = matching.REPLY if action == matching.CORRECTION else action
            if action == matching.REPLY:
                key = f"ep{episode_id}:reply:{fact.identity}"
                body = render.render_reply(
                    matching.fact_record(fact), redact_patterns=delivery["redactPatterns"]
                )
            elif action == matching.CORRECTION:
                key = f"ep{episode_id}:correction:{fact.identity}:{fact.terminated_reason}"
                body = render.render_correction(
                    {**matching.fact_record(fact), "corrects": fact.corrects}
                )
            else:
                key = (
                    f"ep{episode_id}:root"
                    if action == matching.ROOT
                    else f"ep{episode_id}:update:{fact.position}:{fact.identity}"
                )
                body = _root_body(summary, name)
            insert_outbox(
                conn,
                dedup_key=key,
                kind=kind,
                route=name,
                destination=delivery["destination"],
                body=body,
                episode_id=episode_id,
                run_at=held,
                source_position=fact.position,
            )

    def _owner_change(self, conn: Connection, fact: AlertFact) -> dict[str, Any] | None:
        if fact.owner is None or not fact.owner.uid:
            return None
        events = self.store.read_stream(fact.owner.uid, conn=conn)
        return last_change(events, fact.observed_at)

    def _hook_notify(self, conn: Connection, fact: AlertFact, routes: Sequence[AlertRoute]) -> None:
        request = fact.notify
        assert request is not None
        variables = {
            **render.template_variables(
                {**matching.new_summary(fact), "last": matching.fact_record(fact)},
                request.route or "",
            ),
            "hook": request.hook,
            "reason": fact.terminated_reason,
        }
        body = render.render_hook(request.template, variables)
        key = f"hook:{fact.position}"
        route = next((r for r in routes if r.metadata.name == request.route), None)
        if request.route and route is None:
            insert_outbox(
                conn,
                dedup_key=key,
                kind="message",
                route=request.route,
                destination={"type": "none"},
                body=body,
                state="dead",
                last_error=f"route_not_found: no AlertRoute named {request.route!r}",
                source_position=fact.position,
            )
            return
        if route is not None:
            destination = destination_of(route)
            held = matching.quiet_until(route.spec.quiet_hours, self.clock())
        else:
            destination = {"type": "slack", "channel": request.channel, "tokenSecret": None}
            held = None
        insert_outbox(
            conn,
            dedup_key=key,
            kind="message",
            route=request.route or f"channel:{request.channel}",
            destination=destination,
            body=body,
            run_at=held,
            source_position=fact.position,
        )

    # -- the clock side -------------------------------------------------------------------

    def resolve_due(self) -> int:
        """Resolve episodes without failures for their resolve-after time; returns how many."""
        now = self.clock()
        with self.engine.begin() as conn:
            rows = conn.exec_driver_sql(
                "SELECT id, route, summary, resolve_after FROM notify_episodes "
                "WHERE resolved_at IS NULL "
                "AND last_fact_at + resolve_after * interval '1 second' <= %s "
                "FOR UPDATE SKIP LOCKED",
                (now,),
            ).fetchall()
            for episode_id, route, summary, resolve_after in rows:
                done = matching.resolved(summary, now)
                conn.exec_driver_sql(
                    "UPDATE notify_episodes SET resolved_at = %s, summary = %s WHERE id = %s",
                    (now, Jsonb(done), episode_id),
                )
                destination = summary["delivery"]["destination"]
                insert_outbox(
                    conn,
                    dedup_key=f"ep{episode_id}:resolved:update",
                    kind="update",
                    route=route,
                    destination=destination,
                    body=_root_body(done, route),
                    episode_id=episode_id,
                )
                insert_outbox(
                    conn,
                    dedup_key=f"ep{episode_id}:resolved:reply",
                    kind="reply",
                    route=route,
                    destination=destination,
                    body=render.render_resolved_reply(done, int(resolve_after)),
                    episode_id=episode_id,
                )
            return len(rows)


def _root_body(summary: Mapping[str, Any], route: str) -> render.Message:
    delivery = summary["delivery"]
    return render.render_root(
        summary,
        route=route,
        template=delivery["template"],
        mentions=delivery["mentions"],
        redact_patterns=delivery["redactPatterns"],
    )
