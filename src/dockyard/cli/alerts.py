"""`dockyard alerts` (recent alerts and their delivery), `alerts test ROUTE`, `alerts retry`,
and `dockyard notifier` (the log consumer and its Slack senders)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from dockyard.cli.context import open_database
from dockyard.notify import render
from dockyard.notify.service import NotifierService, TokenStore
from dockyard.notify.tables import destination_of, load_routes
from dockyard.notify.transport import DeliveryError, SlackWebApi, send_webhook
from dockyard.settings import Settings


def add_parser(subparsers: Any) -> None:
    alerts = subparsers.add_parser(
        "alerts",
        help="list recent alerts and their Slack delivery state",
        description="Recent alerts (newest first) with their delivery state: pending, sent, "
        "dead (a dead letter: Slack refused it for good, see the error), superseded.",
    )
    alerts.add_argument("--limit", type=int, default=30)
    alerts.add_argument("--state", choices=["pending", "sent", "dead", "superseded"], default=None)
    alerts.set_defaults(handler=list_command)
    sub = alerts.add_subparsers(dest="alerts_command", metavar="COMMAND")
    test = sub.add_parser("test", help="post a test message through a route, print Slack's answer")
    test.add_argument("route", metavar="ROUTE", help="the AlertRoute's name")
    test.set_defaults(handler=test_command)
    retry = sub.add_parser("retry", help="send dead letters again (after fixing the cause)")
    retry.add_argument("ids", nargs="*", type=int, metavar="ID")
    retry.add_argument("--all-dead", action="store_true", help="every dead letter")
    retry.set_defaults(handler=retry_command)

    notifier = subparsers.add_parser(
        "notifier",
        help="run the alert notifier and its Slack senders until stopped",
        description="Follows the event log, turns failures matched by AlertRoutes into "
        "outbox rows and delivers them to Slack (DOCKYARD_SLACK_TOKEN[_FILE], "
        "DOCKYARD_SLACK_API_URL).",
    )
    notifier.set_defaults(handler=notifier_command)


def list_command(args: argparse.Namespace, settings: Settings) -> int:
    where = "WHERE state = %s" if args.state else ""
    params: tuple[Any, ...] = (args.state,) if args.state else ()
    with open_database(settings) as db, db.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, created_at, route, kind, state, coalesce(target, ''), attempts, "
            f"coalesce(last_error, ''), coalesce(ts, ''), coalesce(summary, '') "
            f"FROM alert_deliveries {where} ORDER BY id DESC LIMIT %s",
            (*params, args.limit),
        ).fetchall()
    print(
        f"{'ID':>6}  {'CREATED':19}  {'ROUTE':16}  {'KIND':7}  {'STATE':10}  {'TARGET':14}  "
        "TRIES  DETAIL"
    )
    for row in rows:
        detail = row[7] or row[9]
        print(
            f"{row[0]:>6}  {row[1]:%Y-%m-%d %H:%M:%S}  {row[2][:16]:16}  {row[3]:7}  "
            f"{row[4]:10}  {row[5][:14]:14}  {row[6]:>5}  {render.truncate(detail, 70)}"
        )
    return 0


def retry_command(args: argparse.Namespace, settings: Settings) -> int:
    if not args.ids and not args.all_dead:
        print("error: name dead letter ids, or --all-dead", file=sys.stderr)
        return 1
    with open_database(settings) as db, db.engine.begin() as conn:
        clause = "" if args.all_dead else "AND id = ANY(%s)"
        params: tuple[Any, ...] = () if args.all_dead else (list(args.ids),)
        count = conn.exec_driver_sql(
            "UPDATE notify_outbox SET state = 'pending', run_at = now() "
            f"WHERE state = 'dead' {clause}",
            params,
        ).rowcount
    print(f"{count} dead letter(s) queued again")
    return 0


def test_command(args: argparse.Namespace, settings: Settings) -> int:
    with open_database(settings) as db, db.engine.connect() as conn:
        routes = {r.metadata.name: r for r in load_routes(conn)}
    route = routes.get(args.route)
    if route is None:
        known = ", ".join(sorted(n for n in routes if n)) or "none"
        print(f"error: no AlertRoute named {args.route!r} (known: {known})", file=sys.stderr)
        return 1
    destination = destination_of(route)
    message = render.render_test(args.route)
    try:
        if destination["type"] == "webhook":
            send_webhook(destination["url"], message, settings.slack_timeout_seconds)
            print(f"ok: webhook at {destination['url_host']} answered ok")
            return 0
        token = TokenStore(settings)(destination.get("tokenSecret"))
        if not token:
            print(
                "error: missing_token: set DOCKYARD_SLACK_TOKEN or DOCKYARD_SLACK_TOKEN_FILE "
                "(or the route's tokenSecret file)",
                file=sys.stderr,
            )
            return 1
        api = SlackWebApi(token, settings.slack_api_url, settings.slack_timeout_seconds)
        done = api.post(destination["channel"], message, [f"test:{args.route}"], None)
    except DeliveryError as error:
        print(f"error: Slack answered {error.error}", file=sys.stderr)
        return 1
    print(f"ok: posted to channel {done.channel_id} (ts {done.ts})")
    return 0


def notifier_command(args: argparse.Namespace, settings: Settings) -> int:
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with open_database(settings) as db:
        service = NotifierService(db.engine, db.store, db.url, settings)
        service.start()
        print("notifier running", flush=True)
        try:
            stopped.wait()
        except KeyboardInterrupt:
            pass
        finally:
            service.stop()
    return 0
