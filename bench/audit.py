"""Audit recipes at size: each recipe's median time beside a raw scan of the events table.

Run: .venv/bin/python -m bench.audit [--events 1000000] [--runs 7] [--explain docs-plans.txt]
(uses DOCKYARD_DATABASE_URL or a throwaway PostgreSQL). Writes the fixture with
dockyard.audit.fixture, runs the audit projections to the head, then times every recipe of
dockyard.audit.recipes with its parameters, and the same question answered from the events
table alone with the views' indexes dropped (inside a transaction that is rolled back).
Time windows are scaled from the simulated week to the minutes the fixture took to write.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta
from typing import Any

import psycopg

from bench._db import bench_database
from dockyard.audit import audit_projections
from dockyard.audit.fixture import SIMULATED_SPAN, generate
from dockyard.audit.recipes import RECIPES
from dockyard.store import migrations
from dockyard.store.db import libpq_url, make_engine
from dockyard.store.events import EventStore
from dockyard.store.projections import ProjectionRunner

AUDIT_INDEXES = ("events_audit_object", "events_audit_namespace", "events_audit_actor")


def timed(conn: psycopg.Connection[Any], sql: str, params: dict[str, Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        conn.execute(sql, params).fetchall()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def parameters(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    first, last = conn.execute("SELECT min(recorded_at), max(recorded_at) FROM events").fetchone()  # type: ignore[misc]
    scale = (last - first) / SIMULATED_SPAN  # real seconds per simulated second

    def window(real: timedelta) -> timedelta:
        return real * scale

    pod = conn.execute(
        "SELECT pod FROM pod_restarts WHERE namespace = 'ns-3' ORDER BY time DESC LIMIT 1"
    ).fetchone()[0]  # type: ignore[index]
    at = conn.execute(
        "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY started_at) + interval '1 second' "
        "FROM container_runs WHERE namespace = 'ns-3'"
    ).fetchone()[0]  # type: ignore[index]
    changed_at = conn.execute(
        "SELECT time FROM audit_log WHERE kind = 'Deployment' AND namespace = 'ns-3' "
        "AND name = 'app-3-2' ORDER BY position DESC LIMIT 1"
    ).fetchone()[0]  # type: ignore[index]
    return {
        "namespace": "ns-3",
        "name": "app-3-2",
        "pod": pod,
        "actor": "user-4",
        "at": at if at else last,
        "since": last - window(timedelta(days=1)),
        "until": last,
        "window": window(timedelta(minutes=10)),
        "object_at": changed_at,
        "_scale": scale,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--explain", help="write EXPLAIN (ANALYZE) plans to this file")
    args = parser.parse_args()
    with bench_database() as url:
        engine = make_engine(url)
        migrations.upgrade(engine)
        store = EventStore(engine)
        started = time.perf_counter()
        written = generate(store, args.events)
        gen_s = time.perf_counter() - started
        print(f"fixture: {written:,} events in {gen_s:.0f}s ({written / gen_s:,.0f}/s)", flush=True)
        with engine.begin() as conn:  # what autovacuum's analyze does on a live system
            conn.exec_driver_sql("ANALYZE events")
        runner = ProjectionRunner(engine, store, audit_projections(), batch_size=20_000)
        for projection in runner.projections:
            started = time.perf_counter()
            runner.catch_up(projection)
            print(f"projection {projection.name}: {time.perf_counter() - started:.0f}s", flush=True)
        store.dispose()
        engine.dispose()
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            counts = conn.execute(
                "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM audit_log), "
                "(SELECT count(*) FROM pod_restarts), (SELECT count(*) FROM container_runs)"
            ).fetchone()
            print(
                "events {:,}; audit_log rows {:,}; restarts {:,}; container runs {:,}".format(
                    *counts
                )
            )
            params = parameters(conn)
            params["at_object"] = params["object_at"]
            print(f"time windows scaled by {params.pop('_scale'):.6f} (real/simulated)\n")
            plans: list[str] = []
            print(f"{'recipe':<30} {'rows':>6} {'view ms':>9} {'raw ms':>9} {'ratio':>7}")
            for recipe in RECIPES:
                p = dict(params)
                if recipe.key == "object_at":
                    p["at"] = params["object_at"]
                rows = len(conn.execute(recipe.sql, p).fetchall())
                view_ms = timed(conn, recipe.sql, p, args.runs)
                raw_ms = float("nan")
                if recipe.raw:
                    with conn.transaction(force_rollback=True):
                        for index in AUDIT_INDEXES:
                            conn.execute(f"DROP INDEX {index}")
                        raw_ms = timed(conn, recipe.raw, p, max(1, args.runs // 3))
                print(
                    f"{recipe.key:<30} {rows:>6} {view_ms:>9.1f} {raw_ms:>9.1f} "
                    f"{raw_ms / view_ms:>6.0f}x"
                )
                if args.explain:
                    plan = conn.execute(
                        "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) " + recipe.sql, p
                    ).fetchall()
                    plans.append(f"-- {recipe.key}\n" + "\n".join(r[0] for r in plan))
            if args.explain:
                with open(args.explain, "w") as out:
                    out.write("\n\n".join(plans) + "\n")


if __name__ == "__main__":
    main()
