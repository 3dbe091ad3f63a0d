"""Event types the controllers and the scheduler write besides object events.

``KubeEventRecorded`` is a Kubernetes Event (core/v1) as a log record: what happened to which
object, why, and who said so. The API serves these as ``Event`` objects; the log keeps each one
(repeats are not folded here: a reader may fold identical repeats into ``count``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from dockyard.store.catalogue import CATALOGUE, Payload


class InvolvedObject(BaseModel):
    kind: str
    namespace: str = ""
    name: str
    uid: str = ""


class KubeEventPayload(Payload):
    involved_object: InvolvedObject = Field(description="the object the event is about")
    reason: str = Field(description="short CamelCase reason, e.g. SuccessfulCreate")
    message: str = Field(description="human-readable description")
    type: Literal["Normal", "Warning"] = "Normal"
    source: str = Field(description="component that recorded it, e.g. replicaset-controller")


KubeEventRecorded = CATALOGUE.declare(
    "KubeEventRecorded",
    KubeEventPayload,
    description="a Kubernetes Event: reason and message about an object, from a component",
)
