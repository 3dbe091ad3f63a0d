"""Test fixtures: a real PostgreSQL for every test that needs one.

When DOCKYARD_TEST_DATABASE_URL is unset, the controlling pytest process starts a throwaway
cluster from the PostgreSQL binaries on PATH and hands its URL to the xdist workers through the
environment. Each test gets a fresh database cloned from a migrated template, so tests run in
parallel without seeing each other. A missing PostgreSQL is an error, never a skip.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from dockyard.store import migrations
from dockyard.store.db import libpq_url, make_engine
from dockyard.store.embedded import EmbeddedPostgres
from dockyard.store.events import EventStore

ENV_URL = "DOCKYARD_TEST_DATABASE_URL"
_cluster: EmbeddedPostgres | None = None
_cluster_dir: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _cluster, _cluster_dir
    if os.environ.get("PYTEST_XDIST_WORKER") or os.environ.get(ENV_URL):
        return
    _cluster_dir = tempfile.mkdtemp(prefix="dockyard-test-pg-")
    _cluster = EmbeddedPostgres(Path(_cluster_dir), fast_unsafe=True)
    _cluster.start()
    os.environ[ENV_URL] = _cluster.url("postgres")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _cluster is not None:
        _cluster.stop()
    if _cluster_dir is not None:
        shutil.rmtree(_cluster_dir, ignore_errors=True)


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def admin_url() -> str:
    url = os.environ.get(ENV_URL)
    if not url:
        raise RuntimeError(f"{ENV_URL} is not set and no test PostgreSQL could be started")
    return url


def _admin_execute(admin_url: str, sql: str) -> None:
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def template_database(admin_url: str) -> Iterator[str]:
    """A database migrated to head, cloned for each test."""
    name = f"dockyard_tpl_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    _admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}"')
    _admin_execute(admin_url, f'CREATE DATABASE "{name}"')
    engine = make_engine(with_database(admin_url, name))
    migrations.upgrade(engine)
    engine.dispose()
    yield name
    _admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _fresh_database(admin_url: str, template: str | None) -> Iterator[str]:
    name = f"dockyard_t_{uuid.uuid4().hex[:12]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    _admin_execute(admin_url, f'CREATE DATABASE "{name}"{clause}')
    yield with_database(admin_url, name)
    _admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(admin_url: str, template_database: str) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    yield from _fresh_database(admin_url, template_database)


@pytest.fixture
def empty_database_url(admin_url: str) -> Iterator[str]:
    """A fresh database with no schema at all."""
    yield from _fresh_database(admin_url, None)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=20)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> Iterator[EventStore]:
    store = EventStore(engine)
    yield store
    store.dispose()
