"""`dockyard server` as users run it: its own process, and with --workers several of them."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

TOKEN = "cli-admin-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(database_url: str, tmp: Path, *args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    tokens = tmp / "tokens.csv"
    tokens.write_text(f'{TOKEN},admin,u1,"system:masters"\n')
    env = {
        **os.environ,
        "DOCKYARD_DATABASE_URL": database_url,
        "DOCKYARD_DATA_DIR": str(tmp / "data"),
        "DOCKYARD_API_TOKEN_FILE": str(tokens),
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("dockyard")), "server", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, env


@dataclass
class Running:
    url: str
    verify: ssl.SSLContext

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        return httpx.Client(base_url=self.url, verify=self.verify, headers=headers, timeout=60)


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Running]:
    port = free_port()
    process, _ = start(database_url, tmp_path, "--port", str(port), "--workers", "2")
    cert = tmp_path / "data" / "api-tls" / "apiserver.crt"
    client: httpx.Client | None = None
    try:
        deadline = time.monotonic() + 60
        while client is None:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "the server did not come up"
            if cert.exists():
                candidate = httpx.Client(
                    base_url=f"https://127.0.0.1:{port}",
                    verify=ssl.create_default_context(cafile=str(cert)),
                    headers={"Authorization": f"Bearer {TOKEN}"},
                    timeout=30,
                )
                try:
                    if candidate.get("/readyz").status_code == 200:
                        client = candidate
                        continue
                except httpx.TransportError:
                    pass
                candidate.close()
            time.sleep(0.1)
        yield Running(f"https://127.0.0.1:{port}", ssl.create_default_context(cafile=str(cert)))
    finally:
        if client is not None:
            client.close()
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def pod(name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox:latest"}]},
    }


def test_workers_share_the_port_and_every_write_is_seen_by_every_watch(server: Running) -> None:
    admin = server.client()
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "busy"}}
    assert admin.post("/api/v1/namespaces", json=ns).status_code == 201
    start_rv = admin.get("/api/v1/namespaces/busy/pods").json()["metadata"]["resourceVersion"]
    # Watches on fresh connections: with two workers they land on either process's hub.
    seen: list[list[str]] = [[] for _ in range(4)]

    def watch(i: int) -> None:
        params = {"watch": "1", "resourceVersion": start_rv, "timeoutSeconds": "30"}
        with (
            server.client() as own,
            own.stream("GET", "/api/v1/namespaces/busy/pods", params=params) as response,
        ):
            for line in response.iter_lines():
                if line:
                    seen[i].append(line)
                if len(seen[i]) == 24:
                    return

    watchers = [threading.Thread(target=watch, args=(i,)) for i in range(4)]
    for t in watchers:
        t.start()
    codes: list[int] = []

    def create(i: int) -> None:
        with server.client() as own:
            for j in range(4):
                codes.append(
                    own.post("/api/v1/namespaces/busy/pods", json=pod(f"p{i}-{j}")).status_code
                )

    writers = [threading.Thread(target=create, args=(i,)) for i in range(6)]
    for t in writers:
        t.start()
    for t in writers:
        t.join(30)
    assert codes == [201] * 24
    listed = admin.get("/api/v1/namespaces/busy/pods").json()["items"]
    assert len(listed) == 24
    for t in watchers:
        t.join(30)
        assert not t.is_alive()
    for lines in seen:
        assert len(lines) == 24 and all('"ADDED"' in line for line in lines)


def test_workers_must_be_at_least_one(database_url: str, tmp_path: Path) -> None:
    process, _ = start(database_url, tmp_path, "--workers", "0")
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "--workers must be at least 1" in out and "Traceback" not in out


def test_metrics_add_up_the_requests_of_every_worker(server: Running) -> None:
    # Fresh connections from several threads at once: the workers accept them between them.
    def get_namespaces(_: int) -> None:
        for _ in range(5):
            with server.client() as own:
                assert own.get("/api/v1/namespaces").status_code == 200

    threads = [threading.Thread(target=get_namespaces, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    wanted = 'apiserver_request_total{verb="get",resource="namespaces",code="200"} 40'
    deadline = time.monotonic() + 30
    seen = ""
    while wanted not in seen:
        assert time.monotonic() < deadline, seen
        with server.client() as own:  # a scrape on a fresh connection: either worker answers
            seen = own.get("/metrics").text
        time.sleep(0.05)
