"""Recording a pod's container events from the Docker engine while a test or bench runs.

A live stream, not a ``since``/``until`` query afterwards: the engine keeps only its last 256
events for such queries, and other work on the same engine pushes ours out.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import docker

from dockyard.agent.runtime import LABEL_CONTAINER_NAME, LABEL_POD_NAMESPACE


class ContainerEvents:
    """(status, time) of one container name's events in one namespace, as they happen."""

    def __init__(self, namespace: str, container: str) -> None:
        self._client = docker.from_env(version="auto")
        self._stream: Any = self._client.events(
            decode=True,
            filters={
                "type": "container",
                "label": [
                    f"{LABEL_POD_NAMESPACE}={namespace}",
                    f"{LABEL_CONTAINER_NAME}={container}",
                ],
            },
        )
        self._lock = threading.Lock()
        self._events: list[tuple[str, float]] = []
        self._thread = threading.Thread(target=self._read, name="docker-events", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with contextlib.suppress(Exception):  # the stream ends with an error when closed
            for event in self._stream:
                with self._lock:
                    self._events.append((str(event.get("status")), event["timeNano"] / 1e9))

    def times(self, status: str) -> list[float]:
        with self._lock:
            return [t for s, t in self._events if s == status]

    def close(self) -> None:
        self._stream.close()
        self._thread.join(timeout=5)
        self._client.close()
