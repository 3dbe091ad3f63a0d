"""The runtime seam: what the node agent needs from a container engine, as typed values.

The pod worker plans against these types and calls a :class:`ContainerRuntime`; the Docker
adapter (``docker_runtime.py``) is one implementation, an in-memory fake can be another. Labels
are the only link between a container and its pod (they cannot change after create, so every
identity field is written at create time), which is why :func:`identity_from_labels` is the
single parser for them and :func:`container_labels` the single writer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

__all__ = [
    "ACTIONS",
    "LABEL_CONTAINER_HASH",
    "LABEL_CONTAINER_NAME",
    "LABEL_MANAGED",
    "LABEL_POD_NAME",
    "LABEL_POD_NAMESPACE",
    "LABEL_POD_UID",
    "LABEL_RESTART_COUNT",
    "LABEL_SANDBOX",
    "ContainerCreateError",
    "ContainerIdentity",
    "ContainerInfo",
    "ContainerNotFound",
    "ContainerPort",
    "ContainerRuntime",
    "ContainerSpec",
    "ContainerState",
    "EventStream",
    "ExecResult",
    "HostCapacity",
    "HostNetwork",
    "ImageNeverPullError",
    "ImageNotFound",
    "ImagePullError",
    "InvalidImageName",
    "JoinNetwork",
    "LogStream",
    "NetworkMode",
    "NodeRuntime",
    "PullPolicy",
    "ContainerRuntimeError",
    "RuntimeEvent",
    "RuntimeUnavailable",
    "SandboxNetwork",
    "SandboxSpec",
    "container_labels",
    "default_pull_policy",
    "identity_from_labels",
    "instances_of",
    "parse_time",
    "sandbox_labels",
]

# Reverse-DNS label keys (docker-engine.md §4: `com.docker.*` etc. are reserved).
LABEL_MANAGED = "io.dockyard.managed"
LABEL_POD_UID = "io.dockyard.pod.uid"
LABEL_POD_NAMESPACE = "io.dockyard.pod.namespace"
LABEL_POD_NAME = "io.dockyard.pod.name"
LABEL_CONTAINER_NAME = "io.dockyard.container.name"
LABEL_CONTAINER_HASH = "io.dockyard.container.hash"
LABEL_RESTART_COUNT = "io.dockyard.container.restart-count"
LABEL_SANDBOX = "io.dockyard.sandbox"

# The Docker event actions the agent listens to; everything else (exec_*, health_status, ...)
# is noise for it.
ACTIONS: tuple[str, ...] = ("create", "start", "die", "oom", "kill", "stop", "destroy")

PullPolicy = Literal["Always", "IfNotPresent", "Never"]
ContainerState = Literal["created", "running", "exited"]


# --- errors -------------------------------------------------------------------------------


class ContainerRuntimeError(Exception):
    """Base of every error the runtime raises; never a raw docker-py exception."""


class RuntimeUnavailable(ContainerRuntimeError):
    """The engine cannot be reached (socket gone, daemon restarting, connection reset)."""


class ContainerNotFound(ContainerRuntimeError):
    """The container does not exist (any more)."""


class ImageNotFound(ContainerRuntimeError):
    """The image is not present locally."""


class ImagePullError(ContainerRuntimeError):
    """Pulling failed. ``reason`` is the Kubernetes waiting reason to report."""

    reason: str = "ErrImagePull"

    def __init__(self, image: str, message: str) -> None:
        super().__init__(message)
        self.image = image
        self.message = message


class ImageNeverPullError(ImagePullError):
    """``imagePullPolicy: Never`` and the image is not present."""

    reason = "ErrImageNeverPull"


class InvalidImageName(ImagePullError):
    """The image reference cannot be parsed."""

    reason = "InvalidImageName"


class ContainerCreateError(ContainerRuntimeError):
    """Create or start failed (bad command, name conflict, ...); ``RunContainerError`` in k8s."""


# --- specs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SandboxNetwork:
    """The pod's own network namespace: only the sandbox container uses it (Docker bridge)."""


@dataclass(frozen=True)
class JoinNetwork:
    """Join the sandbox's network namespace (``network_mode=container:<id>``)."""

    sandbox_id: str


@dataclass(frozen=True)
class HostNetwork:
    """``hostNetwork: true`` (``network_mode=host``)."""


NetworkMode = SandboxNetwork | JoinNetwork | HostNetwork


@dataclass(frozen=True)
class ContainerPort:
    container_port: int
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    host_port: int | None = None
    host_ip: str = ""


@dataclass(frozen=True)
class ContainerSpec:
    """One app container of a pod, as the runtime creates it.

    ``command``/``args`` follow Kubernetes: ``command`` replaces the image ENTRYPOINT, ``args``
    its CMD; ``None`` keeps the image's value. ``restart_count`` is the attempt number written to
    the restart-count label (0 for the first instance).
    """

    pod_uid: str
    namespace: str
    pod_name: str
    container_name: str
    spec_hash: str
    image: str
    network: NetworkMode
    restart_count: int = 0
    command: tuple[str, ...] | None = None
    args: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    ports: tuple[ContainerPort, ...] = ()
    memory_limit_bytes: int | None = None
    nano_cpus: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    stop_signal: str | None = None


@dataclass(frozen=True)
class SandboxSpec:
    """The pod's network sandbox ("pause") container; ``ports`` with a host port are published."""

    pod_uid: str
    namespace: str
    pod_name: str
    host_network: bool = False
    hostname: str | None = None
    ports: tuple[ContainerPort, ...] = ()
    attempt: int = 0
    labels: Mapping[str, str] = field(default_factory=dict)


# --- observations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ContainerIdentity:
    """Who a container belongs to, parsed from its labels."""

    pod_uid: str
    namespace: str
    pod_name: str
    container_name: str  # "" for a sandbox
    spec_hash: str
    restart_count: int
    sandbox: bool


@dataclass(frozen=True)
class ContainerInfo:
    """One container as inspected. Times are UTC; Docker's zero time becomes ``None``."""

    id: str
    name: str
    labels: Mapping[str, str]
    identity: ContainerIdentity | None
    state: ContainerState
    exit_code: int
    oom_killed: bool
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime | None
    error: str
    image: str
    image_id: str
    ip: str
    docker_status: str  # raw State.Status (created, running, paused, restarting, exited, dead…)
    memory_limit_bytes: int = 0  # HostConfig.Memory; 0: no limit (see agent/oom.py)


@dataclass(frozen=True)
class RuntimeEvent:
    """One Docker container event (``Actor.ID``, ``Action``, ``Actor.Attributes``, ``timeNano``)."""

    container_id: str
    action: str
    time_nano: int
    attributes: Mapping[str, str]

    @property
    def since(self) -> str:
        """The ``sec.nanos`` string to resume the events stream from (docker-engine.md §5)."""
        seconds, nanos = divmod(self.time_nano, 1_000_000_000)
        return f"{seconds}.{nanos:09d}"

    @property
    def dedupe_key(self) -> tuple[str, str, int]:
        return (self.container_id, self.action, self.time_nano)

    @property
    def exit_code(self) -> int | None:
        raw = self.attributes.get("exitCode")
        return int(raw) if raw is not None and raw.lstrip("-").isdigit() else None

    @property
    def identity(self) -> ContainerIdentity | None:
        # Docker copies every container label into the event attributes.
        return identity_from_labels(self.attributes)


@dataclass(frozen=True)
class ExecResult:
    """``exit_code`` is ``None`` when the command timed out (and was killed, best effort)."""

    exit_code: int | None
    output: bytes
    timed_out: bool = False


@dataclass(frozen=True)
class HostCapacity:
    cpus: int
    memory_bytes: int
    hostname: str
    engine_version: str
    api_version: str
    operating_system: str
    kernel_version: str


class EventStream(Protocol):
    """An iterator of events that another thread may :meth:`close`.

    After :meth:`close` the iteration ends quietly; if the engine drops the stream instead,
    iteration raises :class:`RuntimeUnavailable` so the caller reconnects and relists.
    """

    def __iter__(self) -> Iterator[RuntimeEvent]: ...

    def close(self) -> None: ...


class LogStream(Protocol):
    """Followed log chunks (bytes); :meth:`close` stops following from another thread."""

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class ContainerRuntime(Protocol):
    """Everything the node agent does to its engine. Only Dockyard-labelled containers."""

    def ensure_image(self, image: str, *, pull_policy: PullPolicy) -> str:
        """Return the image id, pulling per ``pull_policy``; raises :class:`ImagePullError`."""
        ...

    def create_sandbox(self, spec: SandboxSpec) -> str:
        """Create and start the pod's network sandbox; return its container id."""
        ...

    def create_container(self, spec: ContainerSpec) -> str:
        """Create (not start) an app container; return its id."""
        ...

    def start_container(self, container_id: str) -> None: ...

    def stop_container(self, container_id: str, *, timeout: float) -> None:
        """SIGTERM (or the stop signal), then SIGKILL after ``timeout`` seconds."""
        ...

    def kill_container(self, container_id: str, *, signal: str = "SIGKILL") -> None: ...

    def remove_container(self, container_id: str, *, force: bool = False) -> None: ...

    def inspect(self, container_id: str) -> ContainerInfo: ...

    def list_containers(self, *, pod_uid: str | None = None) -> list[ContainerInfo]:
        """Every Dockyard container (running or not), optionally of one pod."""
        ...

    def exec(self, container_id: str, command: Sequence[str], *, timeout: float) -> ExecResult: ...

    def logs(
        self,
        container_id: str,
        *,
        tail: int | None = None,
        since: datetime | None = None,
        timestamps: bool = False,
    ) -> bytes: ...

    def follow_logs(
        self,
        container_id: str,
        *,
        tail: int | None = None,
        since: datetime | None = None,
        timestamps: bool = False,
    ) -> LogStream: ...

    def events(self, *, since: str | None = None) -> EventStream: ...

    def pod_ip(self, sandbox_id: str) -> str: ...

    def capacity(self) -> HostCapacity: ...


class NodeRuntime(ContainerRuntime, Protocol):
    """What the node agent needs beyond one pod's containers: the cheap relist of them all."""

    def container_states(
        self, *, labels: Mapping[str, str] | None = None
    ) -> dict[str, tuple[str, str]]:
        """``{container id: (pod uid, state)}`` of every managed container (with ``labels``)."""
        ...


# --- pure helpers ---------------------------------------------------------------------------


def _pod_labels(pod_uid: str, namespace: str, pod_name: str) -> dict[str, str]:
    return {
        LABEL_MANAGED: "true",
        LABEL_POD_UID: pod_uid,
        LABEL_POD_NAMESPACE: namespace,
        LABEL_POD_NAME: pod_name,
    }


def container_labels(spec: ContainerSpec) -> dict[str, str]:
    """The labels written on an app container; identity keys win over user labels."""
    return {
        **spec.labels,
        **_pod_labels(spec.pod_uid, spec.namespace, spec.pod_name),
        LABEL_CONTAINER_NAME: spec.container_name,
        LABEL_CONTAINER_HASH: spec.spec_hash,
        LABEL_RESTART_COUNT: str(spec.restart_count),
    }


def sandbox_labels(spec: SandboxSpec) -> dict[str, str]:
    return {
        **spec.labels,
        **_pod_labels(spec.pod_uid, spec.namespace, spec.pod_name),
        LABEL_SANDBOX: "true",
        LABEL_RESTART_COUNT: str(spec.attempt),
    }


def identity_from_labels(labels: Mapping[str, str]) -> ContainerIdentity | None:
    """Parse the identity labels; ``None`` for a container Dockyard did not create."""
    if labels.get(LABEL_MANAGED) != "true" or LABEL_POD_UID not in labels:
        return None
    raw_count = labels.get(LABEL_RESTART_COUNT, "0")
    return ContainerIdentity(
        pod_uid=labels[LABEL_POD_UID],
        namespace=labels.get(LABEL_POD_NAMESPACE, ""),
        pod_name=labels.get(LABEL_POD_NAME, ""),
        container_name=labels.get(LABEL_CONTAINER_NAME, ""),
        spec_hash=labels.get(LABEL_CONTAINER_HASH, ""),
        restart_count=int(raw_count) if raw_count.isdigit() else 0,
        sandbox=labels.get(LABEL_SANDBOX) == "true",
    )


def instances_of(
    containers: Sequence[ContainerInfo], *, pod_uid: str, container_name: str
) -> list[ContainerInfo]:
    """The instances of one pod container, newest first (highest restart count, then creation).

    ``[0]`` gives ``state``, ``[1]`` gives ``lastState`` and ``kubectl logs --previous``
    (k8s-semantics.md §2: two instances per name at most matter).
    """
    mine = [
        c
        for c in containers
        if c.identity is not None
        and not c.identity.sandbox
        and c.identity.pod_uid == pod_uid
        and c.identity.container_name == container_name
    ]
    return sorted(
        mine,
        key=lambda c: (
            c.identity.restart_count if c.identity else 0,
            c.created_at.timestamp() if c.created_at else 0.0,
        ),
        reverse=True,
    )


def default_pull_policy(image: str) -> PullPolicy:
    """Kubernetes default: ``Always`` for ``:latest`` or no tag, else ``IfNotPresent``."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "Always"
    return "Always" if last.rsplit(":", 1)[1] == "latest" else "IfNotPresent"


def parse_time(value: str | None) -> datetime | None:
    """Parse an RFC 3339 time as Docker and Kubernetes write it; zero or empty gives ``None``.

    Nanoseconds are cut to microseconds (Python's resolution); Docker's zero time
    ``0001-01-01T00:00:00Z`` means "never".
    """
    if not value or value.startswith("0001-01-01"):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if "." in text:
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:digits][:6].ljust(6, '0')}{rest[digits:]}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
