"""The notifier's tables: routes read from ``objects``, outbox rows, container marks.

SQL helpers used inside the notifier's transaction (see notifier.py); no decisions here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from psycopg.types.json import Jsonb
from sqlalchemy import Connection

from dockyard.model.validation import decode
from dockyard.notify.facts import Mark, object_of
from dockyard.notify.routes import API_VERSION, KIND, AlertRoute
from dockyard.store.events import RecordedEvent

log = logging.getLogger(__name__)


def destination_of(route: AlertRoute) -> dict[str, Any]:
    destination = route.spec.destination
    if destination.webhook is not None:
        url = destination.webhook.url
        return {"type": "webhook", "url": url, "url_host": urlsplit(url).hostname}
    assert destination.slack is not None
    return {
        "type": "slack",
        "channel": destination.slack.channel,
        "tokenSecret": destination.slack.token_secret,
    }


def load_routes(conn: Connection) -> list[AlertRoute]:
    rows = conn.exec_driver_sql(
        "SELECT body FROM objects WHERE api_version = %s AND kind = %s ORDER BY name",
        (API_VERSION, KIND),
    ).fetchall()
    routes: list[AlertRoute] = []
    for (body,) in rows:
        try:
            route = decode(body)
        except Exception:  # validated on apply; a stored route that no longer decodes is skipped
            log.warning("skipping alert route %s: it no longer decodes", body.get("metadata"))
            continue
        assert isinstance(route, AlertRoute)
        routes.append(route)
    return routes


def insert_outbox(
    conn: Connection,
    *,
    dedup_key: str,
    kind: str,
    route: str,
    destination: Mapping[str, Any],
    body: Mapping[str, Any],
    episode_id: int | None = None,
    run_at: datetime | None = None,
    source_position: int | None = None,
    state: str = "pending",
    last_error: str | None = None,
) -> None:
    conn.exec_driver_sql(
        "INSERT INTO notify_outbox (dedup_key, episode_id, kind, route, destination, body, "
        "run_at, source_position, state, last_error) "
        "VALUES (%s, %s, %s, %s, %s, %s, coalesce(%s, now()), %s, %s, %s) "
        "ON CONFLICT (dedup_key) DO NOTHING",
        (
            dedup_key,
            episode_id,
            kind,
            route,
            Jsonb(dict(destination)),
            Jsonb(dict(body)),
            run_at,
            source_position,
            state,
            last_error,
        ),
    )


def pod_by_uid(conn: Connection, uid: str) -> Mapping[str, Any] | None:
    row = conn.exec_driver_sql("SELECT body FROM objects WHERE uid = %s", (uid,)).first()
    return row[0] if row else None


def load_marks(
    conn: Connection, events: Sequence[RecordedEvent]
) -> dict[tuple[str, str], Mark | None]:
    subjects: set[str] = set()
    for event in events:
        obj = object_of(event)
        meta = obj.get("metadata") or {}
        if obj.get("kind") == "Pod":
            subjects.add(str(meta.get("uid")))
        elif obj.get("kind") == "Node":
            subjects.add(f"node:{meta.get('name')}")
        elif event.data.get("podUID"):
            subjects.add(str(event.data["podUID"]))
    rows = conn.exec_driver_sql(
        "SELECT subject, container, restart_count, waiting_reason, death_reason "
        "FROM notify_marks WHERE subject = ANY(%s::text[])",
        (sorted(subjects),),
    ).fetchall()
    return {(row[0], row[1]): Mark(int(row[2]), row[3], row[4]) for row in rows}


def save_marks(conn: Connection, marks: Mapping[tuple[str, str], Mark | None]) -> None:
    for (subject, container), mark in marks.items():
        if mark is None:
            conn.exec_driver_sql(
                "DELETE FROM notify_marks WHERE subject = %s AND container = %s",
                (subject, container),
            )
        else:
            conn.exec_driver_sql(
                "INSERT INTO notify_marks (subject, container, restart_count, waiting_reason, "
                "death_reason) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (subject, container) DO UPDATE SET "
                "restart_count = excluded.restart_count, "
                "waiting_reason = excluded.waiting_reason, "
                "death_reason = excluded.death_reason",
                (
                    subject,
                    container,
                    mark.restart_count,
                    mark.waiting_reason,
                    mark.death_reason,
                ),
            )
