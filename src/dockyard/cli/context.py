"""What every command needs: settings, the database (configured or embedded), the store."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Engine

from dockyard.settings import Settings
from dockyard.store import migrations
from dockyard.store.db import make_engine
from dockyard.store.embedded import EmbeddedPostgres
from dockyard.store.events import EventStore

# Python collects its youngest generation every 700 net allocations. A request allocates
# thousands of short-lived objects, nearly all freed by reference counting, so at 700 the
# collector mostly re-walks the live objects of requests in flight: about a tenth of the API
# server's CPU per create at 20 clients (bench/api.py). A larger threshold walks them less often.
YOUNG_COLLECTION_THRESHOLD = 50_000


def settle_heap() -> None:
    """Tune the garbage collector for a long-running process, once it has built what lives as
    long as the process (modules, models, the app): that is moved out of the collector's full
    passes, which otherwise stall requests in the tail."""
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, 20, 100)


@dataclass
class Database:
    url: str
    engine: Engine
    store: EventStore
    embedded: EmbeddedPostgres | None


@contextlib.contextmanager
def open_database(
    settings: Settings, *, require_schema: bool = True, keep_embedded_running: bool = False
) -> Iterator[Database]:
    """Connect to the configured database, or start the embedded one when none is configured.

    An embedded server this command started is stopped again when it ends, unless asked to
    keep it (``dockyard up`` owns it for its whole run and stops it itself).
    """
    embedded: EmbeddedPostgres | None = None
    started_here = False
    url = settings.database_url
    if url is None:
        embedded = EmbeddedPostgres(settings.data_dir / "postgres")
        started_here = not embedded.running()
        url = embedded.start()
    engine = make_engine(url)
    try:
        _check_reachable(engine, url)
        if require_schema:
            migrations.ensure_current(engine)
        store = EventStore(engine)
        try:
            yield Database(url=url, engine=engine, store=store, embedded=embedded)
        finally:
            store.dispose()
    finally:
        engine.dispose()
        if embedded is not None and started_here and not keep_embedded_running:
            embedded.stop()


def _check_reachable(engine: Engine, url: str) -> None:
    from sqlalchemy.exc import OperationalError

    from dockyard.store.db import DatabaseUnavailable, redacted

    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except OperationalError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0].removeprefix("connection failed: ")
        raise DatabaseUnavailable(
            f"cannot connect to PostgreSQL at {redacted(url)} ({reason}); check "
            "DOCKYARD_DATABASE_URL, or unset it to use the embedded database"
        ) from None
