from __future__ import annotations

import pytest
from sqlalchemy import Engine

from dockyard.store.events import EventStore
from dockyard.store.projections import ProjectionRunner
from dockyard.store.registry import all_projections
from dockyard.store.writer import ObjectWriter
from tests.audit.scenario import Scenario, build


@pytest.fixture
def scenario(engine: Engine, store: EventStore) -> Scenario:
    built = build(ObjectWriter(store))
    ProjectionRunner(engine, store, all_projections()).catch_up()
    return built
