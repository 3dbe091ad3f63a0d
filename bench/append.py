"""Append throughput: Dockyard's event log beside raw psycopg and the eventsourcing library.

Run: .venv/bin/python -m bench.append [--events N] [--runs R]
(needs `pip install -e .[bench]` for eventsourcing; uses DOCKYARD_DATABASE_URL or a throwaway
PostgreSQL with default durability). Prints medians over the runs, in events per second and as
a ratio to raw single-row inserts.

- raw: psycopg, one INSERT of a comparable row and one COMMIT per event (the floor), both
  as INSERT + COMMIT and as an autocommit INSERT (one round trip, the fastest raw path)
- dockyard x1: EventStore.append of one event per transaction (expected version checked)
- raw x100: 100 comparable rows per transaction, pipelined executemany and COPY (the floor
  for the batched case)
- dockyard x100: 100 events per transaction
- eventsourcing x1: PostgresApplicationRecorder.insert_events of one event per transaction
- rebuild: replaying the log into the objects read model
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy.engine import make_url

from bench._db import bench_database
from dockyard.store import migrations
from dockyard.store.db import libpq_url, make_engine
from dockyard.store.event_types import ObjectCreated, ObjectPayload, ObjectUpdated
from dockyard.store.events import EventStore, new_event
from dockyard.store.objects import ObjectsProjection
from dockyard.store.projections import ProjectionRunner


def pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "busybox:latest"}]},
    }


def measure(runs: int, events: int, fn: Callable[[int], None]) -> float:
    """Median events per second of ``fn(events)`` over ``runs`` runs."""
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        fn(events)
        rates.append(events / (time.perf_counter() - started))
    return statistics.median(rates)


def raw_connection(url: str, *, autocommit: bool) -> psycopg.Connection[Any]:
    """A plain psycopg connection, and the raw cases' table: the events table's columns and
    unique keys, without Dockyard's lock, triggers, NOTIFY or audit indexes."""
    conn = psycopg.connect(libpq_url(url), autocommit=autocommit)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS raw_events (position bigserial PRIMARY KEY, "
        "event_id uuid UNIQUE, stream_id text, version bigint, type text, data jsonb, "
        "metadata jsonb, recorded_at timestamptz DEFAULT now(), UNIQUE (stream_id, version))"
    )
    conn.commit()
    return conn


def raw_inserts(url: str, *, autocommit: bool) -> Callable[[int], None]:
    conn = raw_connection(url, autocommit=autocommit)
    counter = iter(range(10**9))
    prefix = "a" if autocommit else "c"

    def run(n: int) -> None:
        for _ in range(n):
            i = f"{prefix}{next(counter)}"
            conn.execute(
                "INSERT INTO raw_events (event_id, stream_id, version, type, data, metadata) "
                "VALUES (%s, %s, 1, 'ObjectCreated', %s, %s)",
                (uuid.uuid4(), i, Jsonb({"object": pod(i)}), Jsonb({"actor": "bench"})),
            )
            if not autocommit:
                conn.commit()

    return run


def raw_batches(url: str, per_tx: int, *, copy: bool) -> Callable[[int], None]:
    """The floor for many events per transaction: ``per_tx`` comparable rows and one COMMIT,
    as one pipelined ``executemany`` or as one ``COPY``."""
    conn = raw_connection(url, autocommit=False)
    counter = iter(range(10**9))
    prefix = "copy" if copy else "many"
    columns = "event_id, stream_id, version, type, data, metadata"

    def run(n: int) -> None:
        for _ in range(n // per_tx):
            rows = []
            for _ in range(per_tx):
                i = f"{prefix}{next(counter)}"
                event = Jsonb({"object": pod(i)})
                rows.append((uuid.uuid4(), i, 1, "ObjectCreated", event, Jsonb({"actor": "bench"})))
            with conn.cursor() as cur:
                if copy:
                    with cur.copy(f"COPY raw_events ({columns}) FROM STDIN") as stream:
                        for row in rows:
                            stream.write_row(row)
                else:
                    values = ", ".join(["%s"] * 6)
                    cur.executemany(f"INSERT INTO raw_events ({columns}) VALUES ({values})", rows)
            conn.commit()

    return run


def dockyard_appends(store: EventStore, per_tx: int) -> Callable[[int], None]:
    counter = iter(range(10**9))

    def run(n: int) -> None:
        for _ in range(n // per_tx):
            batch = []
            for _ in range(per_tx):
                stream = f"d{per_tx}-{next(counter)}"
                batch.append(
                    new_event(
                        ObjectCreated,
                        stream,
                        ObjectPayload(object=pod(stream)),
                        metadata={"actor": "bench"},
                    )
                )
            expected = {batch[0].stream_id: 0} if per_tx == 1 else None
            store.append(batch, expected=expected)

    return run


def eventsourcing_inserts(url: str) -> Callable[[int], None]:
    from eventsourcing.persistence import StoredEvent
    from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

    parsed = make_url(url)
    datastore = PostgresDatastore(
        dbname=parsed.database or "",
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "",
        password=parsed.password or "",
    )
    recorder = PostgresApplicationRecorder(datastore)
    recorder.create_table()

    def run(n: int) -> None:
        for i in range(n):
            state = json.dumps({"object": pod(f"e{i}")}).encode()
            recorder.insert_events([StoredEvent(uuid.uuid4(), 1, "bench:ObjectCreated", state)])

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000, help="events per run (x1 cases)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rebuild-events", type=int, default=50_000)
    args = parser.parse_args()
    with bench_database() as url:
        engine = make_engine(url)
        migrations.upgrade(engine)
        store = EventStore(engine)
        results: dict[str, float] = {}
        results["raw, insert + commit"] = measure(
            args.runs, args.events, raw_inserts(url, autocommit=False)
        )
        results["raw, autocommit insert"] = measure(
            args.runs, args.events, raw_inserts(url, autocommit=True)
        )
        results["dockyard, 1 event/tx"] = measure(
            args.runs, args.events, dockyard_appends(store, 1)
        )
        results["raw, 100 rows/tx, executemany"] = measure(
            args.runs, args.events * 10, raw_batches(url, 100, copy=False)
        )
        results["raw, 100 rows/tx, COPY"] = measure(
            args.runs, args.events * 10, raw_batches(url, 100, copy=True)
        )
        results["dockyard, 100 events/tx"] = measure(
            args.runs, args.events * 10, dockyard_appends(store, 100)
        )
        try:
            results["eventsourcing, 1 event/tx"] = measure(
                args.runs, args.events, eventsourcing_inserts(url)
            )
        except ImportError:
            print("(eventsourcing not installed: pip install -e .[bench])")
        # Rebuild: a log of --rebuild-events object events: 5,000 objects, each created once
        # and then updated, appended 500 events per transaction.
        objects = 5000
        for start in range(0, args.rebuild_events, 500):
            batch = []
            for k in range(start, start + 500):
                name = f"r{k % objects}"
                kind = ObjectCreated if k < objects else ObjectUpdated
                batch.append(new_event(kind, name, ObjectPayload(object=pod(name))))
            store.append(batch)
        runner = ProjectionRunner(engine, store, [ObjectsProjection()], batch_size=1000)
        total = store.head_position()
        rebuild_rates = []
        for _ in range(max(1, args.runs // 2)):
            started = time.perf_counter()
            applied = runner.rebuild(runner.get("objects"))
            rebuild_rates.append(applied / (time.perf_counter() - started))
        store.dispose()
        engine.dispose()

    raw = results["raw, insert + commit"]
    fastest_raw = results["raw, autocommit insert"]
    print(f"\nappend throughput, median of {args.runs} runs ({args.events} events per x1 run)")
    print(f"{'case':<30} {'events/s':>10} {'vs raw':>8} {'vs raw autocommit':>18}")
    for case, rate in results.items():
        print(f"{case:<30} {rate:>10,.0f} {rate / raw:>7.2f}x {rate / fastest_raw:>17.2f}x")
    # The issue 2 targets against their anchors, and the raw floors against eventsourcing.
    ratios = [
        (
            "dockyard x100 vs executemany",
            "dockyard, 100 events/tx",
            "raw, 100 rows/tx, executemany",
        ),
        ("dockyard x100 vs COPY", "dockyard, 100 events/tx", "raw, 100 rows/tx, COPY"),
        ("dockyard x1 vs eventsourcing", "dockyard, 1 event/tx", "eventsourcing, 1 event/tx"),
        ("raw insert + commit vs es", "raw, insert + commit", "eventsourcing, 1 event/tx"),
        ("raw autocommit vs es", "raw, autocommit insert", "eventsourcing, 1 event/tx"),
    ]
    for label, case, anchor in ratios:
        if case in results and anchor in results:
            print(f"{label:<30} {'':>10} {results[case] / results[anchor]:>7.2f}x")
    print(
        f"{'projection rebuild':<30} {statistics.median(rebuild_rates):>10,.0f}"
        f"   ({total} events in the log)"
    )


if __name__ == "__main__":
    main()
