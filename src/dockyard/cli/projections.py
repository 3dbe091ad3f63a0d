"""`dockyard projections`: inspect and rebuild read models."""

from __future__ import annotations

import argparse
import time
from typing import Any

from dockyard.cli.context import open_database
from dockyard.settings import Settings
from dockyard.store.projections import ProjectionRunner
from dockyard.store.registry import all_projections


def add_parser(subparsers: Any) -> None:
    projections = subparsers.add_parser("projections", help="inspect and rebuild read models")
    sub = projections.add_subparsers(dest="projections_command", required=True, metavar="COMMAND")
    rebuild = sub.add_parser(
        "rebuild",
        help="empty read models and replay the whole log into them",
        description="Rebuild one or all projections by replaying the log, each in one "
        "transaction (readers see the old tables until it commits).",
    )
    rebuild.add_argument("names", nargs="*", metavar="NAME", help="default: all projections")
    rebuild.set_defaults(handler=rebuild_command)
    status = sub.add_parser("status", help="each projection's checkpoint and its lag")
    status.set_defaults(handler=status_command)


def rebuild_command(args: argparse.Namespace, settings: Settings) -> int:
    with open_database(settings) as db:
        runner = ProjectionRunner(
            db.engine,
            db.store,
            all_projections(),
            batch_size=settings.projection_batch_size,
            rebuild_batch_size=settings.projection_rebuild_batch_size,
        )
        chosen = [runner.get(name) for name in args.names] or runner.projections
        for projection in chosen:
            started = time.perf_counter()
            applied = runner.rebuild(projection)
            seconds = time.perf_counter() - started
            print(f"{projection.name}: replayed {applied} events in {seconds:.2f}s")
    return 0


def status_command(args: argparse.Namespace, settings: Settings) -> int:
    with open_database(settings) as db:
        runner = ProjectionRunner(db.engine, db.store, all_projections())
        head = db.store.head_position()
        print(f"{'PROJECTION':<20} {'POSITION':>10} {'LAG':>8}")
        for name, position in runner.positions().items():
            print(f"{name:<20} {position:>10} {head - position:>8}")
    return 0
