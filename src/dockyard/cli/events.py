"""``dockyard events``: Kubernetes Events as ``kubectl events`` prints them; ``dockyard events
tail``: read and follow the raw event log.

The kubectl-style listing talks to the HTTP API (like ``get``); ``tail`` reads PostgreSQL directly.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from dockyard.cli.client import (
    ApiClient,
    ClientError,
    JsonObject,
    add_connection_flags,
    connect,
    find_resource,
    kube_command,
)
from dockyard.cli.context import open_database
from dockyard.cli.kubectl_like import format_table
from dockyard.server.tables import age
from dockyard.settings import Settings
from dockyard.store.event_types import OBJECT_EVENT_TYPES
from dockyard.store.events import RecordedEvent
from dockyard.store.follower import LogFollower


def add_parser(subparsers: Any) -> None:
    events = subparsers.add_parser(
        "events",
        help="list Kubernetes Events as kubectl does; `events tail` reads the event log",
        description="Without a command: list the Events of a namespace as `kubectl events` "
        "does (dockyard events -n web --for pod/web-1, dockyard events -A -w). "
        "`dockyard events tail` prints the raw event log instead.",
    )
    events.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    events.add_argument("-w", "--watch", action="store_true", help="after listing, print new ones")
    events.add_argument(
        "--for", dest="for_object", metavar="TYPE/NAME", help="only Events about this object"
    )
    events.add_argument(
        "--types",
        default="",
        metavar="TYPES",
        help="only Events of these types, comma-separated (Normal,Warning)",
    )
    add_connection_flags(events)
    events.set_defaults(handler=kube_command(kube_events_command))
    sub = events.add_subparsers(dest="events_command", metavar="COMMAND")
    tail = sub.add_parser(
        "tail",
        help="print events from the log, optionally following it",
        description="Print events after a position (default: from the start), in log order.",
    )
    tail.add_argument(
        "--after",
        type=int,
        default=0,
        metavar="POSITION",
        help="print events after this position (default 0: the whole log)",
    )
    tail.add_argument(
        "--follow",
        "-f",
        action="store_true",
        help="keep following the log as events are appended (Ctrl-C to stop)",
    )
    tail.add_argument(
        "--type",
        action="append",
        dest="types",
        metavar="TYPE",
        help="only events of this type (repeatable)",
    )
    tail.add_argument("--limit", type=int, default=None, help="stop after this many events")
    tail.add_argument("-o", "--output", choices=["text", "json"], default="text")
    tail.set_defaults(handler=tail_command)


EVENTS = find_resource("events")


def describe(event: RecordedEvent) -> str:
    if event.type in OBJECT_EVENT_TYPES:
        body = event.data.get("object", {})
        meta = body.get("metadata", {})
        where = f"{meta['namespace']}/" if meta.get("namespace") else ""
        return f"{body.get('kind', '?')} {where}{meta.get('name', '?')}"
    return ""


def format_event(event: RecordedEvent, output: str) -> str:
    if output == "json":
        record: dict[str, Any] = {
            "position": event.position,
            "recorded_at": event.recorded_at.isoformat(),
            "stream_id": event.stream_id,
            "version": event.version,
            "type": event.type,
            "schema_version": event.schema_version,
            "event_id": str(event.event_id),
            "metadata": event.metadata,
            "data": event.data,
        }
        return json.dumps(record, sort_keys=True)
    actor = event.metadata.get("actor", "-")
    when = event.recorded_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return (
        f"{event.position:>8}  {when}  {event.type:<24} {describe(event):<40} "
        f"actor={actor} stream={event.stream_id}@{event.version}"
    ).rstrip()


def tail_command(args: argparse.Namespace, settings: Settings, out: TextIO = sys.stdout) -> int:
    printed = 0
    with open_database(settings) as db:
        if not args.follow:
            position = args.after
            while args.limit is None or printed < args.limit:
                batch = db.store.read_all(after=position, limit=500, types=args.types)
                if not batch:
                    break
                for event in batch[: None if args.limit is None else args.limit - printed]:
                    print(format_event(event, args.output), file=out, flush=False)
                    printed += 1
                position = batch[-1].position
            out.flush()
            return 0
        follower = LogFollower(
            db.store,
            db.url,
            after=args.after,
            poll_interval=settings.poll_interval_seconds,
            types=args.types,
        )
        for batch in follower.batches():
            for event in batch:
                print(format_event(event, args.output), file=out, flush=True)
                printed += 1
                if args.limit is not None and printed >= args.limit:
                    follower.stop()
                    return 0
    return 0


# --- `dockyard events` (kubectl events) ---------------------------------------------------------

EVENT_TYPES = ("Normal", "Warning")


def event_interval(event: Mapping[str, Any], now: datetime) -> str:
    """kubectl's LAST SEEN: ``5s``, or ``5s (x3 over 2m)`` for a repeated Event."""
    first = age(event.get("eventTime") or event.get("firstTimestamp"), now)
    series = event.get("series") or {}
    if series:
        last = age(series.get("lastObservedTime"), now)
        return f"{last} (x{series.get('count', 1)} over {first})"
    if int(event.get("count") or 1) > 1:
        return f"{age(event.get('lastTimestamp'), now)} (x{event['count']} over {first})"
    return first


def event_row(event: Mapping[str, Any], now: datetime, all_namespaces: bool) -> list[str]:
    involved = event.get("involvedObject") or {}
    row = [
        event_interval(event, now),
        str(event.get("type", "")),
        str(event.get("reason", "")),
        f"{involved.get('kind', '')}/{involved.get('name', '')}",
        str(event.get("message", "")).strip(),
    ]
    if all_namespaces:
        row.insert(0, str((event.get("metadata") or {}).get("namespace", "")))
    return row


def event_headers(all_namespaces: bool) -> list[str]:
    headers = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    return ["NAMESPACE", *headers] if all_namespaces else headers


def _last_seen(event: Mapping[str, Any]) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or "")


def _wanted_types(text: str) -> set[str]:
    wanted = {t.strip() for t in text.split(",") if t.strip()}
    for name in wanted:
        if name not in EVENT_TYPES:
            raise ClientError(f"valid --types are {', '.join(EVENT_TYPES)}, not {name!r}")
    return wanted


def _field_selector(for_object: str | None) -> str:
    if not for_object:
        return ""
    kind, slash, name = for_object.partition("/")
    if not slash or not kind or not name:
        raise ClientError(f"--for must be TYPE/NAME (for example pod/web-1), not {for_object!r}")
    return f"involvedObject.kind={find_resource(kind).kind},involvedObject.name={name}"


def kube_events_command(args: argparse.Namespace, settings: Settings) -> int:
    types = _wanted_types(args.types)
    params = {"fieldSelector": _field_selector(args.for_object)}
    with connect(settings, args) as client:
        namespace = None if args.all_namespaces else client.namespace
        listed = client.list(EVENTS, namespace, **params)
        items = [e for e in listed.get("items") or [] if not types or e.get("type") in types]
        items.sort(key=_last_seen)
        now = datetime.now(UTC)
        if items:
            rows = [event_row(e, now, args.all_namespaces) for e in items]
            print(format_table(event_headers(args.all_namespaces), rows), flush=True)
        elif not args.watch:
            where = "." if namespace is None else f" in {namespace} namespace."
            print(f"No events found{where}", file=sys.stderr)
        if args.watch:
            version = str((listed.get("metadata") or {}).get("resourceVersion", ""))
            _watch_events(client, namespace, {**params, "resourceVersion": version}, types, args)
    return 0


def _watch_events(
    client: ApiClient,
    namespace: str | None,
    params: Mapping[str, str],
    types: set[str],
    args: argparse.Namespace,
) -> None:
    """Print Events as they come, until interrupted (the server ends each watch after a while:
    watch again from the last version seen, as kubectl's watch tool does)."""
    query = {k: v for k, v in params.items() if v}
    while True:
        for change in client.watch(client.path(EVENTS, namespace), query):
            event: JsonObject = change.get("object") or {}
            if change.get("type") not in ("ADDED", "MODIFIED"):
                continue
            version = (event.get("metadata") or {}).get("resourceVersion")
            if version:
                query["resourceVersion"] = str(version)
            if types and event.get("type") not in types:
                continue
            row = event_row(event, datetime.now(UTC), args.all_namespaces)
            print("   ".join(row), flush=True)
