"""Leader election: one control plane at a time holds a PostgreSQL session advisory lock.

The lock lives on a dedicated connection. PostgreSQL releases a session lock when its session
ends, so a leader that dies (process killed, host gone, connection cut) loses leadership as
soon as the server notices, and a standby that retries every ``retry_seconds`` takes over
within a few seconds. The leader checks its connection every ``retry_seconds``: if the
connection fails it may no longer hold the lock, so it stops its controllers at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

from dockyard.store.db import DatabaseUnavailable, connect_raw

log = logging.getLogger(__name__)


class LeaderElector:
    """Calls ``on_started`` when this process becomes leader and ``on_stopped`` when it stops."""

    def __init__(
        self,
        database_url: str,
        *,
        lock_key: int,
        on_started: Callable[[], None],
        on_stopped: Callable[[], None],
        retry_seconds: float = 1.0,
        identity: str = "",
    ) -> None:
        self._url, self._key, self._retry = database_url, lock_key, retry_seconds
        self._on_started, self._on_stopped = on_started, on_stopped
        self.identity = identity
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._stop = threading.Event()
        self._leading = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def is_leader(self) -> bool:
        return self._leading.is_set()

    def wait_until_leading(self, timeout: float) -> bool:
        return self._leading.wait(timeout)

    def start(self) -> LeaderElector:
        self._thread = threading.Thread(target=self._run, name="leader-elector", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    if self._leading.is_set():
                        self._check()
                    else:
                        self._try_acquire()
                except (psycopg.Error, DatabaseUnavailable) as exc:
                    log.warning("leader election: %s", str(exc).strip())
                    self._lose()
                self._stop.wait(self._retry)
        finally:
            self._release()

    def _try_acquire(self) -> None:
        if self._conn is None:
            self._conn = connect_raw(self._url, autocommit=True)
            self._conn.execute(
                "SELECT set_config('application_name', %s, false)",
                (f"dockyard-controllers {self.identity}".strip(),),
            )
        row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
        if row is not None and row[0]:
            log.info("became leader (%s)", self.identity or "this process")
            self._leading.set()
            try:
                self._on_started()
            except Exception:
                log.exception("starting the controllers failed; giving up leadership")
                self._lose()

    def _check(self) -> None:
        assert self._conn is not None
        self._conn.execute("SELECT 1")

    def _lose(self) -> None:
        was_leading = self._leading.is_set()
        self._leading.clear()
        if was_leading:
            log.warning("lost leadership (%s)", self.identity or "this process")
            self._on_stopped()
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def _release(self) -> None:
        if self._leading.is_set():
            self._leading.clear()
            self._on_stopped()
        if self._conn is not None:
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
            except psycopg.Error:
                pass
            self._conn.close()
            self._conn = None
