"""Fixtures of the integration tests (the database ones are in tests/conftest.py)."""

from __future__ import annotations

import pytest

from dockyard.store.events import EventStore
from dockyard.store.writer import ObjectWriter
from tests.integration.team import BOB, namespace


@pytest.fixture
def team_writer(store: EventStore) -> ObjectWriter:
    """A sync writer, with the namespace "team" created."""
    writer = ObjectWriter(store)
    writer.create(namespace("team"), actor=BOB)
    return writer
