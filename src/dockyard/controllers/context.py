"""What every executor needs: the writer, the cache, who it writes as, and an event recorder.

Every write names the controller as its actor (``system:controller:<name>`` or
``default-scheduler``, source ``controller-manager``) and the log position that caused it.
Writes go through the cache, so the next sync sees them before the log echoes them back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from dockyard.controllers.runtime import ObjectCache
from dockyard.controllers.views import Event
from dockyard.settings import Settings
from dockyard.store.event_types_controllers import (
    InvolvedObject,
    KubeEventPayload,
    KubeEventRecorded,
)
from dockyard.store.events import NewEvent, new_event
from dockyard.store.writer import Actor, NotFound, ObjectKey, ObjectWriter

SOURCE = "controller-manager"
JsonObject = dict[str, Any]


def controller_actor(name: str) -> Actor:
    """``system:controller:<name>``, or the scheduler's own name."""
    full = name if name == "default-scheduler" else f"system:controller:{name}"
    return Actor(name=full, groups=("system:controllers",), source=SOURCE)


@dataclass
class ControllerContext:
    writer: ObjectWriter
    cache: ObjectCache
    settings: Settings

    def kube_event(
        self,
        event: Event,
        *,
        component: str,
        uid: str = "",
        causation: int | None = None,
    ) -> NewEvent:
        """A ``KubeEventRecorded`` about ``event``'s involved object, ready to append."""
        involved = InvolvedObject(
            kind=event.involved_kind,
            namespace=event.involved_namespace,
            name=event.involved_name,
            uid=uid,
        )
        payload = KubeEventPayload(
            involved_object=involved,
            reason=event.reason,
            message=event.message,
            type=event.type,
            source=component,
        )
        actor = controller_actor(component)
        return new_event(
            KubeEventRecorded,
            f"kube-event:{uid or event.involved_kind + '/' + event.involved_name}",
            payload,
            metadata=actor.metadata("record", causation=causation),
        )

    def record(
        self,
        conn: Connection | None,
        events: list[NewEvent],
    ) -> None:
        if not events:
            return
        if conn is None:
            self.writer.store.append(events)
        else:
            self.writer.store.append(events, conn=conn)

    # -- writes through the cache -----------------------------------------------------------

    def create(
        self, conn: Connection, body: Mapping[str, Any], actor: Actor, causation: int | None
    ) -> JsonObject:
        stored = self.writer.create_in(conn, body, actor=actor, causation=causation)
        return stored

    def update(
        self,
        conn: Connection,
        body: Mapping[str, Any],
        actor: Actor,
        causation: int | None,
        *,
        status_only: bool = False,
        verb: str = "update",
    ) -> JsonObject:
        return self.writer.update_in(
            conn, body, actor=actor, causation=causation, status_only=status_only, verb=verb
        )

    def delete(
        self,
        conn: Connection,
        body: Mapping[str, Any],
        actor: Actor,
        causation: int | None,
        *,
        graceful: bool = False,
    ) -> JsonObject | None:
        """Delete; None when it is already gone (someone else won the race)."""
        try:
            return self.writer.delete_in(
                conn, ObjectKey.of(body), actor=actor, graceful=graceful, causation=causation
            )
        except NotFound:
            return None

    def observe(self, written: list[tuple[JsonObject, bool]]) -> None:
        """After commit: put written objects (``deleted`` flag) into the cache."""
        for body, deleted in written:
            if deleted:
                self.cache.observe_deleted(body)
            else:
                self.cache.observe(body)


def pod_delete_is_graceful(pod: Mapping[str, Any]) -> bool:
    """A bound pod is stopped by its node first; an unbound one has nothing to stop."""
    return bool((pod.get("spec") or {}).get("nodeName"))
