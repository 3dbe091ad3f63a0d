"""Typed settings, loaded once at the composition root and passed down.

Every setting comes from an environment variable prefixed ``DOCKYARD_`` (for example
``DOCKYARD_DATABASE_URL``); nothing else in the code reads the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    if os.geteuid() == 0:  # a system service: root's home is not reachable by PostgreSQL's user
        return Path("/var/lib/dockyard")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "dockyard"


class Settings(BaseSettings):
    """Dockyard's settings. Unknown ``DOCKYARD_*`` variables are ignored."""

    model_config = SettingsConfigDict(env_prefix="DOCKYARD_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://user:pass@host/db). Unset: `dockyard up` starts "
        "an embedded PostgreSQL that keeps its data in data_dir.",
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where Dockyard keeps local state (the embedded database among it).",
    )
    log_level: str = Field(default="INFO", description="Python logging level.")
    poll_interval_seconds: float = Field(
        default=1.0,
        gt=0,
        le=1.0,
        description="Log followers re-read the log at least this often even without a NOTIFY.",
    )
    projection_batch_size: int = Field(default=1000, ge=1, le=100_000)


def load_settings() -> Settings:
    """Read the settings from the environment (the one place that does)."""
    return Settings()
