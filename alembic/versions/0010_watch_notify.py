"""Object events notify the watch hubs with the event itself, on a channel of their own.

Revision ID: 0010_watch_notify
Revises: 0009_lean_single_writes
Create Date: 2026-11-26

The watch hub (server/loghub.py) used to wake on ``dockyard_events`` (a payload-free wake-up)
and then read what was appended: a second round trip on the path from a commit to a watcher,
6-7 ms of the 50 ms write-to-watch delay at 20 clients on a saturated machine, and a read per
commit in every server process. Now each object event also sends ``dockyard_watch`` with
``<position>|{"type", "object", "before"}``, where ``before`` is the object's state before an
update (the stream's previous object event, read from the (stream_id, version) index: the read
each hub used to make, made once). An event whose text would not fit a notification (8,000
bytes) sends ``<position>`` alone, and the hub reads that one from the log.

Why a hub may trust the payloads: appends hold the append lock until commit, so positions are
in commit order; PostgreSQL delivers a listening connection every notification of every
transaction that commits after its LISTEN, in commit order, and drops those of a subtransaction
that rolls back (a group-commit write that failed). A hub that loses its connection starts
afresh from the log's head, and watchers behind it read the log themselves, as before.

Only the hubs listen on ``dockyard_watch``; followers keep their payload-free wake-up, so they do
not receive every object's text.

Measured (bench/api, 20 clients, medians of 3 runs, before and after in the same session):
write-to-watch p50 51.1 and 49.5 ms before, 37.6 and 32.6 ms after; from ``recorded_at`` 26.9
and 25.6 before, 16.0 and 16.5 after.

The price is paid by every object event, inside the append lock. bench/append's 100-event
transactions, trigger on and off interleaved (3 rounds of 3 runs, medians): 6,702 events/s with
it against 7,607 without, about 18 µs per event. The first text of this trigger (a PERFORM, and
the update's look-up as a subquery inside the payload's expression, so every call ran the
executor twice) cost about 43 µs (5,731 against 7,607); it was amended here, before any release,
and a database that ran the first text behaves the same. A one-event write costs about 1 ms on
this machine, so it pays about 2 %.
"""

from alembic import op

revision = "0010_watch_notify"
down_revision = "0009_lean_single_writes"
branch_labels = None
depends_on = None

_WATCH_TYPES = (
    "ObjectCreated",
    "ObjectUpdated",
    "ObjectStatusUpdated",
    "ObjectDeletionRequested",
    "ObjectDeleted",
)
_TYPES_SQL = ", ".join(f"'{t}'" for t in _WATCH_TYPES)

# PostgreSQL refuses a payload of 8,000 bytes or more; keep a margin for the position prefix.
# Creations and deletions, the common case, run only simple expressions, which PL/pgSQL evaluates
# without the executor (the NOTIFY too: an assignment, not a PERFORM); only an update's look-up
# of its previous state is a query. That halves the trigger's cost (see the docstring).
_NOTIFY = f"""
CREATE FUNCTION dockyard_watch_notify() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    v_before  jsonb;
    v_payload text;
BEGIN
    IF NEW.type <> 'ObjectCreated' AND NEW.type <> 'ObjectDeleted' THEN
        SELECT p.data -> 'object' INTO v_before FROM events p
        WHERE p.stream_id = NEW.stream_id AND p.version < NEW.version
          AND p.type IN ({_TYPES_SQL})
        ORDER BY p.version DESC LIMIT 1;
    END IF;
    v_payload := NEW.position::text || '|' || json_build_object(
        'type', NEW.type, 'object', NEW.data -> 'object', 'before', v_before)::text;
    IF octet_length(v_payload) >= 7900 THEN
        v_payload := NEW.position::text;
    END IF;
    v_payload := pg_notify('dockyard_watch', v_payload)::text;
    RETURN NULL;
END
$fn$
"""

_TRIGGER = f"""
CREATE TRIGGER events_watch_notify AFTER INSERT ON events
FOR EACH ROW WHEN (NEW.type IN ({_TYPES_SQL}))
EXECUTE FUNCTION dockyard_watch_notify()
"""


def upgrade() -> None:
    op.execute(_NOTIFY)
    op.execute(_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS events_watch_notify ON events")
    op.execute("DROP FUNCTION IF EXISTS dockyard_watch_notify()")
