"""`dockyard controllers`: run the controller manager and the scheduler against the database.

Several may run on one database: one leads (a PostgreSQL advisory lock), the others wait and
take over within a few seconds when it dies.
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from dockyard.cli.context import open_database
from dockyard.controllers.manager import ControllerManager
from dockyard.settings import Settings


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "controllers",
        help="run the controllers and the scheduler (leader-elected)",
        description="Run the ReplicaSet, Deployment, DaemonSet, namespace, garbage-collection "
        "and node-lifecycle controllers and the scheduler until interrupted. Only the leader "
        "acts; others stand by.",
    )
    parser.add_argument("--identity", default=None, help="name shown for this control plane")
    parser.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with open_database(settings) as db:
        manager = ControllerManager(db.store, db.url, settings, identity=args.identity).start()
        print(f"controllers: {manager.identity} waiting for leadership", flush=True)
        leading = False
        while not stop.wait(0.2):
            if manager.is_leader != leading:
                leading = manager.is_leader
                state = "leading" if leading else "standing by"
                print(f"controllers: {manager.identity} {state}", flush=True)
        manager.stop()
    return 0
