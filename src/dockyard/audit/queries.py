"""Audit queries over the public views: filters, time travel and object timelines.

Everything here reads the views (``audit_log``, ``object_history``) and the SQL functions of
migration 0002_audit, so it works for the read-only ``dockyard_auditor`` role too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from dockyard.model import kinds


class AuditInputError(ValueError):
    """Bad input from a user (a time, a kind, a column): the message says which and why."""


class NotAtThatTime(LookupError):
    """The object did not exist at the requested time."""


AUDIT_COLUMNS = (
    "position",
    "time",
    "event_type",
    "actor",
    "groups",
    "source",
    "verb",
    "kind",
    "namespace",
    "name",
    "uid",
    "version",
    "changes",
    "request_id",
    "client_address",
    "user_agent",
    "causation",
)
DEFAULT_COLUMNS = ("position", "time", "actor", "verb", "kind", "namespace", "name", "changes")

_RELATIVE = re.compile(r"^(\d+)\s*(s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, *, now: datetime | None = None, field: str = "time") -> datetime:
    """ISO 8601 (a time without offset is UTC), ``now``, or an age such as ``15m``, ``2h``,
    ``7d`` (that long ago)."""
    now = now or datetime.now(UTC)
    value = text.strip()
    if value == "now":
        return now
    relative = _RELATIVE.match(value)
    if relative:
        return now - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise AuditInputError(
            f"{field}: cannot parse {text!r} as a time; use ISO 8601 "
            "(2026-11-26T14:03:00Z), 'now', or an age like 15m, 2h, 7d"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def resolve_kind(text: str) -> str:
    """``deploy``, ``deployments``, ``Deployment`` -> ``Deployment``."""
    info = kinds.resource_for_name(text)
    if info is None:
        known = ", ".join(sorted(k.kind for k in kinds.all_kinds()))
        raise AuditInputError(f"unknown kind {text!r} (known kinds: {known})")
    return info.kind


def is_namespaced(kind: str) -> bool:
    return next((k.namespaced for k in kinds.all_kinds() if k.kind == kind), True)


def parse_columns(text: str | None) -> tuple[str, ...]:
    if not text:
        return DEFAULT_COLUMNS
    columns = tuple(c.strip() for c in text.split(",") if c.strip())
    unknown = [c for c in columns if c not in AUDIT_COLUMNS]
    if unknown or not columns:
        raise AuditInputError(
            f"unknown column(s) {', '.join(unknown) or '(none given)'}; "
            f"audit_log has: {', '.join(AUDIT_COLUMNS)}"
        )
    return columns


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    verb: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def audit_entries(
    conn: Connection,
    where: AuditFilter,
    *,
    columns: Sequence[str] = AUDIT_COLUMNS,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The newest ``limit`` rows of ``audit_log`` that match, oldest first."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("actor", where.actor),
        ("kind", where.kind),
        ("namespace", where.namespace),
        ("name", where.name),
        ("verb", where.verb),
    ):
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    if where.since is not None:
        clauses.append("time >= %s")
        params.append(where.since)
    if where.until is not None:
        clauses.append("time <= %s")
        params.append(where.until)
    selected = ", ".join(c for c in columns if c in AUDIT_COLUMNS)
    sql = (
        f"SELECT {selected} FROM audit_log "
        f"{'WHERE ' + ' AND '.join(clauses) if clauses else ''} "
        "ORDER BY position DESC LIMIT %s"
    )
    rows = conn.exec_driver_sql(sql, (*params, limit)).mappings().all()
    return [dict(r) for r in reversed(rows)]


def object_at(
    conn: Connection, kind: str, namespace: str | None, name: str, at: datetime
) -> dict[str, Any]:
    """The object exactly as a ``get`` returned it at ``at`` (uid and resourceVersion set).

    Raises :class:`NotAtThatTime` naming when the object did exist, if it ever did.
    """
    found = conn.exec_driver_sql(
        "SELECT dockyard_object_at(%s, %s, %s, %s)", (kind, namespace or "", name, at)
    ).scalar_one()
    if found is not None:
        return dict(found)
    where = f"{namespace}/" if namespace else ""
    span = conn.exec_driver_sql(
        "SELECT min(time), max(time) FILTER (WHERE event_type = 'ObjectDeleted') "
        "FROM object_history WHERE kind = %s AND namespace = %s AND name = %s",
        (kind, namespace or "", name),
    ).one()
    if span[0] is None:
        raise NotAtThatTime(f"{kind} {where}{name} has never existed")
    if at < span[0]:
        raise NotAtThatTime(
            f"{kind} {where}{name} did not exist at {at.isoformat()}: "
            f"it was first created at {span[0].isoformat()}"
        )
    raise NotAtThatTime(
        f"{kind} {where}{name} did not exist at {at.isoformat()}: it had been deleted"
        + (f" (last deletion at {span[1].isoformat()})" if span[1] else "")
    )


@dataclass(frozen=True)
class Version:
    position: int
    time: datetime
    uid: str
    version: int
    event_type: str
    actor: str | None
    verb: str | None
    changes: list[dict[str, Any]]
    object: dict[str, Any]


_HISTORY_SQL = """
WITH v AS (
    SELECT h.*, lag(h.object) OVER (PARTITION BY h.uid ORDER BY h.version) AS previous
      FROM object_history h
     WHERE h.kind = %s AND h.namespace = %s AND h.name = %s
)
SELECT v.position, v.time, v.uid, v.version, v.event_type, v.actor, v.verb,
       CASE WHEN v.event_type = 'ObjectStatusUpdated'
            THEN coalesce((SELECT jsonb_agg(d) FROM dockyard_json_diff_paths(
                     v.previous -> 'status', v.object -> 'status', 'status') d), '[]'::jsonb)
            ELSE dockyard_json_diff(v.previous, v.object) END AS changes,
       v.object
  FROM v
 ORDER BY v.position
"""


def history(conn: Connection, kind: str, namespace: str | None, name: str) -> list[Version]:
    """Every version of every object that has had this name, oldest first."""
    rows = conn.exec_driver_sql(_HISTORY_SQL, (kind, namespace or "", name)).all()
    return [Version(*row) for row in rows]
