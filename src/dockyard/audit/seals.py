"""Integrity: a SHA-256 hash chain over the log, sealed asynchronously and verified on demand.

Each event's digest covers every column (position, event_id, stream_id, version, type,
schema_version, data, metadata, recorded_at; see ``dockyard_event_digest`` in migration
0002_audit). The chain value of position n is ``sha256(chain(previous sealed event) || digest)``.
Sealing runs as a projection, after the fact, so appends do not wait for it; position order is
commit order, so no event can later appear below a sealed position.

``verify`` recomputes both from the events table and reports, by position, an event that was
altered (digest differs), removed (a seal without its event), slipped in (an event inside the
sealed range that was never sealed), or a seal that was itself rewritten (chain differs). An
attacker who rewrites events *and* re-seals everything after them defeats any check done inside
one database: record the head (``position:chain``) that ``dockyard audit verify`` prints
somewhere else, and pass it back with ``--expect-head`` to prove the log only grew since.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection

from dockyard.store.projections import EventBatch

GENESIS = bytes(32)
_DIGEST = (
    "dockyard_event_digest(e.position, e.event_id, e.stream_id, e.version, e.type, "
    "e.schema_version, e.data, e.metadata, e.recorded_at)"
)


def chain_next(previous: bytes, digest: bytes) -> bytes:
    return hashlib.sha256(previous + digest).digest()


def _chain_before(conn: Connection, position: int) -> bytes:
    row = conn.exec_driver_sql(
        "SELECT chain FROM event_seals WHERE position <= %s ORDER BY position DESC LIMIT 1",
        (position,),
    ).first()
    return bytes(row[0]) if row else GENESIS


class SealsProjection:
    """``event_seals``: the hash chain. Rebuilding it re-bases trust on the log as it is now."""

    name = "event_seals"
    tables: Sequence[str] = ("event_seals",)
    event_types: Sequence[str] | None = None

    def apply(self, conn: Connection, batch: EventBatch) -> None:
        rows = conn.exec_driver_sql(
            f"SELECT e.position, {_DIGEST} FROM events e "
            "WHERE e.position > %s AND e.position <= %s ORDER BY e.position",
            (batch.after, batch.until),
        ).fetchall()
        if not rows:
            return
        chain = _chain_before(conn, batch.after)
        positions, digests, chains = [], [], []
        for position, digest in rows:
            chain = chain_next(chain, bytes(digest))
            positions.append(position)
            digests.append(bytes(digest))
            chains.append(chain)
        conn.exec_driver_sql(
            "INSERT INTO event_seals (position, digest, chain) "
            "SELECT * FROM unnest(%s::bigint[], %s::bytea[], %s::bytea[]) "
            "ON CONFLICT (position) DO NOTHING",
            (positions, digests, chains),
        )


@dataclass
class Verification:
    checked: int = 0
    sealed_head: int = 0
    head_chain: bytes = GENESIS
    unsealed: int = 0
    problems: list[str] = field(default_factory=list)
    expected_head_ok: bool | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.expected_head_ok is not False

    @property
    def head(self) -> str:
        return f"{self.sealed_head}:{self.head_chain.hex()}"


def verify(
    conn: Connection,
    *,
    chunk: int = 50_000,
    max_problems: int = 20,
    expect_head: tuple[int, bytes] | None = None,
) -> Verification:
    """Recompute every digest and the chain; compare with the seals. Reads, never writes."""
    result = Verification()
    sealed_head = conn.exec_driver_sql("SELECT coalesce(max(position), 0) FROM event_seals")
    result.sealed_head = int(sealed_head.scalar_one())
    log_head = conn.exec_driver_sql("SELECT coalesce(max(position), 0) FROM events").scalar_one()
    result.unsealed = int(
        conn.exec_driver_sql(
            "SELECT count(*) FROM events WHERE position > %s", (result.sealed_head,)
        ).scalar_one()
    )
    chain = GENESIS
    start = 0
    while start < result.sealed_head:
        stop = min(start + chunk, result.sealed_head)
        rows = conn.exec_driver_sql(
            f"""
            SELECT coalesce(e.position, s.position), CASE WHEN e.position IS NOT NULL
                   THEN {_DIGEST} END, s.digest, s.chain
              FROM (SELECT * FROM events WHERE position > %(a)s AND position <= %(b)s) e
              FULL JOIN (SELECT * FROM event_seals WHERE position > %(a)s AND position <= %(b)s) s
                ON s.position = e.position
             ORDER BY 1
            """,
            {"a": start, "b": stop},
        ).fetchall()
        for position, actual, sealed, sealed_chain in rows:
            result.checked += 1
            if sealed is None:
                result.problems.append(
                    f"position {position}: event is inside the sealed range but was never "
                    "sealed (inserted after sealing)"
                )
                continue
            if actual is None:
                result.problems.append(f"position {position}: sealed event was removed")
            elif bytes(actual) != bytes(sealed):
                result.problems.append(f"position {position}: event was altered after sealing")
            chain = chain_next(chain, bytes(sealed))
            if chain != bytes(sealed_chain):
                result.problems.append(f"position {position}: seal chain does not match")
                chain = bytes(sealed_chain)  # report each broken link once
            if len(result.problems) >= max_problems:
                result.problems.append("... (stopped after the first problems)")
                result.head_chain = chain
                return result
        start = stop
    result.head_chain = chain
    if expect_head is not None:
        position, expected = expect_head
        if position > result.sealed_head or position > int(log_head):
            result.expected_head_ok = False
            result.problems.append(
                f"expected head at position {position}, but the log is sealed only to "
                f"{result.sealed_head}: events were removed"
            )
        else:
            row = conn.exec_driver_sql(
                "SELECT chain FROM event_seals WHERE position = %s", (position,)
            ).first()
            result.expected_head_ok = row is not None and bytes(row[0]) == expected
            if not result.expected_head_ok:
                result.problems.append(
                    f"the chain at position {position} is not the recorded one: the log "
                    "before it was rewritten and re-sealed"
                )
    return result
