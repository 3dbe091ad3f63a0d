"""Schema migrations (alembic), and the guard that refuses to run on a schema that is behind."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

# Dockyard reports what migrations did in one line of its own; alembic's INFO chatter would
# bury the errors a user needs to see.
logging.getLogger("alembic").setLevel(logging.WARNING)


class SchemaOutOfDate(RuntimeError):
    """The database schema is not the one this Dockyard needs."""


def script_location() -> Path:
    """The migrations: shipped in the wheel as dockyard/_alembic, or the source tree's alembic/."""
    package_dir = Path(__file__).resolve().parent.parent
    for candidate in (package_dir / "_alembic", package_dir.parent.parent / "alembic"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("Dockyard's migrations are missing from this installation")


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def ensure_current(engine: Engine) -> None:
    """Refuse to run against a schema that is behind (or unknown to this version)."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    if current is None:
        raise SchemaOutOfDate(
            "the database has no Dockyard schema yet: run `dockyard db upgrade` first"
        )
    known = {rev.revision for rev in ScriptDirectory.from_config(_config()).walk_revisions()}
    if current not in known:
        raise SchemaOutOfDate(
            f"the database schema is at revision {current}, which this Dockyard does not know "
            f"(it needs {head}): it was migrated by a newer Dockyard; upgrade Dockyard"
        )
    raise SchemaOutOfDate(
        f"the database schema is at revision {current} but this Dockyard needs {head}: "
        "run `dockyard db upgrade`"
    )
