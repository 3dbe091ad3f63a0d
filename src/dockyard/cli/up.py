"""`dockyard up`: everything on one host, on the embedded database unless one is configured.

In this version that is the spine: the database (embedded PostgreSQL by default), the schema,
the projections kept current, and the event log followed on screen.
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from dockyard.cli.context import open_database
from dockyard.cli.events import format_event
from dockyard.settings import Settings
from dockyard.store import migrations
from dockyard.store.db import redacted
from dockyard.store.events import LogFollower
from dockyard.store.projections import ProjectionRunner
from dockyard.store.registry import all_projections


def add_parser(subparsers: Any) -> None:
    up = subparsers.add_parser(
        "up",
        help="run Dockyard on this host (embedded database unless DOCKYARD_DATABASE_URL is set)",
        description="Start Dockyard in one process: the database (an embedded PostgreSQL kept "
        "in the data directory when DOCKYARD_DATABASE_URL is unset), migrations, projections, "
        "and a live view of the event log. Ctrl-C stops it; state survives for the next run.",
    )
    up.add_argument(
        "-o",
        "--output",
        choices=["text", "json"],
        default="text",
        help="how to print events from the log",
    )
    up.set_defaults(handler=up_command)


def up_command(args: argparse.Namespace, settings: Settings) -> int:
    with open_database(settings, require_schema=False, keep_embedded_running=True) as db:
        try:
            migrations.upgrade(db.engine)
            runner = ProjectionRunner(
                db.engine, db.store, all_projections(), batch_size=settings.projection_batch_size
            )
            projection_follower = LogFollower(
                db.store, db.url, poll_interval=settings.poll_interval_seconds
            )
            worker = threading.Thread(
                target=runner.follow, args=(projection_follower,), name="projections", daemon=True
            )
            worker.start()
            where = (
                f"embedded PostgreSQL, data in {db.embedded.pgdata}"
                if db.embedded
                else "DOCKYARD_DATABASE_URL"
            )
            print(
                f"Dockyard is up.\n  database: {redacted(db.url)} ({where})\n"
                f"  schema:   {migrations.current_revision(db.engine)}\n"
                f"  log head: position {db.store.head_position()}\n"
                "Following the event log; Ctrl-C stops Dockyard (state is kept).",
                flush=True,
            )
            view = LogFollower(db.store, db.url, poll_interval=settings.poll_interval_seconds)
            try:
                for batch in view.batches():
                    for event in batch:
                        print(format_event(event, args.output), flush=True)
            except KeyboardInterrupt:
                print("\nstopping Dockyard", file=sys.stderr)
            finally:
                view.stop()
                projection_follower.stop()
                worker.join(timeout=5)
        finally:
            if db.embedded is not None:
                db.embedded.stop()
    return 0
