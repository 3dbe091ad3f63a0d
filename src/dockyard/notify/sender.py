"""The outbox relay: claim rows, pace per channel, post, record, and never post twice.

Claiming: a row is locked ``FOR UPDATE SKIP LOCKED`` by a transaction that stays open for the
whole delivery, so a second sender skips it, and a sender that dies (even SIGKILL) releases
it at once, when PostgreSQL notices the dropped connection. Just before posting, the sender
records an attempt *from a separate connection* (committed at once): if it dies after that,
the next sender finds the attempt and searches the channel for the message's dedup key
(message metadata) before posting again. That is as close to exactly-once as Slack allows: a
message is posted again only if it is not in the channel.

Pacing: ``notify_channels.next_at`` hands out one slot per channel per interval to all senders
together (about one message per second, Slack's per-channel limit), and a 429 pushes the slot
and the row's ``run_at`` by ``Retry-After``. A burst of replies for one episode that piles up
behind the pacing is posted as one merged message.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import Connection, Engine, create_engine

from dockyard.notify import render
from dockyard.notify.transport import Delivered, DeliveryError, SlackApi, send_webhook

log = logging.getLogger(__name__)

MAX_MERGE = 20
# Wait for a pacing slot while holding the row only this long; longer waits release the row.
MAX_SLOT_WAIT = 5.0
HISTORY_WINDOW = timedelta(minutes=10)

TokenLookup = Callable[[str | None], str | None]
ApiFactory = Callable[[str], SlackApi]

_CLAIM = """
SELECT o.id, o.kind, o.episode_id, o.destination, o.body, o.created_at, o.dedup_key
  FROM notify_outbox o
 WHERE o.state = 'pending' AND o.run_at <= now()
   AND (o.kind IN ('root', 'message') OR EXISTS (
        SELECT 1 FROM notify_outbox r
         WHERE r.episode_id = o.episode_id AND r.kind = 'root' AND r.state <> 'pending'))
 ORDER BY o.run_at, o.id
 LIMIT 1
 FOR UPDATE OF o SKIP LOCKED
"""
_SIBLINGS = """
SELECT id, kind, episode_id, destination, body, created_at, dedup_key FROM notify_outbox
 WHERE episode_id = %s AND kind = %s AND state = 'pending' AND run_at <= now() AND id <> %s
 ORDER BY id LIMIT %s
 FOR UPDATE SKIP LOCKED
"""


@dataclass(frozen=True)
class Row:
    id: int
    kind: str
    episode_id: int | None
    destination: dict[str, Any]
    body: dict[str, Any]
    created_at: datetime
    dedup_key: str


class Sender:
    def __init__(
        self,
        engine: Engine,
        *,
        token_for: TokenLookup,
        api_for: ApiFactory,
        channel_interval: float = 1.0,
        timeout: float = 10.0,
    ) -> None:
        self.engine = engine
        self.token_for = token_for
        self.api_for = api_for
        self.channel_interval = channel_interval
        self.timeout = timeout
        # Attempts and pacing commit at once, outside the delivery's transaction.
        self._side = create_engine(engine.url, isolation_level="AUTOCOMMIT", pool_size=2)

    def dispose(self) -> None:
        self._side.dispose()

    def run_once(self) -> bool:
        """Deliver one claimable row (with its mergeable siblings); False if none was due."""
        with self.engine.begin() as conn:
            found = conn.exec_driver_sql(_CLAIM).first()
            if found is None:
                return False
            row = Row(*found)
            rows = [row]
            if row.kind in ("reply", "update") and row.episode_id is not None:
                limit = MAX_MERGE - 1 if row.kind == "reply" else 1000
                more = conn.exec_driver_sql(
                    _SIBLINGS, (row.episode_id, row.kind, row.id, limit)
                ).fetchall()
                rows += [Row(*r) for r in more]
            try:
                self._deliver(conn, rows)
            except DeliveryError as error:
                self._failed(conn, rows, error)
            return True

    # -- delivery -------------------------------------------------------------------------

    def _deliver(self, conn: Connection, rows: list[Row]) -> None:
        first = rows[0]
        destination = first.destination
        kind = destination.get("type")
        if kind == "webhook":
            self._deliver_webhook(conn, rows)
            return
        if kind != "slack":
            raise DeliveryError(f"no_destination: {destination}", "dead")
        token = self.token_for(destination.get("tokenSecret"))
        if not token:
            secret = destination.get("tokenSecret")
            raise DeliveryError(
                f"missing_token: token file {secret!r} not found in DOCKYARD_SLACK_SECRETS_DIR"
                if secret
                else "missing_token: set DOCKYARD_SLACK_TOKEN or DOCKYARD_SLACK_TOKEN_FILE",
                "dead",
            )
        api = self.api_for(token)
        channel = str(destination.get("channel"))
        thread_ts: str | None = None
        root_channel: str | None = None
        if first.kind in ("reply", "update"):
            root = conn.exec_driver_sql(
                "SELECT state, channel_id, ts, last_error FROM notify_outbox "
                "WHERE episode_id = %s AND kind = 'root'",
                (first.episode_id,),
            ).one()
            if root[0] != "sent" or not root[2]:
                raise DeliveryError(f"root_not_delivered: {root[3] or root[0]}", "dead")
            root_channel, thread_ts = str(root[1]), str(root[2])
        if first.kind == "update":
            # Updates are idempotent and only the newest matters: send it, supersede the rest.
            newest = max(rows, key=lambda r: r.id)
            self._pace(_pace_key(newest))
            assert root_channel is not None and thread_ts is not None
            done = api.update(root_channel, thread_ts, newest.body)
            self._record(conn, [newest], done)
            self._supersede(conn, [r for r in rows if r is not newest])
            return
        pending = self._already_posted(conn, api, rows, channel, root_channel, thread_ts)
        if not pending:
            return
        body = render.merge_replies([r.body for r in pending])
        self._pace(_pace_key(first))
        self._attempt(pending)
        target = root_channel or channel
        done = api.post(target, body, [r.dedup_key for r in pending], thread_ts)
        self._record(conn, pending, done)

    def _deliver_webhook(self, conn: Connection, rows: list[Row]) -> None:
        if rows[0].kind == "update":
            self._supersede(conn, rows, reason="webhooks cannot update a message")
            return
        url = str(rows[0].destination.get("url"))
        self._pace(_pace_key(rows[0]))
        self._attempt(rows)
        done = send_webhook(url, render.merge_replies([r.body for r in rows]), self.timeout)
        self._record(conn, rows, done)

    def _already_posted(
        self,
        conn: Connection,
        api: SlackApi,
        rows: list[Row],
        channel: str,
        channel_id: str | None,
        thread_ts: str | None,
    ) -> list[Row]:
        """Rows whose earlier attempt may have landed are looked up in Slack first."""
        tried = {
            int(r[0])
            for r in conn.exec_driver_sql(
                "SELECT DISTINCT outbox_id FROM notify_attempts WHERE outbox_id = ANY(%s)",
                ([r.id for r in rows],),
            ).fetchall()
        }
        if not tried:
            return rows
        known_id = channel_id or self._channel_id(conn, channel)
        if known_id is None:
            log.warning(
                "cannot check channel %s for an uncertain delivery (its id is unknown; name "
                "channels by id for strict de-duplication); posting again",
                channel,
            )
            return rows
        pending: list[Row] = []
        for row in rows:
            if row.id not in tried:
                pending.append(row)
                continue
            oldest = (row.created_at - HISTORY_WINDOW).timestamp()
            ts = api.find(known_id, row.dedup_key, thread_ts=thread_ts, oldest=oldest)
            if ts is None:
                pending.append(row)
            else:
                log.info("outbox %s was already posted (ts %s); not posting again", row.id, ts)
                self._record(conn, [row], Delivered(known_id, ts))
        return pending

    # -- bookkeeping ----------------------------------------------------------------------

    def _attempt(self, rows: Sequence[Row]) -> None:
        with self._side.connect() as side:
            side.exec_driver_sql(
                "INSERT INTO notify_attempts (outbox_id) SELECT unnest(%s::bigint[])",
                ([r.id for r in rows],),
            )

    def _pace(self, channel: str) -> None:
        """Take this channel's next slot, waiting for it (or give the row back if far off)."""
        interval = timedelta(seconds=self.channel_interval)
        with self._side.connect() as side:
            side.exec_driver_sql(
                "INSERT INTO notify_channels (channel) VALUES (%s) ON CONFLICT DO NOTHING",
                (channel,),
            )
            slot, now = side.exec_driver_sql(
                "UPDATE notify_channels SET next_at = greatest(next_at, clock_timestamp()) + %s "
                "WHERE channel = %s RETURNING next_at - %s, clock_timestamp()",
                (interval, channel, interval),
            ).one()
        wait = (slot - now).total_seconds()
        if wait > MAX_SLOT_WAIT:
            raise DeliveryError(f"paced: channel {channel} busy", "later", wait)
        if wait > 0:
            time.sleep(wait)

    def _channel_id(self, conn: Connection, channel: str) -> str | None:
        if channel[:1] in ("C", "G", "D") and channel.isupper():
            return channel
        row = conn.exec_driver_sql(
            "SELECT channel_id FROM notify_channels WHERE channel = %s", (channel,)
        ).first()
        return str(row[0]) if row and row[0] else None

    def _record(self, conn: Connection, rows: Sequence[Row], done: Delivered) -> None:
        conn.exec_driver_sql(
            "UPDATE notify_outbox SET state = 'sent', channel_id = %s, ts = %s, "
            "sent_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = ANY(%s)",
            (done.channel_id, done.ts, [r.id for r in rows]),
        )
        channel = rows[0].destination.get("channel")
        if done.channel_id and channel:
            with self._side.connect() as side:
                side.exec_driver_sql(
                    "INSERT INTO notify_channels (channel, channel_id) VALUES (%s, %s) "
                    "ON CONFLICT (channel) DO UPDATE SET channel_id = excluded.channel_id",
                    (channel, done.channel_id),
                )

    def _supersede(self, conn: Connection, rows: Sequence[Row], reason: str | None = None) -> None:
        if rows:
            conn.exec_driver_sql(
                "UPDATE notify_outbox SET state = 'superseded', last_error = %s WHERE id = ANY(%s)",
                (reason, [r.id for r in rows]),
            )

    def _failed(self, conn: Connection, rows: list[Row], error: DeliveryError) -> None:
        ids = [r.id for r in rows]
        if error.action in ("wait", "later"):
            # Not posted (a 429 is a definite no): retry at the slot, without counting a failure.
            delay = (error.retry_after or 1.0) + random.uniform(0, 0.25)
            if error.action == "wait":
                self._push_channel(rows[0], delay)
            conn.exec_driver_sql(
                "UPDATE notify_outbox SET run_at = now() + %s, last_error = %s WHERE id = ANY(%s)",
                (timedelta(seconds=delay), error.error, ids),
            )
            return
        if error.action == "shrink" and any(r.body.get("blocks") for r in rows):
            log.warning("Slack refused %s (%s); retrying as plain text", ids, error.error)
            for row in rows:
                conn.exec_driver_sql(
                    "UPDATE notify_outbox SET body = %s, last_error = %s WHERE id = %s",
                    (Jsonb(render.text_only(row.body)), error.error, row.id),
                )
            return
        if error.action == "check":
            attempts = max(self._attempt_count(conn, ids), 1)
            delay = min(60.0, 0.5 * 2 ** (attempts - 1)) + random.uniform(0, 0.25)
            log.warning(
                "delivery of %s uncertain (%s); checking again in %.1fs", ids, error.error, delay
            )
            conn.exec_driver_sql(
                "UPDATE notify_outbox SET run_at = now() + %s, attempts = attempts + 1, "
                "last_error = %s WHERE id = ANY(%s)",
                (timedelta(seconds=delay), error.error, ids),
            )
            return
        log.error("alert delivery %s failed permanently: %s (dead letter)", ids, error.error)
        conn.exec_driver_sql(
            "UPDATE notify_outbox SET state = 'dead', attempts = attempts + 1, last_error = %s "
            "WHERE id = ANY(%s)",
            (error.error, ids),
        )

    def _attempt_count(self, conn: Connection, ids: list[int]) -> int:
        return int(
            conn.exec_driver_sql(
                "SELECT coalesce(max(attempts), 0) + 1 FROM notify_outbox WHERE id = ANY(%s)",
                (ids,),
            ).scalar_one()
        )

    def _push_channel(self, row: Row, delay: float) -> None:
        with self._side.connect() as side:
            side.exec_driver_sql(
                "UPDATE notify_channels SET next_at = greatest(next_at, clock_timestamp() + %s) "
                "WHERE channel = %s",
                (timedelta(seconds=delay), _pace_key(row)),
            )


def _pace_key(row: Row) -> str:
    """The pacing bucket: posts to a channel (Slack's ~1/s per channel), updates of messages
    in that channel (chat.update is a different method with its own limit: an update must not
    delay the next restart's reply), or a webhook's host."""
    destination = row.destination
    if destination.get("type") == "webhook":
        return f"webhook:{destination.get('url_host')}"
    channel = str(destination.get("channel"))
    return f"{channel}#update" if row.kind == "update" else channel


def now_utc() -> datetime:
    return datetime.now(UTC)
