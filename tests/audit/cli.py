"""Run `dockyard audit|history` through this module's own parser, as cli/main.py does."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from dockyard.cli import audit
from dockyard.settings import Settings


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="dockyard")
    sub = parser.add_subparsers(dest="command", required=True)
    audit.add_parser(sub)
    db = sub.add_parser("db").add_subparsers(dest="db_command", required=True)
    audit.register_db_commands(db)
    args = parser.parse_args(list(argv))
    return int(args.handler(args, Settings()))
