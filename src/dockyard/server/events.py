"""Kubernetes ``Event`` objects (core/v1 and events.k8s.io/v1), derived from the log.

Nothing stores Events: they are a fold of the log's records of the last ``event_ttl_seconds``
(as Kubernetes keeps Events for an hour). ``KubeEventRecorded`` (written by
controllers and the scheduler) is one event as is; the node agent's observations become the
kubelet's events (ContainerCreated -> Created, ContainerStarted -> Started, ContainerKilled ->
Killing, ContainerBackOff -> BackOff, ContainerStartFailed / ImagePullFailed -> Failed,
FailedPostStartHook, FailedPreStopHook, ContainerUnhealthy -> Unhealthy). Identical repeats
(same object, reason, message, type, source, sub-object) fold into one Event with ``count``,
``firstTimestamp`` and ``lastTimestamp``; its resourceVersion is the position of the latest
repeat, and its name ``<object>.<hex position of the first>`` (stable across reads).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from dockyard.server import status as st
from dockyard.server import tables
from dockyard.server.context import ApiContext, Call
from dockyard.server.http import JsonResponse
from dockyard.server.loghub import LogHub
from dockyard.server.selection import (
    FieldSelector,
    parse_field_selector,
    parse_label_selector,
    parse_resource_version,
    parse_timeout,
)
from dockyard.server.watch import DEFAULT_TIMEOUT

JsonObject = dict[str, Any]
RECORDED = "KubeEventRecorded"
# agent event type -> (reason, type, message template)
_AGENT: dict[str, tuple[str, str, str]] = {
    "ContainerCreated": ("Created", "Normal", "Created container {container}"),
    "ContainerStarted": ("Started", "Normal", "Started container {container}"),
    "ContainerKilled": ("Killing", "Normal", "Stopping container {container}"),
    "ContainerBackOff": (
        "BackOff",
        "Warning",
        "Back-off restarting failed container {container} in pod {pod}",
    ),
    "ContainerStartFailed": ("Failed", "Warning", "{message}"),
    "ImagePullFailed": ("Failed", "Warning", "{message}"),
    "FailedPostStartHook": ("FailedPostStartHook", "Warning", "{message}"),
    "FailedPreStopHook": ("FailedPreStopHook", "Warning", "{message}"),
    "ContainerUnhealthy": ("Unhealthy", "Warning", "{probe} probe failed: {message}"),
}
SOURCE_TYPES = [RECORDED, *_AGENT]


@dataclass(frozen=True)
class Occurrence:
    position: int
    at: datetime
    involved: JsonObject
    reason: str
    type: str
    message: str
    component: str
    host: str

    @property
    def key(self) -> tuple[str, ...]:
        inv = self.involved
        return (
            str(inv.get("uid") or f"{inv.get('kind')}/{inv.get('namespace')}/{inv.get('name')}"),
            str(inv.get("fieldPath", "")),
            self.reason,
            self.type,
            self.message,
            self.component,
        )


def occurrence(position: int, event_type: str, data: JsonObject, at: datetime) -> Occurrence:
    if event_type == RECORDED:
        inv = dict(data.get("involved_object") or data.get("involvedObject") or {})
        inv.setdefault("apiVersion", "apps/v1" if inv.get("kind") in _APPS_KINDS else "v1")
        return Occurrence(
            position,
            at,
            inv,
            str(data.get("reason", "")),
            str(data.get("type", "Normal")),
            str(data.get("message", "")),
            str(data.get("source", "")),
            "",
        )
    reason, kind, template = _AGENT[event_type]
    fields = {k: data.get(k, "") for k in ("container", "pod", "message", "probe")}
    involved: JsonObject = {
        "kind": "Pod",
        "apiVersion": "v1",
        "namespace": data.get("namespace", ""),
        "name": data.get("pod", ""),
        "uid": data.get("podUID", ""),
    }
    if data.get("container"):
        involved["fieldPath"] = f"spec.containers{{{data['container']}}}"
    return Occurrence(
        position,
        at,
        involved,
        reason,
        kind,
        template.format(**fields),
        "kubelet",
        str(data.get("node", "")),
    )


_APPS_KINDS = frozenset({"Deployment", "ReplicaSet", "DaemonSet", "StatefulSet"})


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def core_event(first: Occurrence, last: Occurrence, count: int) -> JsonObject:
    name = f"{first.involved.get('name', '')}.{first.position:016x}"
    return {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "namespace": first.involved.get("namespace") or "default",
            "uid": f"event-{first.position}",
            "resourceVersion": str(last.position),
            "creationTimestamp": _time(first.at),
        },
        "involvedObject": first.involved,
        "reason": first.reason,
        "message": first.message,
        "type": first.type,
        "source": {k: v for k, v in (("component", first.component), ("host", first.host)) if v},
        "count": count,
        "firstTimestamp": _time(first.at),
        "lastTimestamp": _time(last.at),
        "reportingComponent": first.component,
        "reportingInstance": first.host,
    }


def events_v1(event: JsonObject) -> JsonObject:
    """The events.k8s.io/v1 shape of a core/v1 Event."""
    return {
        "kind": "Event",
        "apiVersion": "events.k8s.io/v1",
        "metadata": event["metadata"],
        "regarding": event["involvedObject"],
        "reason": event["reason"],
        "note": event["message"],
        "type": event["type"],
        "reportingController": event["reportingComponent"],
        "reportingInstance": event["reportingInstance"],
        "eventTime": event["firstTimestamp"].replace("Z", ".000000Z"),
        "deprecatedCount": event["count"],
        "deprecatedFirstTimestamp": event["firstTimestamp"],
        "deprecatedLastTimestamp": event["lastTimestamp"],
        "deprecatedSource": event["source"],
    }


class Fold:
    """Occurrences folded into Events, in order; ``add`` says whether the Event is new."""

    def __init__(self) -> None:
        self.first: dict[tuple[str, ...], Occurrence] = {}
        self.last: dict[tuple[str, ...], Occurrence] = {}
        self.count: dict[tuple[str, ...], int] = {}

    def add(self, occ: Occurrence) -> tuple[bool, JsonObject]:
        key = occ.key
        new = key not in self.first
        self.first.setdefault(key, occ)
        self.last[key] = occ
        self.count[key] = self.count.get(key, 0) + 1
        return new, core_event(self.first[key], occ, self.count[key])

    def events(self) -> list[JsonObject]:
        return [core_event(self.first[k], self.last[k], self.count[k]) for k in self.first]


OCCURRENCES_SQL = (
    "SELECT position, type, data, recorded_at FROM events WHERE type = ANY(%s) "
    "AND recorded_at >= now() - make_interval(secs => %s) "
    "AND position > %s AND position <= %s"
)


def read_occurrences(
    ctx: ApiContext, namespace: str, after: int = 0
) -> tuple[int, list[Occurrence]]:
    """Occurrences recorded within the event TTL, after position ``after``.

    The ``recorded_at`` bound (Kubernetes' ``--event-ttl``, one hour by default) lets the
    ``events_type_recorded_at (type, recorded_at)`` index answer: a read touches the recent
    events of the source types, never the log's history.
    """
    sql = OCCURRENCES_SQL
    with ctx.engine.connect() as conn:
        head = int(
            conn.exec_driver_sql("SELECT coalesce(max(position), 0) FROM events").scalar_one()
        )
        params: list[Any] = [SOURCE_TYPES, ctx.event_ttl_seconds, after, head]
        if namespace:
            sql += (
                " AND coalesce(data -> 'involved_object' ->> 'namespace', "
                "data ->> 'namespace') = %s"
            )
            params.append(namespace)
        rows = conn.exec_driver_sql(sql + " ORDER BY position", tuple(params)).fetchall()
    return head, [occurrence(int(r[0]), str(r[1]), r[2], r[3]) for r in rows]


def _matches(event: JsonObject, namespace: str, fields: FieldSelector) -> bool:
    return (not namespace or event["metadata"]["namespace"] == namespace) and fields.matches(event)


def list_events(ctx: ApiContext, call: Call) -> tuple[int, list[JsonObject]]:
    fields = parse_field_selector(call.query.get("fieldSelector", ""), "Event")
    parse_label_selector(call.query.get("labelSelector", ""))  # events carry no labels
    head, occurrences = read_occurrences(ctx, call.namespace)
    fold = Fold()
    for occ in occurrences:
        fold.add(occ)
    items = [e for e in fold.events() if _matches(e, call.namespace, fields)]
    if call.name is not None:
        items = [e for e in items if e["metadata"]["name"] == call.name]
    return head, items


def _shape(call: Call, event: JsonObject) -> JsonObject:
    return events_v1(event) if call.resource.group == "events.k8s.io" else event


async def serve(ctx: ApiContext, hub: LogHub, call: Call, verb: str, accept: str) -> Response:
    head, items = await run_in_threadpool(list_events, ctx, call)
    if verb == "get":
        if not items:
            raise st.not_found("events", call.name or "", call.resource.group)
        return JsonResponse(_shape(call, items[0]))
    if verb == "watch":
        start = parse_resource_version(call.query.get("resourceVersion"))
        timeout = parse_timeout(call.query.get("timeoutSeconds")) or DEFAULT_TIMEOUT
        return StreamingResponse(
            _watch(ctx, hub, call, start, timeout, accept), media_type="application/json"
        )
    if tables.wants_table(accept):
        return JsonResponse(
            tables.table(
                "Event",
                items,
                resource_version=str(head),
                include_object=call.query.get("includeObject", "Metadata"),
                api_version=tables.table_version(accept),
            )
        )
    return JsonResponse(
        {
            "kind": "EventList",
            "apiVersion": call.resource.api_version,
            "metadata": {"resourceVersion": str(head)},
            "items": [_shape(call, e) for e in items],
        }
    )


async def _watch(
    ctx: ApiContext, hub: LogHub, call: Call, start: int | None, timeout: float, accept: str
) -> AsyncIterator[bytes]:
    fields = parse_field_selector(call.query.get("fieldSelector", ""), "Event")
    as_table = tables.wants_table(accept)
    deadline = time.monotonic() + timeout

    def line(kind: str, event: JsonObject) -> bytes:
        shaped = tables.table("Event", [event]) if as_table else _shape(call, event)
        return json.dumps({"type": kind, "object": shaped}).encode() + b"\n"

    position, history = await run_in_threadpool(read_occurrences, ctx, call.namespace)
    fold = Fold()
    for occ in history:
        new, event = fold.add(occ)
        if start and occ.position > start and _matches(event, call.namespace, fields):
            yield line("ADDED" if new else "MODIFIED", event)
    if not start:
        for event in fold.events():
            if _matches(event, call.namespace, fields):
                yield line("ADDED", event)
    while (remaining := deadline - time.monotonic()) > 0:
        token = hub.token()
        position, fresh = await run_in_threadpool(read_occurrences, ctx, call.namespace, position)
        for occ in fresh:
            new, event = fold.add(occ)
            if _matches(event, call.namespace, fields):
                yield line("ADDED" if new else "MODIFIED", event)
        if not fresh:
            await hub.wait(token, min(remaining, ctx.poll_interval))
