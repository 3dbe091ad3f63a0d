"""An embedded PostgreSQL: a real server that Dockyard starts, owns and keeps its data for.

Used by `dockyard up` when no database URL is configured, and by the test suite for a
throwaway cluster. It needs PostgreSQL's server binaries: those on PATH, a Debian-style
/usr/lib/postgresql/N/bin, or the ones bundled in PyPI's ``pgserver`` (``dockyard[embedded]``).

PostgreSQL refuses to run as root; when Dockyard runs as root the server runs as the
``postgres`` system user (or ``nobody``), and its data directory is handed to that user.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "dockyard"


class EmbeddedPostgresError(RuntimeError):
    pass


def find_bin_dir() -> Path:
    on_path = shutil.which("pg_ctl")
    candidates: list[Path] = [Path(on_path).resolve().parent] if on_path else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    # pgserver's bundled binaries, found without importing it (its import has side effects).
    spec = importlib.util.find_spec("pgserver")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidates.append(Path(location) / "pginstall" / "bin")
    for candidate in candidates:
        if (candidate / "pg_ctl").exists() and (candidate / "initdb").exists():
            return candidate
    raise EmbeddedPostgresError(
        "no PostgreSQL server binaries found (initdb, pg_ctl): install PostgreSQL "
        "(apt-get install postgresql) or `pip install 'dockyard[embedded]'`, "
        "or set DOCKYARD_DATABASE_URL to an existing database"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class _RunAs:
    uid: int
    gid: int
    name: str


def _run_as() -> _RunAs | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return _RunAs(entry.pw_uid, entry.pw_gid, name)
    raise EmbeddedPostgresError("running as root and no 'postgres' user to run PostgreSQL as")


class EmbeddedPostgres:
    """A PostgreSQL cluster in ``root`` (``root/pgdata``), listening on 127.0.0.1 only."""

    def __init__(self, root: Path, *, fast_unsafe: bool = False) -> None:
        self.root = root
        self.pgdata = root / "pgdata"
        self.log_file = root / "postgres.log"
        self._port_file = root / "port"
        # fsync off: for throwaway test clusters only, never for data a user keeps.
        self._fast_unsafe = fast_unsafe
        self._bin = find_bin_dir()
        self._user = _run_as()

    @property
    def port(self) -> int:
        if not self._port_file.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            self._port_file.write_text(str(_free_port()))
        return int(self._port_file.read_text())

    def _choose_port(self) -> int:
        """Keep the remembered port (a stable URL across runs) unless another process took it."""
        port = self.port
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                port = _free_port()
                self._port_file.write_text(str(port))
        return port

    def url(self, database: str = "dockyard") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self._user is not None:
            kwargs = {"user": self._user.uid, "group": self._user.gid, "extra_groups": []}
        return subprocess.run(  # type: ignore[call-overload, no-any-return]
            [str(self._bin / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            cwd="/",
            **kwargs,
        )

    def _prepare_dirs(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            # The server's user must reach root (and own everything under it).
            for parent in [self.root, *self.root.parents]:
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    parent.chmod(mode | 0o001)
            for path in [self.root, *self.root.rglob("*")]:
                os.chown(path, self._user.uid, self._user.gid)

    def running(self) -> bool:
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        return self._run("pg_ctl", "status", "-D", str(self.pgdata)).returncode == 0

    def start(self) -> str:
        """Start the cluster (creating it the first time); returns the URL of ``dockyard``."""
        self._prepare_dirs()
        port = self.port
        if not (self.pgdata / "PG_VERSION").exists():
            result = self._run(
                "initdb", "-D", str(self.pgdata), "-U", SUPERUSER, "--auth=trust",
                "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions",
            )  # fmt: skip
            if result.returncode != 0:
                raise EmbeddedPostgresError(f"initdb failed: {result.stderr.strip()}")
        if not self.running():
            port = self._choose_port()
            options = f"-p {port} -c listen_addresses=127.0.0.1 -k {self.root}"
            if self._fast_unsafe:
                options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            options += " -c max_connections=300"
            result = self._run(
                "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.pgdata),
                "-l", str(self.log_file), "-o", options,
            )  # fmt: skip
            if result.returncode != 0:
                tail = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
                raise EmbeddedPostgresError(
                    f"PostgreSQL did not start on 127.0.0.1:{port}: {result.stderr.strip()}\n{tail}"
                )
        self._ensure_database("dockyard")
        return self.url()

    def _ensure_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        if self.running():
            self._run("pg_ctl", "stop", "-D", str(self.pgdata), "-m", "fast", "-w")
