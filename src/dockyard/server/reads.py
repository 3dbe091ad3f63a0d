"""get and list: reads from the ``objects`` table (current after every write); nothing appended.

A list runs in one REPEATABLE READ transaction that also reads the head of the log, so the
list's ``resourceVersion`` is exactly the log position its items reflect: a watch from it misses
nothing and repeats nothing. Continued pages read the current rows after the last name served and
keep the first page's resourceVersion, so a watch from it may repeat a change, never miss one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockyard.server import status as st
from dockyard.server.context import ApiContext, Call
from dockyard.server.selection import (
    ContinueToken,
    parse_field_selector,
    parse_label_selector,
    parse_limit,
)
from dockyard.store.changes import StoredObject

JsonObject = dict[str, Any]
_CHUNK = 500


def get_object(ctx: ApiContext, call: Call) -> JsonObject:
    return _found(call, ctx.writer.get(call.key()))


async def get_object_async(ctx: ApiContext, call: Call) -> JsonObject:
    """``get_object``, awaited on the event loop (no thread hand-off)."""
    return _found(call, await ctx.aio.get(call.key()))


def _found(call: Call, stored: StoredObject | None) -> JsonObject:
    if stored is None:
        raise st.not_found(call.resource.plural, call.name or "", call.resource.group)
    return stored.body


@dataclass(frozen=True)
class Page:
    items: list[JsonObject]
    resource_version: int
    continue_token: str = ""


def list_objects(ctx: ApiContext, call: Call) -> Page:
    kind = call.resource.kind
    fields = parse_field_selector(call.query.get("fieldSelector", ""), kind)
    labels = parse_label_selector(call.query.get("labelSelector", ""))
    limit = parse_limit(call.query.get("limit"))
    token = call.query.get("continue", "")
    start = ContinueToken.decode(token) if token else None
    namespace = call.namespace or fields.exact("metadata.namespace")
    name = fields.exact("metadata.name")
    items: list[JsonObject] = []
    more = False
    with ctx.engine.connect() as conn:
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        head = int(
            conn.exec_driver_sql("SELECT coalesce(max(position), 0) FROM events").scalar_one()
        )
        after = (start.namespace, start.name) if start else ("", "")
        while not more:
            clauses = ["kind = %s", "(namespace, name) > (%s, %s)"]
            params: list[Any] = [kind, *after]
            if namespace is not None:
                clauses.append("namespace = %s")
                params.append(namespace)
            if name is not None:
                clauses.append("name = %s")
                params.append(name)
            sql = (
                f"SELECT namespace, name, labels, body FROM objects WHERE {' AND '.join(clauses)} "
                "ORDER BY namespace, name LIMIT %s"
            )
            rows = conn.exec_driver_sql(sql, (*params, _CHUNK)).fetchall()
            for row in rows:
                if limit is not None and len(items) == limit:
                    more = True
                    break
                after = (row[0], row[1])
                if labels.matches(row[2] or {}) and fields.matches(row[3]):
                    items.append(row[3])
            if len(rows) < _CHUNK:
                break
        conn.rollback()
    version = start.resource_version if start else head
    next_token = ""
    if more and items:
        last = items[-1]["metadata"]
        next_token = ContinueToken(version, last.get("namespace", ""), last["name"]).encode()
    return Page(items, version, next_token)


def list_body(call: Call, page: Page) -> JsonObject:
    metadata: JsonObject = {"resourceVersion": str(page.resource_version)}
    if page.continue_token:
        metadata["continue"] = page.continue_token
    return {
        "kind": f"{call.resource.kind}List",
        "apiVersion": call.resource.api_version,
        "metadata": metadata,
        "items": page.items,
    }


def namespace_state(ctx: ApiContext, namespace: str) -> JsonObject | None:
    with ctx.engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT body FROM objects WHERE kind = 'Namespace' AND namespace = '' AND name = %s",
            (namespace,),
        ).first()
    return row[0] if row else None
