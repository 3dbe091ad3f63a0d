"""`dockyard events tail`: read and follow the log."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from dockyard.cli.context import open_database
from dockyard.settings import Settings
from dockyard.store.event_types import OBJECT_EVENT_TYPES
from dockyard.store.events import LogFollower, RecordedEvent


def add_parser(subparsers: Any) -> None:
    events = subparsers.add_parser("events", help="read the event log")
    sub = events.add_subparsers(dest="events_command", required=True, metavar="COMMAND")
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
