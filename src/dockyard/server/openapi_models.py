"""Models of the wire types the server answers with but never parses, for the OpenAPI documents.

Lists, ``Status``, ``DeleteOptions``, ``Scale`` and the ``Event`` kinds are built as plain JSON by
the server (status.py, subresources.py, events.py); these models describe those shapes so that
openapi_schema.py documents them with the same generator as the parsed kinds. ``NAMES`` gives
each its Kubernetes schema name.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from dockyard.model.meta import KubeModel, ObjectMeta, Time

META = "io.k8s.apimachinery.pkg.apis.meta.v1"


class ListMeta(KubeModel):
    resource_version: str | None = None
    continue_: str | None = Field(default=None, alias="continue")
    remaining_item_count: int | None = None
    self_link: str | None = None


class StatusCause(KubeModel):
    reason: str | None = None
    message: str | None = None
    field: str | None = None


class StatusDetails(KubeModel):
    name: str | None = None
    group: str | None = None
    kind: str | None = None
    uid: str | None = None
    causes: list[StatusCause] = Field(default_factory=list)
    retry_after_seconds: int | None = None


class Status(KubeModel):
    api_version: str | None = None
    kind: str | None = None
    metadata: ListMeta = Field(default_factory=ListMeta)
    status: str | None = None
    message: str | None = None
    reason: str | None = None
    details: StatusDetails | None = None
    code: int | None = None


class Preconditions(KubeModel):
    uid: str | None = None
    resource_version: str | None = None


class DeleteOptions(KubeModel):
    api_version: str | None = None
    kind: str | None = None
    grace_period_seconds: int | None = None
    preconditions: Preconditions | None = None
    orphan_dependents: bool | None = None
    propagation_policy: str | None = None
    dry_run: list[str] = Field(default_factory=list)


class Patch(KubeModel):
    pass


class ScaleSpec(KubeModel):
    replicas: int | None = None


class ScaleStatus(KubeModel):
    replicas: int
    selector: str | None = None


class Scale(KubeModel):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ScaleSpec = Field(default_factory=ScaleSpec)
    status: ScaleStatus | None = None


class ObjectReference(KubeModel):
    api_version: str | None = None
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    field_path: str | None = None


class EventSource(KubeModel):
    component: str | None = None
    host: str | None = None


class CoreEvent(KubeModel):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta
    involved_object: ObjectReference
    reason: str | None = None
    message: str | None = None
    type: str | None = None
    source: EventSource = Field(default_factory=EventSource)
    count: int | None = None
    first_timestamp: Time | None = None
    last_timestamp: Time | None = None
    reporting_component: str | None = None
    reporting_instance: str | None = None


class EventsV1Event(KubeModel):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    regarding: ObjectReference = Field(default_factory=ObjectReference)
    reason: str | None = None
    note: str | None = None
    type: str | None = None
    reporting_controller: str | None = None
    reporting_instance: str | None = None
    event_time: Time
    deprecated_count: int | None = None
    deprecated_first_timestamp: Time | None = None
    deprecated_last_timestamp: Time | None = None
    deprecated_source: EventSource = Field(default_factory=EventSource)


NAMES: dict[type[BaseModel], str] = {
    ListMeta: f"{META}.ListMeta",
    StatusCause: f"{META}.StatusCause",
    StatusDetails: f"{META}.StatusDetails",
    Status: f"{META}.Status",
    Preconditions: f"{META}.Preconditions",
    DeleteOptions: f"{META}.DeleteOptions",
    Patch: f"{META}.Patch",
    ScaleSpec: "io.k8s.api.autoscaling.v1.ScaleSpec",
    ScaleStatus: "io.k8s.api.autoscaling.v1.ScaleStatus",
    Scale: "io.k8s.api.autoscaling.v1.Scale",
    ObjectReference: "io.k8s.api.core.v1.ObjectReference",
    EventSource: "io.k8s.api.core.v1.EventSource",
    CoreEvent: "io.k8s.api.core.v1.Event",
    EventsV1Event: "io.k8s.api.events.v1.Event",
}
