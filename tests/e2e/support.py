"""`dockyard up` in a subprocess on a test database, with a private node name and data dir."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import docker

from dockyard.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class Dockyard:
    """One `dockyard up` (restartable) and the CLI pointed at it."""

    def __init__(self, database_url: str, tmp: Path) -> None:
        self.node = f"e2e-{uuid.uuid4().hex[:10]}"
        self.data = tmp / "data"
        self.port = free_port()
        self.env = {
            **os.environ,
            "DOCKYARD_DATABASE_URL": database_url,
            "DOCKYARD_DATA_DIR": str(self.data),
            "DOCKYARD_API_PORT": str(self.port),
            "DOCKYARD_AGENT_NODE_NAME": self.node,
            "DOCKYARD_AGENT_MAX_CONTAINER_RESTART_PERIOD_SECONDS": "2",
            "DOCKYARD_AGENT_RELIST_PERIOD_SECONDS": "0.5",
            "DOCKYARD_AGENT_POD_POLL_SECONDS": "0.3",
            "DOCKYARD_POLL_INTERVAL_SECONDS": "0.2",
            "DOCKYARD_CONTROLLER_RESYNC_SECONDS": "5",
        }
        self.env.pop("DOCKYARD_CONFIG", None)
        self.process: subprocess.Popen[str] | None = None
        self._starts = 0
        self.out_path = tmp / "up.out"
        self.docker = docker.from_env()

    @property
    def kubeconfig(self) -> Path:
        return self.data / "kubeconfig"

    def up(self, *manifests: Path) -> None:
        args = [sys.executable, "-m", "dockyard.cli.main", "up"]
        for manifest in manifests:
            args += ["-f", str(manifest)]
        self._starts = self.output().count("Dockyard is up.") + 1
        out = self.out_path.open("a")
        self.process = subprocess.Popen(
            args, env=self.env, stdout=out, stderr=subprocess.STDOUT, text=True, cwd=ROOT
        )
        out.close()
        wait_for("dockyard up to start", self._started, timeout=90)

    def _started(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"dockyard up exited early:\n{self.output()}")
        return self.output().count("Dockyard is up.") >= self._starts

    def output(self) -> str:
        return self.out_path.read_text() if self.out_path.exists() else ""

    def interrupt(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=60)
        self.process = None
        return code

    def close(self) -> None:
        if self.process is not None:
            self.interrupt()
        self.cli("down")

    # --- the CLI (in this process: the API is in the subprocess) ----------------------------

    def cli(self, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        saved = {k: os.environ.get(k) for k in self.env if k.startswith("DOCKYARD_")}
        os.environ.update({k: v for k, v in self.env.items() if k.startswith("DOCKYARD_")})
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                if stdin is not None:
                    sys.stdin = io.StringIO(stdin)
                code = main(list(args))
        finally:
            sys.stdin = sys.__stdin__
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        return code, out.getvalue(), err.getvalue()

    def ok(self, *args: str) -> str:
        code, out, err = self.cli(*args)
        assert code == 0, f"dockyard {' '.join(args)} failed ({code}): {err}"
        return out

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "-o", "json"))

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "HOME": str(self.data)}
        return subprocess.run(
            ["kubectl", *args], capture_output=True, text=True, env=env, timeout=60
        )

    # --- state ------------------------------------------------------------------------------

    def pods(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.json("get", "pods")["items"]
        return items

    def ready_pods(self, prefix: str) -> list[dict[str, Any]]:
        return [
            p
            for p in self.pods()
            if p["metadata"]["name"].startswith(prefix)
            and "deletionTimestamp" not in p["metadata"]
            and any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in p.get("status", {}).get("conditions", [])
            )
        ]

    def running_containers(self) -> set[str]:
        found = self.docker.containers.list(filters={"label": f"io.dockyard.node={self.node}"})
        return {c.id for c in found}


@contextlib.contextmanager
def dockyard(database_url: str, tmp: Path) -> Iterator[Dockyard]:
    instance = Dockyard(database_url, tmp)
    try:
        yield instance
    finally:
        instance.close()
        instance.docker.close()
