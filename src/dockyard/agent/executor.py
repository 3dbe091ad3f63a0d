"""Carries out one pod's plan on the engine, recording what the agent itself decided.

Container facts (created, started, exited) are not recorded here: the worker's next relist
records them, so a fact is written once whoever caused it. What only the agent knows is recorded
here: why it killed a container, hook failures and their output, image pull and start errors,
``notify`` hooks. Kills of one pod run in parallel (each waits out its own grace period).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dockyard.agent.backoff import image_pull_key
from dockyard.agent.context import LABEL_NODE, MIN_KILL_GRACE_SECONDS, AgentContext
from dockyard.agent.desired import DesiredPod
from dockyard.agent.facts import PodRef
from dockyard.agent.hooks import HookOutcome, handler_kind, run_handler
from dockyard.agent.plan import KillContainer, PodActions, StartContainer
from dockyard.agent.runtime import (
    ContainerCreateError,
    ContainerInfo,
    ContainerNotFound,
    ContainerRuntimeError,
    ContainerSpec,
    HostNetwork,
    ImageNotFound,
    ImagePullError,
    JoinNetwork,
    RuntimeUnavailable,
    SandboxSpec,
    instances_of,
)
from dockyard.agent.status import Terminated, Waiting, state_from_runtime
from dockyard.store.event_types_agent import (
    ContainerKilled,
    ContainerKilledPayload,
    ContainerStartFailed,
    FailedPostStartHook,
    FailedPreStopHook,
    HookFailedPayload,
    ImagePullFailed,
    ImagePullFailedPayload,
    LifecycleHookNotify,
    LifecycleHookNotifyPayload,
    WaitingPayload,
)
from dockyard.store.events import NewEvent, new_event

if TYPE_CHECKING:
    from dockyard.agent.worker import PodWorker

__all__ = ["execute", "kill_container"]

log = logging.getLogger(__name__)


def _pod_fields(ref: PodRef) -> dict[str, Any]:
    return {"namespace": ref.namespace, "pod": ref.name, "pod_uid": ref.uid, "node": ref.node}


def _append(ctx: AgentContext, worker: PodWorker, events: Sequence[NewEvent]) -> None:
    ctx.client.append([ctx.stamp(e) for e in events])


def execute(
    ctx: AgentContext,
    ref: PodRef,
    pod: DesiredPod,
    plan: PodActions,
    observed: Sequence[ContainerInfo],
    worker: PodWorker,
) -> bool:
    acted = False
    if worker.stopping:
        return False  # the agent is stopping: start nothing new, the next agent takes over
    if plan.kill:
        threads = [
            threading.Thread(
                target=kill_container, args=(ctx, ref, kill, worker, observed, pod), daemon=True
            )
            for kill in plan.kill
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return True  # everything else waits for the next pass, on what is left
    for container_id in [*plan.remove, *plan.remove_sandboxes]:
        worker.removed_by_agent.add(container_id)
        try:
            ctx.runtime.remove_container(container_id, force=True)
        except ContainerNotFound:
            pass
        acted = True
    if plan.create_sandbox:
        spec = SandboxSpec(
            pod_uid=pod.uid,
            namespace=pod.namespace,
            pod_name=pod.name,
            host_network=pod.host_network,
            hostname=pod.hostname,
            ports=tuple(p for c in pod.containers for p in c.ports),
            attempt=plan.sandbox_attempt,
            labels={LABEL_NODE: ctx.node},
        )
        try:
            ctx.runtime.create_sandbox(spec)
        except RuntimeUnavailable:
            raise
        except ContainerRuntimeError as exc:
            for container in pod.containers:
                worker.note_start_failure(
                    container.name, Waiting("CreatePodSandboxError", str(exc))
                )
            return False
        return True
    for start in plan.start:
        if worker.stopping:
            break
        _start(ctx, ref, pod, plan, start, observed, worker)
        acted = True
    return acted


def _start(
    ctx: AgentContext,
    ref: PodRef,
    pod: DesiredPod,
    plan: PodActions,
    start: StartContainer,
    observed: Sequence[ContainerInfo],
    worker: PodWorker,
) -> None:
    container = start.container
    now = time.time()
    if start.backoff_key is not None and start.exited_at is not None:
        ctx.crash_backoff.next(start.backoff_key, start.exited_at, now)
    try:
        ctx.runtime.ensure_image(container.image, pull_policy=container.pull_policy)
    except ImagePullError as exc:
        ctx.image_backoff.next(image_pull_key(pod_uid=pod.uid, image=container.image), now, now)
        worker.note_start_failure(container.name, Waiting(exc.reason, exc.message))
        payload = ImagePullFailedPayload(
            **_pod_fields(ref),
            container=container.name,
            reason=exc.reason,
            message=exc.message,
            restart_count=start.restart_count,
            image=container.image,
        )
        _append(ctx, worker, [new_event(ImagePullFailed, worker.stream, payload)])
        return
    network = HostNetwork() if pod.host_network else JoinNetwork(plan.sandbox_id or "")
    spec = ContainerSpec(
        pod_uid=pod.uid,
        namespace=pod.namespace,
        pod_name=pod.name,
        container_name=container.name,
        spec_hash=container.spec_hash,
        image=container.image,
        network=network,
        restart_count=start.restart_count,
        command=container.command,
        args=container.args,
        env=container.env,
        working_dir=container.working_dir,
        ports=container.ports,
        memory_limit_bytes=container.memory_limit_bytes,
        nano_cpus=container.nano_cpus,
        stop_signal=container.stop_signal,
        labels={LABEL_NODE: ctx.node},
    )
    try:
        container_id = ctx.runtime.create_container(spec)
    except RuntimeUnavailable:
        raise
    except (ContainerCreateError, ImageNotFound) as exc:
        _start_failed(ctx, ref, worker, container.name, "CreateContainerError", str(exc), start)
        return
    try:
        ctx.runtime.start_container(container_id)
    except RuntimeUnavailable:
        raise
    except ContainerRuntimeError as exc:
        _start_failed(ctx, ref, worker, container.name, "RunContainerError", str(exc), start)
        return
    worker.note_started(container.name, container.image)
    if container.post_start:
        previous = instances_of(observed, pod_uid=pod.uid, container_name=container.name)
        outcome = _run_hook(
            ctx, ref, pod, worker, "postStart", container.post_start, container_id,
            container.name, start.restart_count, previous[0] if previous else None,
            timeout=pod.grace_seconds or 30.0,
        )  # fmt: skip
        if not outcome.ok:
            kill = KillContainer(
                container_id, container.name, "FailedPostStartHook", "FailedPostStartHook",
                pod.grace_seconds,
            )  # fmt: skip
            kill_container(ctx, ref, kill, worker, observed, pod, run_pre_stop=False)


def _start_failed(
    ctx: AgentContext,
    ref: PodRef,
    worker: PodWorker,
    name: str,
    reason: str,
    message: str,
    start: StartContainer,
) -> None:
    worker.note_start_failure(name, Waiting(reason, message))
    payload = WaitingPayload(
        **_pod_fields(ref),
        container=name,
        reason=reason,
        message=message,
        restart_count=start.restart_count,
    )
    _append(ctx, worker, [new_event(ContainerStartFailed, worker.stream, payload)])


def _run_hook(
    ctx: AgentContext,
    ref: PodRef,
    pod: DesiredPod,
    worker: PodWorker,
    hook: str,
    handler: Mapping[str, Any],
    container_id: str,
    name: str,
    restart_count: int,
    previous: ContainerInfo | None,
    *,
    timeout: float,
) -> HookOutcome:
    def notify(spec: Mapping[str, Any]) -> None:
        last = state_from_runtime(previous) if previous is not None else None
        payload = LifecycleHookNotifyPayload(
            **_pod_fields(ref),
            container=name,
            container_id=container_id,
            hook=hook,
            restart_count=restart_count,
            previous_exit_code=last.exit_code if isinstance(last, Terminated) else None,
            previous_reason=last.reason if isinstance(last, Terminated) else None,
            route=spec.get("route"),
            channel=spec.get("channel"),
            template=spec.get("template"),
        )
        _append(ctx, worker, [new_event(LifecycleHookNotify, worker.stream, payload)])

    observed_ip = ""
    if handler_kind(handler) == "httpGet":
        observed_ip = worker.pod_ip(pod, ctx.runtime.list_containers(pod_uid=pod.uid))
    outcome = run_handler(
        handler,
        runtime=ctx.runtime,
        container_id=container_id,
        container_name=name,
        pod_ip=observed_ip,
        named_ports=pod.named_ports,
        timeout=timeout,
        notify=notify,
    )
    if not outcome.ok:
        event_type = FailedPostStartHook if hook == "postStart" else FailedPreStopHook
        payload = HookFailedPayload(
            **_pod_fields(ref),
            container=name,
            container_id=container_id,
            hook=hook,
            handler=outcome.handler,
            message=outcome.message,
            output=outcome.output,
            restart_count=restart_count,
        )
        _append(ctx, worker, [new_event(event_type, worker.stream, payload)])
    return outcome


def kill_container(
    ctx: AgentContext,
    ref: PodRef,
    kill: KillContainer,
    worker: PodWorker,
    observed: Sequence[ContainerInfo],
    pod: DesiredPod,
    *,
    run_pre_stop: bool = True,
) -> None:
    """preStop (bounded by the grace period), then TERM, then KILL after what is left of it."""
    try:
        payload = ContainerKilledPayload(
            **_pod_fields(ref),
            container=kill.name,
            container_id=kill.container_id,
            reason=kill.reason,
            message=kill.message,
            grace_period_seconds=kill.grace_seconds,
        )
        _append(ctx, worker, [new_event(ContainerKilled, worker.stream, payload)])
        worker.killed_by_agent.add(kill.container_id)  # its exit 137 is ours, not an OOM kill
        grace = kill.grace_seconds
        began = time.monotonic()
        if run_pre_stop and kill.pre_stop and grace > 0:
            info = next((c for c in observed if c.id == kill.container_id), None)
            count = info.identity.restart_count if info and info.identity else 0
            _run_hook(
                ctx, ref, pod, worker, "preStop", kill.pre_stop, kill.container_id, kill.name,
                count, None, timeout=grace,
            )  # fmt: skip
            grace -= time.monotonic() - began
        grace = max(grace, MIN_KILL_GRACE_SECONDS) if kill.grace_seconds > 0 else 0
        ctx.runtime.stop_container(kill.container_id, timeout=grace)
    except ContainerNotFound:
        pass
    except ContainerRuntimeError as exc:
        log.warning("pod %s: killing %s failed: %s", ref.uid, kill.name, exc)
