"""The node agent's event types: what it observed on its Docker engine, as transitions only.

Stream: every runtime fact about a pod goes to the stream ``pod-runtime:<pod uid>``, not to the
pod's own stream (its uid), which holds the object events written through ``ObjectWriter`` with
expected versions. Keeping the two apart lets the agent append without racing the API on the
object's stream version; the agent is the only writer of a pod's runtime stream (one node owns
a pod), so it appends without expected versions and re-reads the stream after a restart to know
what it has already recorded. Node facts go to ``node-runtime:<node name>``.

Payload fields are camelCase, as Kubernetes spells the same facts (exitCode, containerID ...).
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from dockyard.store.catalogue import CATALOGUE, Payload

__all__ = [
    "AGENT_EVENT_TYPES",
    "ContainerBackOff",
    "ContainerCreated",
    "ContainerEvent",
    "ContainerExited",
    "ContainerExitedPayload",
    "ContainerKilled",
    "ContainerKilledPayload",
    "ContainerProbeSucceeded",
    "ContainerStartFailed",
    "ContainerStarted",
    "ContainerUnhealthy",
    "FailedPostStartHook",
    "FailedPreStopHook",
    "HookFailedPayload",
    "ImagePullFailed",
    "ImagePullFailedPayload",
    "LifecycleHookNotify",
    "LifecycleHookNotifyPayload",
    "NodeRegistered",
    "NodeRegisteredPayload",
    "PodPhaseChanged",
    "PodPhasePayload",
    "ProbePayload",
    "WaitingPayload",
    "node_stream",
    "pod_runtime_stream",
]


def pod_runtime_stream(pod_uid: str) -> str:
    return f"pod-runtime:{pod_uid}"


def node_stream(node: str) -> str:
    return f"node-runtime:{node}"


class _AgentPayload(Payload):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class _PodFact(_AgentPayload):
    namespace: str
    pod: str
    pod_uid: str = Field(alias="podUID")
    node: str


class ContainerEvent(_PodFact):
    """One container instance: created or started."""

    container: str
    container_id: str = Field(alias="containerID")
    image: str
    restart_count: int
    spec_hash: str = ""
    started_at: str | None = None


class ContainerExitedPayload(ContainerEvent):
    """exitCode, signal and reason as Kubernetes reports them (OOMKilled, Completed, Error,
    ContainerCannotRun, ContainerStatusUnknown for one that vanished while running)."""

    exit_code: int
    signal: int = 0
    reason: str
    message: str = ""
    oom_killed: bool = False
    finished_at: str | None = None


class ContainerKilledPayload(_PodFact):
    """The agent stopped a container (Kubernetes' ``Killing``); reason says why."""

    container: str
    container_id: str = Field(alias="containerID")
    reason: str
    message: str = ""
    grace_period_seconds: float = 0


class WaitingPayload(_PodFact):
    """A container that should run but waits: CrashLoopBackOff, RunContainerError ..."""

    container: str
    reason: str
    message: str = ""
    restart_count: int = 0
    backoff_seconds: float | None = None


class ImagePullFailedPayload(WaitingPayload):
    image: str = ""


class HookFailedPayload(_PodFact):
    container: str
    container_id: str = Field(alias="containerID")
    hook: str  # "postStart" | "preStop"
    handler: str  # "exec" | "httpGet" | "sleep" | "notify"
    message: str
    output: str = ""
    restart_count: int = 0


class LifecycleHookNotifyPayload(_PodFact):
    """A ``notify`` lifecycle handler fired; the notifier (a log consumer) delivers it."""

    container: str
    container_id: str = Field(alias="containerID")
    hook: str
    restart_count: int
    previous_exit_code: int | None = None
    previous_reason: str | None = None
    route: str | None = None
    channel: str | None = None
    template: str | None = None


class ProbePayload(_PodFact):
    container: str
    container_id: str = Field(alias="containerID")
    probe: str  # "Liveness" | "Readiness" | "Startup"
    reason: str  # "Unhealthy" for failures, "ProbeSucceeded" for recoveries
    message: str = ""


class PodPhasePayload(_PodFact):
    previous_phase: str | None
    phase: str


class NodeRegisteredPayload(_AgentPayload):
    node: str
    capacity: dict[str, str]
    node_info: dict[str, Any] = Field(default_factory=dict)


ContainerCreated = CATALOGUE.declare(
    "ContainerCreated", ContainerEvent, description="the agent created a pod container"
)
ContainerStarted = CATALOGUE.declare(
    "ContainerStarted", ContainerEvent, description="a pod container is running"
)
ContainerExited = CATALOGUE.declare(
    "ContainerExited",
    ContainerExitedPayload,
    description="a pod container terminated (exit code, signal, OOMKilled/Completed/Error ...)",
)
ContainerKilled = CATALOGUE.declare(
    "ContainerKilled",
    ContainerKilledPayload,
    description="the agent is stopping a container (deletion, liveness, spec change, hook)",
)
ContainerStartFailed = CATALOGUE.declare(
    "ContainerStartFailed",
    WaitingPayload,
    description="creating or starting a container failed (RunContainerError ...)",
)
ContainerBackOff = CATALOGUE.declare(
    "ContainerBackOff",
    WaitingPayload,
    description="a container entered CrashLoopBackOff (once per wait, not per check)",
)
ImagePullFailed = CATALOGUE.declare(
    "ImagePullFailed",
    ImagePullFailedPayload,
    description="an image could not be pulled (ErrImagePull, ImagePullBackOff, ...)",
)
FailedPostStartHook = CATALOGUE.declare(
    "FailedPostStartHook",
    HookFailedPayload,
    description="a postStart hook failed; the container is killed and restarted per policy",
)
FailedPreStopHook = CATALOGUE.declare(
    "FailedPreStopHook", HookFailedPayload, description="a preStop hook failed"
)
LifecycleHookNotify = CATALOGUE.declare(
    "LifecycleHookNotify",
    LifecycleHookNotifyPayload,
    description="a notify lifecycle handler fired (delivered by the notifier, not the agent)",
)
ContainerUnhealthy = CATALOGUE.declare(
    "ContainerUnhealthy",
    ProbePayload,
    description="a probe's result turned to failure (Kubernetes reason Unhealthy)",
)
ContainerProbeSucceeded = CATALOGUE.declare(
    "ContainerProbeSucceeded", ProbePayload, description="a probe's result turned to success"
)
PodPhaseChanged = CATALOGUE.declare(
    "PodPhaseChanged", PodPhasePayload, description="the phase the agent reports for a pod changed"
)
NodeRegistered = CATALOGUE.declare(
    "NodeRegistered",
    NodeRegisteredPayload,
    description="a node agent started and registered its node with its capacity",
)

AGENT_EVENT_TYPES = frozenset(
    t.name
    for t in (
        ContainerCreated,
        ContainerStarted,
        ContainerExited,
        ContainerKilled,
        ContainerStartFailed,
        ContainerBackOff,
        ImagePullFailed,
        FailedPostStartHook,
        FailedPreStopHook,
        LifecycleHookNotify,
        ContainerUnhealthy,
        ContainerProbeSucceeded,
        PodPhaseChanged,
        NodeRegistered,
    )
)
