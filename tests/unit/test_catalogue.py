"""The event catalogue: declared once, validated payloads, old versions upcast on read."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dockyard.store.catalogue import (
    CATALOGUE,
    Catalogue,
    Payload,
    UnknownEventType,
    UnreadableEvent,
)
from dockyard.store.event_types import OBJECT_EVENT_TYPES, ObjectCreated, ObjectPayload


class RestartedV3(Payload):
    container: str
    exit_code: int
    reason: str


def _v1_to_v2(data: dict) -> dict:  # v1 named the field "code"
    return {"container": data["container"], "exit_code": data["code"]}


def _v2_to_v3(data: dict) -> dict:  # v3 added a reason; old events had none recorded
    return {**data, "reason": "Unknown"}


@pytest.fixture
def catalogue() -> Catalogue:
    c = Catalogue()
    c.declare(
        "ContainerRestarted",
        RestartedV3,
        schema_version=3,
        upcasters={1: _v1_to_v2, 2: _v2_to_v3},
        description="test",
    )
    return c


@pytest.mark.parametrize(
    ("stored_version", "data"),
    [
        (1, {"container": "app", "code": 137}),
        (2, {"container": "app", "exit_code": 137}),
        (3, {"container": "app", "exit_code": 137, "reason": "Unknown"}),
    ],
)
def test_old_versions_are_upcast(catalogue: Catalogue, stored_version: int, data: dict) -> None:
    event_type = catalogue.get("ContainerRestarted")
    assert event_type.decode(data, stored_version) == RestartedV3(
        container="app", exit_code=137, reason="Unknown"
    )


def test_newer_than_known_is_unreadable(catalogue: Catalogue) -> None:
    with pytest.raises(UnreadableEvent, match="newer Dockyard"):
        catalogue.get("ContainerRestarted").decode({}, 4)


def test_bad_stored_payload_is_unreadable(catalogue: Catalogue) -> None:
    with pytest.raises(UnreadableEvent):
        catalogue.get("ContainerRestarted").decode({"container": "x"}, 3)


def test_declaring_needs_every_upcaster_and_unique_names() -> None:
    c = Catalogue()
    with pytest.raises(ValueError, match="lacks upcasters"):
        c.declare("X", RestartedV3, schema_version=2, description="x")
    c.declare("Y", RestartedV3, description="y")
    with pytest.raises(ValueError, match="declared twice"):
        c.declare("Y", RestartedV3, description="y")
    with pytest.raises(UnknownEventType):
        c.get("Z")


def test_payloads_reject_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        ObjectPayload.model_validate({"object": {}, "extra": 1})


def test_dockyard_catalogue_lists_object_events() -> None:
    assert OBJECT_EVENT_TYPES <= set(CATALOGUE.names())
    assert ObjectCreated.encode(ObjectPayload(object={"a": 1})) == {"object": {"a": 1}}
    with pytest.raises(TypeError):
        ObjectCreated.encode(RestartedV3(container="a", exit_code=1, reason="r"))  # type: ignore[arg-type]


def test_event_ids_are_version_7_and_grow_with_time() -> None:
    from dockyard.store.events import time_ordered_uuid

    ids = [time_ordered_uuid() for _ in range(50)]
    assert all(i.version == 7 and i.variant == "specified in RFC 4122" for i in ids)
    assert len(set(ids)) == 50
    millis = [i.int >> 80 for i in ids]
    assert millis == sorted(millis)
