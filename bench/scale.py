"""Scale benchmark with hollow nodes (kubemark-style): a Deployment 0 -> 1,000 -> 0 on 50 nodes.

Runs the control plane as a real `dockyard controllers` subprocess and 50 hollow nodes in this
process, against DOCKYARD_DATABASE_URL or a throwaway embedded PostgreSQL. Prints: seconds until
1,000 pods are bound and Running, the bind rate during scale-up (from bind events), the
scheduler alone on 1,000 pending pods, log events written per pod, seconds to scale back to 0,
and the control plane's CPU while idle with 1,000 pods.

    .venv/bin/python bench/scale.py [--pods 1000] [--nodes 50]

Targets (2 cores): 1,000 pods running <= 30 s; scheduler >= 200 pods/s; idle < 5% of a core.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dockyard.controllers.hollow import HollowNodes
from dockyard.store import migrations
from dockyard.store.db import make_engine
from dockyard.store.embedded import EmbeddedPostgres
from dockyard.store.events import EventStore
from dockyard.store.writer import Actor, ObjectKey, ObjectWriter

USER = Actor(name="bench", source="bench")


def _count(store: EventStore, sql: str, *params: Any) -> int:
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql(sql, params).scalar() or 0)


def _wait(check: Any, timeout: float) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise SystemExit("timed out")
        time.sleep(0.05)
    return time.monotonic() - start


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _scale(writer: ObjectWriter, replicas: int) -> None:
    stored = writer.get(ObjectKey("Deployment", "default", "bench"))
    assert stored is not None
    body = dict(stored.body)
    body["spec"] = {**body["spec"], "replicas": replicas}
    body["metadata"] = {k: v for k, v in body["metadata"].items() if k != "resourceVersion"}
    writer.update(body, actor=USER)


def run(url: str, pods: int, nodes: int) -> None:
    engine = make_engine(url, pool_size=10)
    migrations.upgrade(engine)
    store = EventStore(engine)
    writer = ObjectWriter(store)
    hollow = HollowNodes(store, url, [f"hollow-{i:02d}" for i in range(nodes)], renew_interval=10)
    hollow.start()
    env = {**os.environ, "DOCKYARD_DATABASE_URL": url, "DOCKYARD_LOG_LEVEL": "WARNING"}
    plane = subprocess.Popen(
        [sys.executable, "-m", "dockyard.cli.main", "controllers", "--identity", "bench"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert plane.stdout is not None
        for line in plane.stdout:
            if line.strip().endswith("leading"):
                break
        labels = {"app": "bench"}
        writer.create(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "bench", "namespace": "default", "labels": labels},
                "spec": {
                    "replicas": 0,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": [{"name": "main", "image": "busybox:latest"}]},
                    },
                },
            },
            actor=USER,
        )
        time.sleep(1)
        start_position = store.head_position()
        _scale(writer, pods)
        running_sql = (
            "SELECT count(*) FROM objects WHERE kind = 'Pod' AND status ->> 'phase' = 'Running' "
            "AND spec ->> 'nodeName' IS NOT NULL"
        )
        up = _wait(lambda: _count(store, running_sql) >= pods, 300)
        end_position = store.head_position()
        binds = _count(
            store,
            "SELECT count(*) FROM events WHERE position > %s AND metadata ->> 'verb' = 'bind'",
            start_position,
        )
        span = (
            _count(
                store,
                "SELECT (extract(epoch FROM max(recorded_at) - min(recorded_at)) * 1000)::bigint "
                "FROM events WHERE position > %s AND metadata ->> 'verb' = 'bind'",
                start_position,
            )
            / 1000
        )
        events = _count(
            store,
            "SELECT count(*) FROM events WHERE position > %s AND position <= %s",
            start_position,
            end_position,
        )
        time.sleep(3)  # let status writes settle before measuring idle
        cpu0, t0 = _cpu_seconds(plane.pid), time.monotonic()
        time.sleep(10)
        idle = (_cpu_seconds(plane.pid) - cpu0) / (time.monotonic() - t0)
        _scale(writer, 0)
        down = _wait(
            lambda: _count(store, "SELECT count(*) FROM objects WHERE kind = 'Pod'") == 0, 300
        )
        # Scheduler alone: pods that already exist, all pending at once (no creation pipeline).
        with engine.begin() as conn:
            for i in range(pods):
                writer.create_in(
                    conn,
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {"name": f"bare-{i}", "namespace": "default"},
                        "spec": {"containers": [{"name": "main", "image": "busybox:latest"}]},
                        "status": {"phase": "Pending"},
                    },
                    actor=USER,
                )
        bound_sql = "SELECT count(*) FROM objects WHERE kind = 'Pod' AND spec ? 'nodeName'"
        bind_only = _wait(lambda: _count(store, bound_sql) >= pods, 300)
        print(f"nodes                         {nodes}")
        print(f"pods bound and running        {pods} in {up:.1f} s   (target <= 30 s)")
        print(
            f"bind rate during scale-up     {binds / max(span, 1e-3):.0f} pods/s over {span:.1f} s "
            "(bounded by pod creation)"
        )
        print(
            f"scheduler, {pods} pending pods  {pods / bind_only:.0f} pods/s "
            f"({bind_only:.1f} s; target >= 200)"
        )
        print(f"log events per pod (scale up) {events / pods:.1f}")
        print(f"scale down to 0               {down:.1f} s")
        print(
            f"idle control-plane CPU        {idle * 100:.1f}% of a core with {pods} pods "
            "(target < 5%)"
        )
    finally:
        plane.terminate()
        plane.wait(20)
        hollow.stop()
        store.dispose()
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=50)
    args = parser.parse_args()
    url = os.environ.get("DOCKYARD_DATABASE_URL")
    if url:
        run(url, args.pods, args.nodes)
        return
    directory = tempfile.mkdtemp(prefix="dockyard-bench-")
    cluster = EmbeddedPostgres(Path(directory), fast_unsafe=True)
    cluster.start()
    try:
        run(cluster.url("postgres"), args.pods, args.nodes)
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
