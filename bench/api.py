"""API latency: Dockyard over real HTTPS beside a raw psycopg read of the same rows (the floor).

Run: .venv/bin/python -m bench.api [--pods 1000] [--requests 400] [--runs 3] [--clients 1,20]
[--only create,patch,watch] [--workers 2]
(uses DOCKYARD_DATABASE_URL or a throwaway PostgreSQL). The API server is `dockyard server` as
users run it (its own processes, its default worker count unless --workers, TLS, a token file),
so that the clients' threads do not share its interpreter.

For each operation and client count: p50/p99 over ``--requests`` requests, the median of those
over ``--runs`` runs. Operations: get one pod, list the 1,000 pods of a namespace, create a pod,
merge-patch a pod's labels, and write-to-watch delay (every client writes while as many
watchers stream the namespace; the delay runs from the moment a write is sent to the moment a
watcher receives its event; the watchers run in a process of their own, as separate client
programs would, so that they do not queue for the writers' interpreter lock). Floors: the same
get and list as one SQL statement on a psycopg connection per client.
Targets (issue 3): single-object mutations p99 <= 100 ms with 20 clients; watch p50 <= 50 ms.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from bench._db import bench_database
from bench._http import LeanClient, Reply
from dockyard.store.db import libpq_url

TOKEN = "bench-admin-token"
NS = "bench"
MERGE = {"content-type": "application/merge-patch+json"}


def pod(name: str, namespace: str = NS) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "bench"}},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "busybox:latest",
                    "command": ["sleep", "3600"],
                    "env": [{"name": "A", "value": "1"}],
                    "ports": [{"containerPort": 8080}],
                }
            ]
        },
    }


# --- the server process -------------------------------------------------------------------------


def start_server(url: str, data_dir: Path, port: int, workers: int | None) -> subprocess.Popen[str]:
    """``dockyard server`` as users run it (its defaults, its own processes), with a token file
    holding the bench's admin token; its certificate lands in ``data_dir/api-tls``."""
    tokens = data_dir / "tokens.csv"
    tokens.write_text(f'{TOKEN},bench,u0,"system:masters"\n')
    env = {
        **os.environ,
        "DOCKYARD_DATABASE_URL": url,
        "DOCKYARD_DATA_DIR": str(data_dir),
        "DOCKYARD_API_TOKEN_FILE": str(tokens),
    }
    command = [str(Path(sys.executable).with_name("dockyard")), "server", "--port", str(port)]
    if workers is not None:
        command += ["--workers", str(workers)]
    return subprocess.Popen(command, env=env, stdout=sys.stderr, stderr=sys.stderr, text=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- measuring ----------------------------------------------------------------------------------


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99


def concurrently(
    clients: int,
    total: int,
    op: Callable[[int, int], None],
    warm: Callable[[], None] | None = None,
) -> list[float]:
    """Run ``op(client, i)`` ``total`` times over ``clients`` threads; latencies in ms. Each
    thread first runs ``warm`` (untimed: opening its connection), then all start together, so
    that the figures are steady-state requests on open connections, as a client that keeps
    its connections alive sees them, not TCP and TLS handshakes."""
    samples: list[float] = []
    lock = threading.Lock()
    per_client = max(1, total // clients)
    start = threading.Barrier(clients)

    def run(client: int) -> None:
        if warm is not None:
            warm()
        start.wait()
        mine = []
        for i in range(per_client):
            started = time.perf_counter()
            op(client, i)
            mine.append((time.perf_counter() - started) * 1000)
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=run, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return samples


class Bench:
    def __init__(self, base: str, cert: Path, db_url: str, pods: int) -> None:
        self.base, self.db_url, self.pods = base, db_url, pods
        self.cafile = str(cert)
        self.verify = ssl.create_default_context(cafile=self.cafile)
        self.local = threading.local()

    def http(self) -> LeanClient:
        client = getattr(self.local, "http", None)
        if client is None:
            client = LeanClient(self.base, self.verify, TOKEN)
            self.local.http = client
        return client

    def sql(self) -> psycopg.Connection[Any]:
        conn = getattr(self.local, "sql", None)
        if conn is None:
            conn = psycopg.connect(libpq_url(self.db_url), autocommit=True)
            self.local.sql = conn
        return conn

    def warm_http(self) -> None:
        self.check(self.http().get("/healthz"), 200)

    def warm_sql(self) -> None:
        self.sql().execute("SELECT 1")

    def check(self, response: Reply, code: int) -> None:
        if response.status != code:
            raise RuntimeError(f"HTTP {response.status}: {response.body[:300]!r}")

    # -- operations -------------------------------------------------------------------------

    def get(self, client: int, i: int) -> None:
        name = f"p-{random.randrange(self.pods):05d}"
        self.check(self.http().get(f"/api/v1/namespaces/{NS}/pods/{name}"), 200)

    def get_floor(self, client: int, i: int) -> None:
        name = f"p-{random.randrange(self.pods):05d}"
        self.sql().execute(
            "SELECT body FROM objects WHERE kind = 'Pod' AND namespace = %s AND name = %s",
            (NS, name),
        ).fetchone()

    def list(self, client: int, i: int) -> None:
        response = self.http().get(f"/api/v1/namespaces/{NS}/pods")
        self.check(response, 200)
        assert len(response.json()["items"]) == self.pods

    def list_floor(self, client: int, i: int) -> None:
        rows = (
            self.sql()
            .execute(
                "SELECT body FROM objects WHERE kind = 'Pod' AND namespace = %s "
                "ORDER BY namespace, name",
                (NS,),
            )
            .fetchall()
        )
        assert len(rows) == self.pods

    def create(self, client: int, i: int) -> None:
        body = pod(f"c-{uuid.uuid4().hex[:12]}", "bench-writes")
        path = "/api/v1/namespaces/bench-writes/pods"
        self.check(self.http().request("POST", path, body=body), 201)

    def patch(self, client: int, i: int) -> None:
        # Each client patches its own pods: the figure is the write path, not retry storms.
        name = f"p-{(client * 37 + i) % self.pods:05d}"
        body = {"metadata": {"labels": {"rev": f"{client}-{i}-{random.random()}"}}}
        path = f"/api/v1/namespaces/{NS}/pods/{name}"
        self.check(self.http().request("PATCH", path, body=body, headers=MERGE), 200)


def watchers_process(
    base: str,
    cafile: str,
    path: str,
    params: dict[str, str],
    clients: int,
    expected: int,
    ready: Any,
    results: Any,
) -> None:
    """``clients`` watchers in a process of their own (as separate client programs are): each
    streams ``path`` until it has ``expected`` events; put (name, resourceVersion, monotonic and
    wall-clock time received) for each."""
    verify = ssl.create_default_context(cafile=cafile)
    received: list[tuple[str, int, float, float]] = []
    lock = threading.Lock()
    connected = threading.Barrier(clients, action=ready.set)

    def watcher() -> None:
        client = LeanClient(base, verify, TOKEN, timeout=120)
        mine = []
        try:
            lines = client.lines(path, params)
            connected.wait()
            for line in lines:
                now = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes
                wall = time.time()  # comparable with the event's recorded_at
                meta = json.loads(line)["object"]["metadata"]
                mine.append((meta["name"], int(meta["resourceVersion"]), now, wall))
                if len(mine) == expected:
                    break
        finally:
            client.close()
            with lock:
                received.extend(mine)

    threads = [threading.Thread(target=watcher) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(received)


def watch_delays(bench: Bench, clients: int, writes: int) -> tuple[list[float], list[float]]:
    """``clients`` writers (threads here) and ``clients`` watchers (threads of another process);
    each watcher's delay for each write, from the moment the write was sent, and from the moment
    it was recorded in the log (``recorded_at``: the watch path alone, without the write's own
    queueing)."""
    namespace = f"bench-watch-{uuid.uuid4().hex[:6]}"
    ns_body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    bench.check(bench.http().request("POST", "/api/v1/namespaces", body=ns_body), 201)
    listed = bench.http().get(f"/api/v1/namespaces/{namespace}/pods").json()
    params = {
        "watch": "1",
        "resourceVersion": listed["metadata"]["resourceVersion"],
        "timeoutSeconds": "120",
    }
    sent: dict[str, float] = {}
    lock = threading.Lock()
    per_client = max(1, writes // clients)
    expected = per_client * clients
    spawn = multiprocessing.get_context("spawn")
    ready, results = spawn.Event(), spawn.Queue()
    path = f"/api/v1/namespaces/{namespace}/pods"
    args = (bench.base, bench.cafile, path, params, clients, expected, ready, results)
    watchers = spawn.Process(target=watchers_process, args=args)
    watchers.start()
    if not ready.wait(60):
        raise RuntimeError("the watchers did not connect")

    def write(client: int, i: int) -> None:
        name = f"w-{client}-{i}"
        with lock:
            sent[name] = time.perf_counter()
        bench.check(
            bench.http().request(
                "POST", f"/api/v1/namespaces/{namespace}/pods", body=pod(name, namespace)
            ),
            201,
        )
        time.sleep(0.005)  # a steady stream of writes, not one burst

    concurrently(clients, expected, write, bench.warm_http)
    received = results.get(timeout=180)
    watchers.join(30)
    with psycopg.connect(libpq_url(bench.db_url)) as conn:
        recorded = dict(
            conn.execute(
                "SELECT position, extract(epoch FROM recorded_at) FROM events "
                "WHERE position = ANY(%s)",
                (sorted({rv for _, rv, _, _ in received}),),
            ).fetchall()
        )
    from_sent = [(at - sent[name]) * 1000 for name, _, at, _ in received]
    from_recorded = [(wall - float(recorded[rv])) * 1000 for _, rv, _, wall in received]
    return from_sent, from_recorded


# --- main ---------------------------------------------------------------------------------------


def seed(url: str, pods: int) -> None:
    from dockyard.store import migrations
    from dockyard.store.db import make_engine
    from dockyard.store.events import EventStore
    from dockyard.store.writer import Actor, ObjectWriter

    engine = make_engine(url)
    migrations.upgrade(engine)
    writer = ObjectWriter(EventStore(engine))
    actor = Actor("bench", source="bench")
    with engine.begin() as conn:
        for ns in (NS, "bench-writes"):
            body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
            writer.create_in(conn, body, actor=actor)
        for i in range(pods):
            writer.create_in(conn, pod(f"p-{i:05d}"), actor=actor)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--list-requests", type=int, default=60)
    parser.add_argument("--watch-writes", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", default="1,20")
    parser.add_argument(
        "--only", default="", help="comma-separated subset of: get,list,create,patch,watch"
    )
    parser.add_argument(
        "--workers", type=int, help="server processes (default: dockyard server's own default)"
    )
    args = parser.parse_args()
    client_counts = [int(c) for c in args.clients.split(",")]
    with bench_database() as url, tempfile.TemporaryDirectory() as tmp:
        seed(url, args.pods)
        port = free_port()
        server = start_server(url, Path(tmp), port, args.workers)
        base = f"https://127.0.0.1:{port}"
        cert = Path(tmp) / "api-tls" / "apiserver.crt"
        try:
            deadline = time.monotonic() + 60
            while not cert.exists() or not server_ready(base, cert):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the API server did not become ready")
                time.sleep(0.1)
            report(Bench(base, cert, url, args.pods), args, client_counts)
        finally:
            server.send_signal(signal.SIGINT)  # stop it (and its workers) before the drop
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def server_ready(base: str, cert: Path) -> bool:
    client = LeanClient(base, ssl.create_default_context(cafile=str(cert)), TOKEN)
    try:
        return client.get("/readyz").status == 200
    except OSError:
        return False
    finally:
        client.close()


def report(bench: Bench, args: argparse.Namespace, client_counts: list[int]) -> None:
    only = set(filter(None, args.only.split(",")))
    ops: list[tuple[str, Callable[[int, int], None], Callable[[int, int], None] | None, int]] = [
        ("get", bench.get, bench.get_floor, args.requests),
        (f"list {args.pods}", bench.list, bench.list_floor, args.list_requests),
        ("create", bench.create, None, args.requests),
        ("patch", bench.patch, None, args.requests),
    ]
    ops = [op for op in ops if not only or op[0].split()[0] in only]
    header = (
        f"{'operation':<12}{'clients':>8}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'floor p50':>11}{'floor p99':>11}{'x p50':>8}{'x p99':>8}"
    )
    print(
        f"median of {args.runs} runs; server workers: {args.workers or 'default'}; "
        "floor = raw psycopg read of the same rows"
    )
    print(header)
    for name, op, floor, total in ops:
        for clients in client_counts:
            figures = []
            floors = []
            for _ in range(args.runs):
                figures.append(percentiles(concurrently(clients, total, op, bench.warm_http)))
                if floor is not None:
                    floors.append(percentiles(concurrently(clients, total, floor, bench.warm_sql)))
            p50 = statistics.median(f[0] for f in figures)
            p99 = statistics.median(f[1] for f in figures)
            line = f"{name:<12}{clients:>8}{p50:>9.2f}{p99:>9.2f}"
            if floors:
                f50 = statistics.median(f[0] for f in floors)
                f99 = statistics.median(f[1] for f in floors)
                line += f"{f50:>11.2f}{f99:>11.2f}{p50 / f50:>8.1f}{p99 / f99:>8.1f}"
            print(line, flush=True)
    for clients in client_counts if not only or "watch" in only else []:
        runs = [watch_delays(bench, clients, args.watch_writes) for _ in range(args.runs)]
        for label, index in (("watch delay", 0), ("  after log", 1)):
            figures = [percentiles(run[index]) for run in runs]
            p50 = statistics.median(f[0] for f in figures)
            p99 = statistics.median(f[1] for f in figures)
            print(f"{label:<12}{clients:>8}{p50:>9.2f}{p99:>9.2f}", flush=True)
    print(
        "targets: create/patch p99 <= 100 ms with 20 clients; watch delay p50 <= 50 ms\n"
        "(watch delay: from sending the write; after log: from its recorded_at in the log)"
    )


if __name__ == "__main__":
    main()
