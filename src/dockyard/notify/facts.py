"""Alert facts: what happened to a container or node, distilled from events. Pure functions.

The robust source is the Pod status the agent reports (``ObjectStatusUpdated``): a restart is
``containerStatuses[].restartCount`` going up, with ``lastState.terminated`` saying how the
previous container ended, or, sooner, a death that its restart policy will follow with a
restart (the alert then carries the number of that coming restart): ``state.terminated``, or
``state.waiting`` CrashLoopBackOff, whose ``lastState.terminated`` is the newest instance (the
one ``restartCount`` counts) waiting out its back-off. Either is enough, so a status missed in
between never holds an alert back until the next restart. ``state.waiting.reason`` also says
CrashLoopBackOff or ImagePullBackOff.
Restarts are found by comparing with a per-container high-water mark (kept by the notifier in
the same transaction as its checkpoint), so a notifier restart neither replays nor loses one.
Counting from the status, not from event objects, is what makes folded repeats visible.

The mark also remembers how the death behind that restart was told (its reason). A reason the
agent can only learn late (an OOM kill whose ``oom`` event came after ``die``, agent/oom.py) is
first told as Error, then the agent corrects the status of the same instance: the same restart
with a new reason is a *correction* fact (``corrects`` says what was told), told once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from dockyard.store.event_types import ObjectDeleted, ObjectStatusUpdated
from dockyard.store.event_types_agent import (
    ContainerUnhealthy,
    FailedPostStartHook,
    FailedPreStopHook,
    LifecycleHookNotify,
)
from dockyard.store.events import RecordedEvent

WAITING_REASONS = {"CrashLoopBackOff": "CrashLoopBackOff", "ImagePullBackOff": "ImagePullBackOff"}
TERMINATED_REASONS = {"OOMKilled", "Error", "FailedPostStartHook", "FailedPreStopHook"}
# Death reasons that may reach a status after the death was told otherwise (agent/oom.py). Only
# these correct a told reason: a status that later says less (no lastState) or flips back is not
# news.
LATE_REASONS = frozenset({"OOMKilled"})
# Restarts, exits, CrashLoopBackOff and ImagePullBackOff come from the Pod status; the agent's
# own events add what a status cannot say: hook failures with their output, liveness failures
# and notify hooks firing.
AGENT_FACT_TYPES = (
    FailedPostStartHook.name,
    FailedPreStopHook.name,
    ContainerUnhealthy.name,
    LifecycleHookNotify.name,
)
FACT_EVENT_TYPES = (ObjectStatusUpdated.name, ObjectDeleted.name, *AGENT_FACT_TYPES)
OUTPUT_LINES = 40


@dataclass(frozen=True)
class Owner:
    kind: str
    name: str
    uid: str


@dataclass(frozen=True)
class NotifyRequest:
    """A lifecycle ``notify`` handler that fired: where to post and with which template."""

    hook: str  # PostStart or PreStop
    route: str | None
    channel: str | None
    template: str | None


@dataclass(frozen=True)
class AlertFact:
    reasons: frozenset[str]
    namespace: str
    pod: str
    pod_uid: str
    container: str
    node: str
    observed_at: datetime
    position: int
    labels: Mapping[str, str] = field(default_factory=dict)
    owner: Owner | None = None
    restart_count: int = 0
    exit_code: int | None = None
    terminated_reason: str | None = None
    message: str | None = None
    finished_at: str | None = None
    log_tail: tuple[str, ...] = ()
    notify: NotifyRequest | None = None
    corrects: str | None = None  # a correction: the death reason told before for this restart

    @property
    def is_node(self) -> bool:
        return self.pod_uid.startswith("node:")

    @property
    def identity(self) -> str:
        """One restart of one container: facts with the same identity are one alert."""
        return f"{self.pod_uid}/{self.container}/{self.restart_count}"

    def with_owner(self, owner: Owner | None) -> AlertFact:
        return replace(self, owner=owner)


@dataclass(frozen=True)
class Mark:
    restart_count: int = 0
    waiting_reason: str | None = None
    # The death reason restart ``restart_count`` was told with (None: no reason, or unknown).
    death_reason: str | None = None


def death_reason(terminated: Mapping[str, Any]) -> str | None:
    """The alert reason of a ``terminated`` state: its own reason if an alert reason, Error for
    any other failure, None for a success (or nothing known)."""
    reason = terminated.get("reason")
    if reason in TERMINATED_REASONS:
        return str(reason)
    if terminated.get("exitCode") not in (None, 0) and reason != "Completed":
        return "Error"
    return None


def is_correction(mark: Mark, restarts: int, reason: str | None) -> bool:
    """Whether a death reason seen for restart ``restarts`` corrects the one told for it."""
    return (
        restarts == mark.restart_count > 0
        and mark.death_reason is not None
        and reason in LATE_REASONS
        and reason != mark.death_reason
    )


def _controller_owner(meta: Mapping[str, Any]) -> Owner | None:
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            return Owner(str(ref.get("kind")), str(ref.get("name")), str(ref.get("uid")))
    return None


def pod_facts(
    pod: Mapping[str, Any],
    marks: Mapping[str, Mark],
    *,
    observed_at: datetime,
    position: int,
) -> tuple[list[AlertFact], dict[str, Mark]]:
    """Facts in one Pod status, against the marks; returns them and the new marks.

    A container never seen before (no mark) with restarts counts them as one fact: it
    restarted while nobody was looking, and the alert says how often.
    """
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    spec = pod.get("spec") or {}
    base = AlertFact(
        reasons=frozenset(),
        namespace=str(meta.get("namespace") or ""),
        pod=str(meta.get("name") or ""),
        pod_uid=str(meta.get("uid") or ""),
        container="",
        node=str(spec.get("nodeName") or ""),
        observed_at=observed_at,
        position=position,
        labels=dict(meta.get("labels") or {}),
        owner=_controller_owner(meta),
    )
    facts: list[AlertFact] = []
    new_marks: dict[str, Mark] = {}
    policy = str(spec.get("restartPolicy") or "Always")
    deleting = bool(meta.get("deletionTimestamp"))
    statuses = [
        *((c, True) for c in status.get("initContainerStatuses") or []),
        *((c, False) for c in status.get("containerStatuses") or []),
    ]
    for container, is_init in statuses:
        name = str(container.get("name") or "")
        mark = marks.get(name, Mark())
        restarts = int(container.get("restartCount") or 0)
        waiting = ((container.get("state") or {}).get("waiting") or {}).get("reason")
        terminated = (container.get("lastState") or {}).get("terminated") or {}
        death = pending_death(container)
        if death and not deleting and will_restart(policy, death.get("exitCode"), init=is_init):
            # The container died and will be restarted: alert on the death itself, numbered
            # as the restart it causes, instead of waiting out the crash back-off (up to 5
            # minutes) for restartCount to go up. When it does, the fact is known (the mark).
            restarts, terminated = restarts + 1, death
        reasons: set[str] = set()
        died_of = death_reason(terminated)
        told, corrects = mark.death_reason, None
        if restarts > mark.restart_count:
            told = died_of
            reasons.update(r for r in ("Restarted", died_of) if r)
        elif is_correction(mark, restarts, died_of):
            # The same restart, its death now known better: told again, as a correction.
            corrects, told = mark.death_reason, died_of
            reasons.update(r for r in ("Restarted", died_of) if r)
        if waiting in WAITING_REASONS and waiting != mark.waiting_reason:
            reasons.add(WAITING_REASONS[waiting])
        if reasons:
            exit_code = terminated.get("exitCode")
            waiting_message = ((container.get("state") or {}).get("waiting") or {}).get("message")
            facts.append(
                replace(
                    base,
                    reasons=frozenset(reasons),
                    container=name,
                    restart_count=restarts,
                    exit_code=int(exit_code) if exit_code is not None else None,
                    terminated_reason=terminated.get("reason"),
                    message=terminated.get("message") or waiting_message,
                    finished_at=terminated.get("finishedAt"),
                    corrects=corrects,
                )
            )
        new_marks[name] = Mark(max(restarts, mark.restart_count), waiting, told)
    return facts, new_marks


def pending_death(container: Mapping[str, Any]) -> Mapping[str, Any]:
    """How the newest instance of a container ended, if it is dead and not yet replaced
    (its ``restartCount`` is still its own); empty otherwise.

    ``state.terminated`` is that instance; so is ``lastState.terminated`` under a waiting
    CrashLoopBackOff (the kubelet's and the agent's rule: the back-off hides the terminated
    state and moves it to ``lastState``). Any other ``lastState`` is the instance before.
    """
    state = container.get("state") or {}
    if state.get("terminated"):
        return dict(state["terminated"])
    if (state.get("waiting") or {}).get("reason") == "CrashLoopBackOff":
        return dict((container.get("lastState") or {}).get("terminated") or {})
    return {}


def will_restart(policy: str, exit_code: Any, *, init: bool) -> bool:
    """Whether a container that ended with ``exit_code`` is started again (kubelet's rule).

    Init containers that succeed are done whatever the policy; others follow restartPolicy.
    """
    failed = exit_code not in (None, 0)
    if init:
        return failed and policy != "Never"
    return policy == "Always" or (policy == "OnFailure" and failed)


def node_facts(
    node: Mapping[str, Any], mark: Mark | None, *, observed_at: datetime, position: int
) -> tuple[list[AlertFact], Mark]:
    """NodeNotReady when the Ready condition leaves True (once per outage)."""
    meta = node.get("metadata") or {}
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    not_ready = ready is not None and ready.get("status") != "True"
    state = "NotReady" if not_ready else None
    facts: list[AlertFact] = []
    if not_ready and (mark is None or mark.waiting_reason != "NotReady"):
        name = str(meta.get("name") or "")
        facts.append(
            AlertFact(
                reasons=frozenset({"NodeNotReady"}),
                namespace="",
                pod="",
                pod_uid=f"node:{name}",
                container="",
                node=name,
                observed_at=observed_at,
                position=position,
                labels=dict(meta.get("labels") or {}),
                message=str(ready.get("message") or ready.get("reason") or "") if ready else None,
            )
        )
    return facts, Mark(0, state)


def object_of(event: RecordedEvent) -> Mapping[str, Any]:
    obj = event.data.get("object")
    return obj if isinstance(obj, Mapping) else {}


def subjects_of(events: Sequence[RecordedEvent]) -> set[str]:
    """The mark subjects a batch touches (pod uids and ``node:<name>``)."""
    subjects: set[str] = set()
    for event in events:
        obj = object_of(event)
        meta = obj.get("metadata") or {}
        if obj.get("kind") == "Pod":
            subjects.add(str(meta.get("uid")))
        elif obj.get("kind") == "Node":
            subjects.add(f"node:{meta.get('name')}")
    return subjects


def agent_fact(event: RecordedEvent, marks: Mapping[str, Mark]) -> AlertFact | None:
    """The fact in one of the agent's events (``AGENT_FACT_TYPES``), or None.

    A hook or liveness failure leads to the container's next restart, so its fact carries
    that restart's number (the current high-water mark + 1): when the restart itself shows up
    in the Pod status, the two are one alert with both reasons, not two.
    Labels and owner are not in the agent's payloads; the notifier adds them from the Pod.
    """
    data = event.data
    container = str(data.get("container") or "")
    next_restart = marks.get(container, Mark()).restart_count + 1
    common = AlertFact(
        reasons=frozenset(),
        namespace=str(data.get("namespace") or ""),
        pod=str(data.get("pod") or ""),
        pod_uid=str(data.get("podUID") or ""),
        container=container,
        node=str(data.get("node") or ""),
        observed_at=event.recorded_at,
        position=event.position,
    )
    if event.type in (FailedPostStartHook.name, FailedPreStopHook.name):
        if event.type == FailedPreStopHook.name:
            next_restart = int(data.get("restartCount") or 0)  # preStop: the container is ending
        output = str(data.get("output") or "").splitlines()[-OUTPUT_LINES:]
        return replace(
            common,
            reasons=frozenset({event.type}),
            restart_count=max(next_restart, int(data.get("restartCount") or 0)),
            terminated_reason=event.type,
            message=f"{data.get('hook')} {data.get('handler')} hook failed: {data.get('message')}",
            log_tail=tuple(output),
        )
    if event.type == ContainerUnhealthy.name:
        if data.get("probe") != "Liveness":
            return None  # a failing readiness probe takes a pod out of service, no restart
        return replace(
            common,
            reasons=frozenset({"Unhealthy"}),
            restart_count=next_restart,
            message=f"Liveness probe failed: {data.get('message') or ''}".strip(),
        )
    if event.type == LifecycleHookNotify.name:
        return replace(
            common,
            reasons=frozenset(),
            restart_count=int(data.get("restartCount") or 0),
            exit_code=data.get("previousExitCode"),
            terminated_reason=data.get("previousReason"),
            notify=NotifyRequest(
                hook=str(data.get("hook") or ""),
                route=data.get("route"),
                channel=data.get("channel"),
                template=data.get("template"),
            ),
        )
    return None


def enrich(fact: AlertFact, pod: Mapping[str, Any] | None) -> AlertFact:
    """Add the labels and owner of the fact's Pod (agent events do not carry them)."""
    if pod is None:
        return fact
    meta = pod.get("metadata") or {}
    return replace(fact, labels=dict(meta.get("labels") or {}), owner=_controller_owner(meta))
