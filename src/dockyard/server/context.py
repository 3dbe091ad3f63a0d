"""What every handler receives: the server's shared parts and one request's identity."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from dockyard.model.kinds import KindInfo, find_kind
from dockyard.server.auth import User
from dockyard.server.discovery import Resource
from dockyard.server.logs import PodLogSource
from dockyard.store.async_events import AsyncEventStore
from dockyard.store.async_writer import AsyncObjectWriter
from dockyard.store.events import EventStore
from dockyard.store.writer import Actor, ObjectKey, ObjectWriter

JsonObject = dict[str, Any]


@dataclass
class ApiContext:
    """Shared by every request; safe to use from many threads."""

    engine: Engine
    store: EventStore
    database_url: str
    writer: ObjectWriter
    max_body_bytes: int = 3 * 1024 * 1024
    poll_interval: float = 1.0
    log_source: PodLogSource | None = None
    bookmark_interval: float = 60.0
    watch_buffer_events: int = 5000  # object events the watch hub keeps in memory (loghub.py)
    event_ttl_seconds: float = 3600.0  # kube-apiserver --event-ttl: Events older are not served
    # create, update and patch await the database on the server's event loop (no thread
    # hand-offs); opened on first use, closed when the app stops.
    aio: AsyncObjectWriter = field(init=False)

    def __post_init__(self) -> None:
        self.aio = AsyncObjectWriter(AsyncEventStore(self.database_url))


@dataclass(frozen=True)
class Call:
    """One request against a resource: what, where, who, and the query parameters."""

    resource: Resource
    namespace: str
    name: str | None
    subresource: str | None
    user: User
    actor: Actor
    query: Mapping[str, str] = field(default_factory=dict)
    kubectl_command: str = ""

    @property
    def kind_info(self) -> KindInfo | None:
        return find_kind(self.resource.api_version, self.resource.kind)

    def key(self, name: str | None = None) -> ObjectKey:
        return ObjectKey(self.resource.kind, self.namespace, name or self.name or "")

    @property
    def dry_run(self) -> bool:
        return self.query.get("dryRun", "") == "All"
