"""`dockyard audit`, `dockyard audit verify`, `dockyard history` and `grant-auditor`.

``register_db_commands(db_subparsers)`` adds ``grant-auditor`` under ``dockyard db``; until
cli/db.py calls it, the same command is ``dockyard audit grant-auditor``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any, TextIO

import psycopg
from psycopg import sql

from dockyard.audit.queries import (
    AuditFilter,
    AuditInputError,
    audit_entries,
    history,
    is_namespaced,
    parse_columns,
    parse_time,
    resolve_kind,
)
from dockyard.audit.seals import verify
from dockyard.cli.context import open_database
from dockyard.settings import Settings
from dockyard.store.db import connect_raw

AUDITOR_ROLE = "dockyard_auditor"


def add_parser(subparsers: Any) -> None:
    audit = subparsers.add_parser(
        "audit",
        help="who changed what and when (the audit_log view)",
        description="Print changes to desired state, newest last. Times are ISO 8601, 'now', "
        "or an age like 15m, 2h, 7d.",
    )
    audit.add_argument("--actor")
    audit.add_argument("--kind", help="kind or resource name (deploy, pods, Deployment)")
    audit.add_argument("--namespace", "-n")
    audit.add_argument("--name")
    audit.add_argument("--verb", help="create, update, patch, delete, scale, rollback, apply")
    audit.add_argument("--since", help="only changes at or after this time")
    audit.add_argument("--until", help="only changes at or before this time")
    audit.add_argument("--limit", type=int, default=100, help="newest N changes (default 100)")
    audit.add_argument("--columns", help="comma-separated audit_log columns to print")
    audit.add_argument("-o", "--output", choices=["text", "json"], default="text")
    audit.set_defaults(handler=audit_command)
    sub = audit.add_subparsers(dest="audit_command", metavar="COMMAND")
    check = sub.add_parser(
        "verify",
        help="prove no event was altered or removed since it was sealed",
        description="Recompute the hash chain over the log and compare it with the seals.",
    )
    check.add_argument(
        "--expect-head",
        metavar="POSITION:HEX",
        help="a head printed by an earlier verify: prove the log before it is unchanged",
    )
    check.set_defaults(handler=verify_command)
    _add_grant_auditor(sub)

    hist = subparsers.add_parser(
        "history",
        help="every version of an object, with diffs and actors",
        description="A readable timeline of an object's versions (all objects that had the name).",
    )
    hist.add_argument("kind", metavar="KIND")
    hist.add_argument("name", metavar="NAME")
    hist.add_argument("--namespace", "-n", default=None, help="default: 'default' if namespaced")
    hist.add_argument("-o", "--output", choices=["text", "json"], default="text")
    hist.set_defaults(handler=history_command)


def register_db_commands(db_subparsers: Any) -> None:
    """For cli/db.py: ``dockyard db grant-auditor --user NAME``."""
    _add_grant_auditor(db_subparsers)


def _add_grant_auditor(sub: Any) -> None:
    grant = sub.add_parser(
        "grant-auditor",
        help=f"let a database user read the audit views (role {AUDITOR_ROLE}) and nothing else",
    )
    grant.add_argument("--user", required=True, help="an existing PostgreSQL login role")
    grant.set_defaults(handler=grant_auditor_command)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _format_changes(changes: list[dict[str, Any]], limit: int = 6) -> str:
    parts = [
        f"{c['path'] or '(object)'}: {json.dumps(c.get('old'))} -> {json.dumps(c.get('new'))}"
        for c in changes[:limit]
    ]
    if len(changes) > limit:
        parts.append(f"... {len(changes) - limit} more")
    return "; ".join(parts)


def audit_command(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        columns = parse_columns(args.columns)
        where = AuditFilter(
            actor=args.actor,
            kind=resolve_kind(args.kind) if args.kind else None,
            namespace=args.namespace,
            name=args.name,
            verb=args.verb,
            since=parse_time(args.since, field="--since") if args.since else None,
            until=parse_time(args.until, field="--until") if args.until else None,
        )
        if args.limit < 1:
            raise AuditInputError("--limit must be at least 1")
    except AuditInputError as exc:
        return _fail(str(exc))
    with open_database(settings) as db, db.engine.connect() as conn:
        rows = audit_entries(conn, where, columns=columns, limit=args.limit)
    if args.output == "json":
        for row in rows:
            print(json.dumps(row, default=_json_default, sort_keys=True), file=out)
        return 0
    for row in rows:
        fields = []
        for column in columns:
            value = row[column]
            if column == "changes":
                value = _format_changes(value or [])
            elif isinstance(value, datetime):
                value = value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            elif isinstance(value, list):
                value = ",".join(str(v) for v in value)
            fields.append("-" if value in (None, "") else str(value))
        print("  ".join(fields), file=out)
    return 0


def history_command(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        kind = resolve_kind(args.kind)
    except AuditInputError as exc:
        return _fail(str(exc))
    namespace = (args.namespace or "default") if is_namespaced(kind) else ""
    with open_database(settings) as db, db.engine.connect() as conn:
        versions = history(conn, kind, namespace, args.name)
    where = f"{namespace}/" if namespace else ""
    if not versions:
        return _fail(f"{kind} {where}{args.name} has no history (it never existed)")
    if args.output == "json":
        for v in versions:
            record = {
                "position": v.position,
                "time": v.time.isoformat(),
                "uid": v.uid,
                "version": v.version,
                "event_type": v.event_type,
                "actor": v.actor,
                "verb": v.verb,
                "changes": v.changes,
                "object": v.object,
            }
            print(json.dumps(record, sort_keys=True), file=out)
        return 0
    print(f"{kind} {where}{args.name}", file=out)
    for v in versions:
        when = v.time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        print(
            f"  rv {v.position:<8} {when}  {v.event_type:<23} by {v.actor or '-'}"
            f" ({v.verb or '-'})  uid {v.uid[:8]} v{v.version}",
            file=out,
        )
        for change in v.changes if v.event_type != "ObjectCreated" else []:
            path = change["path"] or "(object)"
            old, new = json.dumps(change.get("old")), json.dumps(change.get("new"))
            print(f"      {path}: {old} -> {new}", file=out)
    return 0


def verify_command(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    expect: tuple[int, bytes] | None = None
    if args.expect_head:
        position, _, digest = args.expect_head.partition(":")
        try:
            expect = (int(position), bytes.fromhex(digest))
        except ValueError:
            return _fail(
                f"--expect-head: {args.expect_head!r} is not POSITION:HEX as printed by verify"
            )
    with open_database(settings) as db, db.engine.connect() as conn:
        result = verify(conn, expect_head=expect)
    for problem in result.problems:
        print(f"TAMPERED: {problem}", file=out)
    state = "OK" if result.ok else "FAILED"
    print(
        f"{state}: {result.checked} sealed events checked; {result.unsealed} newer events not "
        f"sealed yet; head {result.head}",
        file=out,
    )
    return 0 if result.ok else 1


def grant_auditor_command(
    args: argparse.Namespace, settings: Settings, out: TextIO | None = None
) -> int:
    out = out or sys.stdout
    with open_database(settings) as db, connect_raw(db.url) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (args.user,)).fetchone()
        if exists is None:
            return _fail(
                f"database user {args.user!r} does not exist; create it first, e.g. "
                f"CREATE ROLE \"{args.user}\" LOGIN PASSWORD '...'"
            )
        try:
            user = sql.Identifier(args.user)
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(AUDITOR_ROLE), user))
            # Role settings are not inherited through membership: set it on the user too.
            conn.execute(
                sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(user)
            )
        except psycopg.errors.InsufficientPrivilege as exc:
            return _fail(f"not allowed to grant {AUDITOR_ROLE}: {str(exc).strip()}")
    print(
        f"{args.user} can now read audit_log, object_history, pod_restarts, container_runs and "
        "node_events (and nothing else)",
        file=out,
    )
    return 0
