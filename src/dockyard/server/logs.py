"""``pods/log``: the interface a node agent implements to serve container logs, and an
implementation over the container runtime for a single host."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from dockyard.agent.runtime import (
    ContainerRuntime,
    ContainerRuntimeError,
    LogStream,
    RuntimeUnavailable,
    instances_of,
)


@dataclass(frozen=True)
class LogOptions:
    container: str
    follow: bool = False
    previous: bool = False
    tail_lines: int | None = None
    since_seconds: int | None = None
    timestamps: bool = False
    limit_bytes: int | None = None


class LogUnavailable(Exception):
    """The log cannot be served (container not started, agent unreachable ...).

    ``code`` is the HTTP status: 400 for a client's mistake (no such container, not started
    yet), 503 when the agent is not reachable.
    """

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.code = code


class PodLogSource(Protocol):
    """Serves a container's log; implemented by the node agent (one per Docker host)."""

    def pod_log(self, pod: Mapping[str, Any], options: LogOptions) -> Iterator[bytes]:
        """Chunks of the log of ``options.container`` in ``pod`` (the pod's JSON).

        With ``follow`` the iterator keeps yielding until the container stops or the caller
        closes it. Raise :class:`LogUnavailable` when the log cannot be read.
        """
        ...


class RuntimeLogSource:
    """A :class:`PodLogSource` reading straight from the container runtime of the pod's node.

    For a single-host cluster (the API server next to the Docker engine its agent drives): the
    pod's containers carry Dockyard's labels, so the instance is found by pod uid and container
    name exactly as the agent finds it (``instances_of``: newest first, ``[1]`` is previous).
    """

    def __init__(self, runtime: ContainerRuntime) -> None:
        self.runtime = runtime

    def pod_log(self, pod: Mapping[str, Any], options: LogOptions) -> Iterator[bytes]:
        meta = pod.get("metadata") or {}
        name, uid = str(meta.get("name", "")), str(meta.get("uid", ""))
        try:
            found = instances_of(
                self.runtime.list_containers(pod_uid=uid),
                pod_uid=uid,
                container_name=options.container,
            )
        except RuntimeUnavailable as exc:
            raise LogUnavailable(f"the container runtime is not reachable: {exc}", 503) from None
        index = 1 if options.previous else 0
        if len(found) <= index:
            which = "previous terminated" if options.previous else "current"
            raise LogUnavailable(
                f'{which} container "{options.container}" in pod "{name}" not found'
            )
        since = (
            datetime.now(UTC) - timedelta(seconds=options.since_seconds)
            if options.since_seconds is not None
            else None
        )
        target = found[index].id
        try:
            if options.follow:
                stream = self.runtime.follow_logs(
                    target, tail=options.tail_lines, since=since, timestamps=options.timestamps
                )
                return _limited(_closing(stream), options.limit_bytes)
            data = self.runtime.logs(
                target, tail=options.tail_lines, since=since, timestamps=options.timestamps
            )
        except ContainerRuntimeError as exc:
            raise LogUnavailable(f"cannot read the log of {options.container}: {exc}") from None
        return _limited(iter([data]), options.limit_bytes)


def _closing(stream: LogStream) -> Iterator[bytes]:
    try:
        yield from stream
    finally:
        stream.close()


def _limited(chunks: Iterator[bytes], limit: int | None) -> Iterator[bytes]:
    """``limitBytes``: stop after that many bytes (a chunk may be cut)."""
    if limit is None:
        yield from chunks
        return
    left = limit
    for chunk in chunks:
        if left <= 0:
            break
        yield chunk[:left]
        left -= len(chunk)
