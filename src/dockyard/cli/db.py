"""`dockyard db`: schema migrations."""

from __future__ import annotations

import argparse
from typing import Any

from dockyard.cli.context import open_database
from dockyard.settings import Settings
from dockyard.store import migrations


def add_parser(subparsers: Any) -> None:
    db = subparsers.add_parser("db", help="manage the database schema")
    sub = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    up = sub.add_parser("upgrade", help="apply migrations (default: up to the newest)")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(handler=upgrade_command)
    down = sub.add_parser(
        "downgrade",
        help="revert migrations to REVISION ('base' drops every Dockyard table and the log)",
    )
    down.add_argument("revision")
    down.add_argument("--yes", action="store_true", help="confirm: data in dropped tables is lost")
    down.set_defaults(handler=downgrade_command)
    current = sub.add_parser("current", help="show the schema revision and the one needed")
    current.set_defaults(handler=current_command)
    from dockyard.cli.audit import register_db_commands

    register_db_commands(sub)  # dockyard db grant-auditor --user NAME


def upgrade_command(args: argparse.Namespace, settings: Settings) -> int:
    with open_database(settings, require_schema=False) as db:
        before = migrations.current_revision(db.engine)
        migrations.upgrade(db.engine, args.revision)
        after = migrations.current_revision(db.engine)
    print(
        f"database schema: {before or 'empty'} -> {after}"
        if before != after
        else f"database schema is up to date ({after})"
    )
    return 0


def downgrade_command(args: argparse.Namespace, settings: Settings) -> int:
    if not args.yes:
        print(f"error: downgrading to {args.revision} drops tables; add --yes to confirm")
        return 1
    with open_database(settings, require_schema=False) as db:
        migrations.downgrade(db.engine, args.revision)
        print(f"database schema: {migrations.current_revision(db.engine) or 'empty'}")
    return 0


def current_command(args: argparse.Namespace, settings: Settings) -> int:
    with open_database(settings, require_schema=False) as db:
        current = migrations.current_revision(db.engine)
    head = migrations.head_revision()
    state = "up to date" if current == head else "behind: run `dockyard db upgrade`"
    print(f"current: {current or 'empty'}\nneeded:  {head}\n{state}")
    return 0 if current == head else 1
