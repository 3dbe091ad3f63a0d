"""A real Dockyard API server on 127.0.0.1 (uvicorn in a thread, a free port) per test."""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine

from dockyard.cli.server import kubeconfig_for, uvicorn_options
from dockyard.server.app import create_app
from dockyard.server.auth import TokenAuthenticator, User
from dockyard.server.context import ApiContext
from dockyard.server.tls import ensure_self_signed
from dockyard.store.events import EventStore
from dockyard.store.writer import ObjectWriter

TOKENS = {
    "admin": ("admin-token-123", User("admin", "u1", ("system:masters",))),
    "alice": ("alice-token-456", User("alice", "u2", ("dockyard:edit:team-a",))),
    "victor": ("victor-token-789", User("victor", "u3", ("dockyard:view:team-a",))),
}
MAX_BODY = 256 * 1024


@dataclass
class ApiServer:
    url: str
    ctx: ApiContext
    tmp: Path
    cert: Path

    def client(self, user: str = "admin") -> httpx.Client:
        headers = {"Authorization": f"Bearer {TOKENS[user][0]}"} if user else {}
        verify = ssl.create_default_context(cafile=str(self.cert))
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, verify=verify)

    def kubeconfig(self, user: str = "admin") -> Path:
        path = self.tmp / f"kubeconfig-{user}"
        if not path.exists():
            config = kubeconfig_for(self.url, user, TOKENS[user][0], self.cert.read_bytes())
            path.write_text(config)
        return path

    def kubectl(
        self, *args: str, user: str = "admin", check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = self.kubectl_env(user)
        result = subprocess.run(
            ["kubectl", f"--cache-dir={self.tmp / 'kcache'}", *args],
            capture_output=True,
            text=True,
            env=env,
            input=stdin,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result

    def kubectl_env(self, user: str = "admin") -> dict[str, str]:
        return {**os.environ, "HOME": str(self.tmp), "KUBECONFIG": str(self.kubeconfig(user))}

    def kubectl_json(self, *args: str, user: str = "admin") -> Any:
        return json.loads(self.kubectl(*args, "-o", "json", user=user).stdout)


@contextlib.contextmanager
def running_server(
    ctx: ApiContext,
    tls: tuple[Path, Path],
    tokens: Iterable[tuple[str, User]] | None = None,
    **options: Any,
) -> Iterator[str]:
    """A real HTTPS API server on a free loopback port, for the ``with`` block: its URL."""
    users = TOKENS.values() if tokens is None else tokens
    app = create_app(ctx, TokenAuthenticator(users), **options)
    config = uvicorn.Config(app, **uvicorn_options("127.0.0.1", 0, tls[0], tls[1]))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="api-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"https://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return ensure_self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def api_context(database_url: str, engine: Engine, store: EventStore) -> ApiContext:
    return ApiContext(
        engine=engine,
        store=store,
        database_url=database_url,
        writer=ObjectWriter(store),
        max_body_bytes=MAX_BODY,
        poll_interval=0.2,
        bookmark_interval=0.3,
    )


@pytest.fixture
def api(api_context: ApiContext, tmp_path: Path, tls: tuple[Path, Path]) -> Iterator[ApiServer]:
    with running_server(api_context, tls) as url:
        yield ApiServer(url, api_context, tmp_path, tls[0])
