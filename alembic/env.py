"""Alembic environment: Dockyard runs migrations on the connection it hands over.

`dockyard db upgrade` (see dockyard.store.migrations) passes a live connection in
``config.attributes["connection"]``; plain ``alembic`` runs use ``sqlalchemy.url``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        context.configure(connection=conn, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("Dockyard's migrations run online only: use `dockyard db upgrade`.")
run_migrations_online()
