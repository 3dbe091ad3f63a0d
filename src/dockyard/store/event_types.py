"""Dockyard's event types. Every type the system writes is declared here, and only here.

Object events live on the object's stream (its uid) and carry the whole object as it is after
the change, so that any version of any object is one row away (time travel, audit diffs).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from dockyard.store.catalogue import CATALOGUE, Payload


class ObjectPayload(Payload):
    """The complete object (apiVersion, kind, metadata, spec, status) after the change."""

    object: dict[str, Any] = Field(description="the object after the change")


ObjectCreated = CATALOGUE.declare(
    "ObjectCreated",
    ObjectPayload,
    description="an object was created (kubectl create/apply, a controller, an agent)",
)
ObjectUpdated = CATALOGUE.declare(
    "ObjectUpdated",
    ObjectPayload,
    description="the desired state (metadata or spec) of an object changed",
)
ObjectStatusUpdated = CATALOGUE.declare(
    "ObjectStatusUpdated",
    ObjectPayload,
    description="the status of an object changed (controllers and agents report status)",
)
ObjectDeletionRequested = CATALOGUE.declare(
    "ObjectDeletionRequested",
    ObjectPayload,
    description="deletion began: deletionTimestamp is set, finalizers and graceful stop run",
)
ObjectDeleted = CATALOGUE.declare(
    "ObjectDeleted",
    ObjectPayload,
    description="the object is gone from the API; the payload is its last state",
)

OBJECT_EVENT_TYPES = frozenset(
    t.name
    for t in (
        ObjectCreated,
        ObjectUpdated,
        ObjectStatusUpdated,
        ObjectDeletionRequested,
        ObjectDeleted,
    )
)

# The rest of the catalogue, by area. Importing this module declares every event type, so
# anything that reads the log can decode any event.
from dockyard.store import event_types_agent as _agent  # noqa: E402, F401
from dockyard.store import event_types_controllers as _controllers  # noqa: E402, F401
