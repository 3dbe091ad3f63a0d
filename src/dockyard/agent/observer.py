"""The Docker events stream as a hint: which pod to look at now.

Events are never trusted as facts (the pod worker relists before it records anything); they
only make the agent look sooner than the periodic relist would. The stream is resumed from the
last event's ``sec.nanos`` time after a drop and reconnected with a short back-off; after any
gap the ``on_gap`` callback asks for a full relist, since the engine replays at most 256
events and may have lost more (docker-engine.md §3).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from dockyard.agent.runtime import (
    ContainerRuntime,
    ContainerRuntimeError,
    EventStream,
    RuntimeEvent,
)

__all__ = ["EventObserver"]

log = logging.getLogger(__name__)


class EventObserver:
    def __init__(
        self,
        runtime: ContainerRuntime,
        *,
        on_pod_event: Callable[[str, RuntimeEvent], None],
        on_gap: Callable[[], None],
        reconnect_delay: float = 0.5,
        max_reconnect_delay: float = 5.0,
    ) -> None:
        self.runtime = runtime
        self.on_pod_event = on_pod_event
        self.on_gap = on_gap
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.since: str | None = None
        self.connected = threading.Event()
        self.reconnects = 0
        self._stop = threading.Event()
        self._stream: EventStream | None = None
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="docker-events", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.drop()
        self.thread.join(timeout=5)

    def drop(self) -> None:
        """Close the current stream (as the engine would on a restart); it reconnects."""
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.close()

    def _run(self) -> None:
        delay = self.reconnect_delay
        first = True
        while not self._stop.is_set():
            try:
                stream = self.runtime.events(since=self.since)
            except ContainerRuntimeError as exc:
                log.warning("Docker events: cannot subscribe: %s", exc)
                self._stop.wait(delay)
                delay = min(delay * 2, self.max_reconnect_delay)
                continue
            with self._lock:
                self._stream = stream
            self.connected.set()
            if not first:
                self.reconnects += 1
                self.on_gap()  # what happened while disconnected: the relist will tell
            first = False
            delay = self.reconnect_delay
            try:
                for event in stream:
                    self.since = event.since
                    identity = event.identity
                    if identity is not None:
                        self.on_pod_event(identity.pod_uid, event)
            except ContainerRuntimeError as exc:
                log.warning("Docker events stream lost (%s); reconnecting", exc)
            finally:
                self.connected.clear()
                with self._lock:
                    self._stream = None
            if not self._stop.is_set():
                self._stop.wait(delay)
