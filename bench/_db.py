"""Benchmarks' database: DOCKYARD_DATABASE_URL, or a throwaway embedded PostgreSQL.

The throwaway cluster keeps PostgreSQL's default durability (fsync on), so the figures are the
ones a user would see, not the test suite's fsync-off numbers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from dockyard.store.db import libpq_url
from dockyard.store.embedded import EmbeddedPostgres


@contextlib.contextmanager
def bench_database() -> Iterator[str]:
    """Yield the URL of a fresh, empty database; drop it afterwards."""
    server_url = os.environ.get("DOCKYARD_DATABASE_URL")
    cluster: EmbeddedPostgres | None = None
    tmp: str | None = None
    if server_url is None:
        tmp = tempfile.mkdtemp(prefix="dockyard-bench-pg-")
        cluster = EmbeddedPostgres(Path(tmp))
        server_url = cluster.start()
    name = f"dockyard_bench_{uuid.uuid4().hex[:8]}"
    admin = libpq_url(server_url)
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if cluster is not None:
            cluster.stop()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
