"""A :class:`PodLogSource` served by a node agent in the same process (``dockyard up``).

Pods bound to another node are answered 503: their agent runs elsewhere and this server cannot
reach it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from dockyard.agent.agent import Agent, PodNotFound
from dockyard.agent.runtime import ContainerRuntimeError
from dockyard.server.logs import LogOptions, LogUnavailable


class AgentLogSource:
    """Container logs read from the local agent's Docker engine."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def pod_log(self, pod: Mapping[str, Any], options: LogOptions) -> Iterator[bytes]:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        node = spec.get("nodeName")
        name = str(meta.get("name", ""))
        if not node:
            raise LogUnavailable(f"pod {name} is not scheduled to a node yet")
        if node != self.agent.config.node:
            raise LogUnavailable(
                f"pod {name} runs on node {node}, whose agent does not serve logs here", 503
            )
        since = None
        if options.since_seconds is not None:
            since = datetime.now(UTC) - timedelta(seconds=options.since_seconds)
        try:
            found = self.agent.logs(
                str(meta.get("namespace", "default")),
                name,
                options.container,
                previous=options.previous,
                tail=options.tail_lines,
                since=since,
                follow=options.follow,
                timestamps=options.timestamps,
            )
        except PodNotFound as exc:
            message = str(exc)
            if "not found" in message and "container" not in message:
                message = f'container "{options.container}" in pod "{name}" is waiting to start'
            raise LogUnavailable(message) from None
        except ContainerRuntimeError as exc:
            raise LogUnavailable(
                f"cannot read the log from the Docker engine: {exc}", 503
            ) from None
        if isinstance(found, bytes):
            data = found if options.limit_bytes is None else found[: options.limit_bytes]
            return iter([data])
        return _limited(found, options.limit_bytes)


def _limited(stream: Any, limit: int | None) -> Iterator[bytes]:
    sent = 0
    try:
        for chunk in stream:
            if limit is not None:
                chunk = chunk[: max(0, limit - sent)]
            sent += len(chunk)
            if chunk:
                yield chunk
            if limit is not None and sent >= limit:
                return
    finally:
        stream.close()
