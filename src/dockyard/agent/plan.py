"""What to do to one pod's containers now: the kubelet's ``computePodActions``, pure.

:func:`compute_pod_actions` reads the desired pod, the containers observed on the engine, the
back-off state and the probe results, and returns a :class:`PodActions` plan; the pod worker
carries it out and calls ``Backoff.next`` for the restarts it performs (the planner never
mutates anything). Rules (k8s-semantics.md §2-§5):

- no running sandbox: kill what still runs, then create a sandbox (attempt + 1);
- a running container whose spec hash changed, or whose liveness/startup probe failed: kill,
  then start again (restart policy applies to the killed instance as to any exit);
- an exited container restarts per ``restartPolicy`` (Always; OnFailure on exit != 0; Never),
  first restart at once, later ones after the crash-loop back-off (``CrashLoopBackOff``);
- a container created but never started (the agent died in between) is removed and created
  again with the same restart count: no duplicates, no lost attempt;
- a pod whose containers will all stay stopped (Succeeded/Failed) loses its sandbox;
- a deleting pod: every container is killed (preStop, TERM, KILL), then removed; when nothing
  is left the plan says ``teardown_complete`` and the pod object can go.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dockyard.agent.backoff import (
    Backoff,
    crash_loop_key,
    crash_loop_message,
    image_pull_backoff_message,
    image_pull_key,
)
from dockyard.agent.desired import DesiredContainer, DesiredPod
from dockyard.agent.runtime import ContainerInfo, instances_of
from dockyard.agent.status import Waiting

__all__ = [
    "KillContainer",
    "PodActions",
    "StartContainer",
    "compute_pod_actions",
    "should_restart",
]

# Instances kept per container name: the newest gives `state`, the one before it `lastState`
# and `logs --previous`; older ones are garbage.
KEEP_INSTANCES = 2


@dataclass(frozen=True)
class StartContainer:
    container: DesiredContainer
    restart_count: int
    backoff_key: str | None = None  # set for restarts: the executor advances the back-off
    exited_at: float | None = None  # finishedAt of the instance being replaced


@dataclass(frozen=True)
class KillContainer:
    container_id: str
    name: str
    reason: str  # Killing reason: "Unhealthy", "FailedPostStartHook", "SpecChanged", "Deleting"
    message: str
    grace_seconds: float
    pre_stop: Mapping[str, object] | None = None


@dataclass
class PodActions:
    create_sandbox: bool = False
    sandbox_attempt: int = 0
    sandbox_id: str | None = None  # the running sandbox to join
    kill: list[KillContainer] = field(default_factory=list)
    start: list[StartContainer] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    remove_sandboxes: list[str] = field(default_factory=list)
    waiting: dict[str, Waiting] = field(default_factory=dict)
    next_sync_at: float | None = None
    teardown_complete: bool = False

    @property
    def idle(self) -> bool:
        return not (
            self.create_sandbox
            or self.kill
            or self.start
            or self.remove
            or self.remove_sandboxes
            or self.teardown_complete
        )

    def wake_at(self, moment: float) -> None:
        if self.next_sync_at is None or moment < self.next_sync_at:
            self.next_sync_at = moment


def should_restart(restart_policy: str, exit_code: int) -> bool:
    if restart_policy == "Always":
        return True
    if restart_policy == "OnFailure":
        return exit_code != 0
    return False


def _ts(info: ContainerInfo) -> float:
    moment = info.finished_at or info.started_at or info.created_at
    return moment.timestamp() if moment else 0.0


def _pod_is_done(pod: DesiredPod, observed: Sequence[ContainerInfo]) -> bool:
    """Every container ran and will not restart: the pod is Succeeded or Failed."""
    if pod.restart_policy == "Always" or not pod.containers:
        return False
    for container in pod.containers:
        found = instances_of(observed, pod_uid=pod.uid, container_name=container.name)
        if not found or found[0].state != "exited" or found[0].finished_at is None:
            return False
        if should_restart(pod.restart_policy, found[0].exit_code):
            return False
    return True


def _teardown(pod: DesiredPod, observed: Sequence[ContainerInfo], reason: str) -> PodActions:
    plan = PodActions()
    apps = [c for c in observed if c.identity is not None and not c.identity.sandbox]
    sandboxes = [c for c in observed if c.identity is not None and c.identity.sandbox]
    hooks = {c.name: c.pre_stop for c in pod.containers}
    running = [c for c in apps if c.state == "running"]
    for info in running:
        name = info.identity.container_name if info.identity else ""
        plan.kill.append(
            KillContainer(
                container_id=info.id,
                name=name,
                reason="Killing",
                message=reason,
                grace_seconds=pod.grace_seconds,
                pre_stop=hooks.get(name),
            )
        )
    if running:
        return plan  # sandboxes go once the app containers are down
    plan.remove = [c.id for c in apps]
    plan.remove_sandboxes = [c.id for c in sandboxes]
    plan.teardown_complete = not apps and not sandboxes
    return plan


def compute_pod_actions(
    pod: DesiredPod,
    observed: Sequence[ContainerInfo],
    *,
    now: float,
    crash_backoff: Backoff,
    image_backoff: Backoff,
    unhealthy: Mapping[str, str] | None = None,
    known_restart_counts: Mapping[str, int] | None = None,
) -> PodActions:
    """The plan for ``pod`` given what runs now.

    ``unhealthy`` maps container ids whose liveness or startup probe failed to the probe
    message; ``known_restart_counts`` the highest restart count ever recorded per container
    name (a container removed behind the agent's back still counts).
    """
    mine = [c for c in observed if c.identity is not None and c.identity.pod_uid == pod.uid]
    if pod.deleting:
        return _teardown(pod, mine, "Stopping container (pod deleted)")
    unhealthy = unhealthy or {}
    known = known_restart_counts or {}
    plan = PodActions()
    sandboxes = sorted(
        (c for c in mine if c.identity is not None and c.identity.sandbox),
        key=lambda c: (c.identity.restart_count if c.identity else 0, _ts(c)),
        reverse=True,
    )
    live_sandbox = next((s for s in sandboxes if s.state == "running"), None)
    desired_names = {c.name for c in pod.containers}

    # Containers no longer in the spec (a renamed container): kill, then remove.
    for info in mine:
        if info.identity is None or info.identity.sandbox:
            continue
        if info.identity.container_name not in desired_names:
            if info.state == "running":
                plan.kill.append(
                    KillContainer(
                        info.id,
                        info.identity.container_name,
                        "Killing",
                        "Container is not in the pod spec",
                        pod.grace_seconds,
                    )
                )
            else:
                plan.remove.append(info.id)

    if _pod_is_done(pod, mine):
        plan.remove_sandboxes = [s.id for s in sandboxes]
        _collect_garbage(pod, mine, plan)
        return plan

    if live_sandbox is None:
        running_apps = [
            c
            for c in mine
            if c.identity is not None and not c.identity.sandbox and c.state == "running"
        ]
        for info in running_apps:
            name = info.identity.container_name if info.identity else ""
            plan.kill.append(
                KillContainer(
                    info.id,
                    name,
                    "Killing",
                    "Pod sandbox changed, it will be killed and re-created.",
                    pod.grace_seconds,
                )
            )
        if not running_apps:
            plan.create_sandbox = True
            plan.sandbox_attempt = (
                max((s.identity.restart_count for s in sandboxes if s.identity), default=-1) + 1
            )
            plan.remove_sandboxes = [s.id for s in sandboxes]
        return plan
    plan.sandbox_id = live_sandbox.id
    plan.remove_sandboxes = [s.id for s in sandboxes if s.id != live_sandbox.id]

    for container in pod.containers:
        _plan_container(
            pod, container, mine, plan, now, crash_backoff, image_backoff, unhealthy, known
        )
    _collect_garbage(pod, mine, plan)
    return plan


def _plan_container(
    pod: DesiredPod,
    container: DesiredContainer,
    observed: Sequence[ContainerInfo],
    plan: PodActions,
    now: float,
    crash_backoff: Backoff,
    image_backoff: Backoff,
    unhealthy: Mapping[str, str],
    known: Mapping[str, int],
) -> None:
    found = instances_of(observed, pod_uid=pod.uid, container_name=container.name)
    highest = max(
        [known.get(container.name, -1)]
        + [i.identity.restart_count for i in found if i.identity is not None]
    )
    newest = found[0] if found else None
    if newest is not None and newest.state == "running":
        for duplicate in found[1:]:
            if duplicate.state == "running":  # never expected; keep exactly one
                plan.kill.append(
                    KillContainer(duplicate.id, container.name, "Killing", "duplicate instance", 0)
                )
        identity = newest.identity
        if identity is not None and identity.spec_hash != container.spec_hash:
            plan.kill.append(
                KillContainer(
                    newest.id,
                    container.name,
                    "Killing",
                    f"Container {container.name} definition changed, will be restarted",
                    pod.grace_seconds,
                    container.pre_stop,
                )
            )
        elif newest.id in unhealthy:
            plan.kill.append(
                KillContainer(
                    newest.id,
                    container.name,
                    "Unhealthy",
                    f"Container {container.name} failed {unhealthy[newest.id]}, will be restarted",
                    pod.grace_seconds,
                    container.pre_stop,
                )
            )
        return
    if newest is not None and newest.state == "created":
        # Created but never started: the agent died between create and start. Replace it
        # under the same attempt number (its name), so nothing is counted twice.
        plan.remove.append(newest.id)
        plan.start.append(
            StartContainer(container, newest.identity.restart_count if newest.identity else 0)
        )
        return
    backoff_key: str | None = None
    exited_at: float | None = None
    if newest is not None:  # exited
        if not should_restart(pod.restart_policy, newest.exit_code):
            return
        exited_at = _ts(newest)
        backoff_key = crash_loop_key(
            pod_name=pod.name,
            namespace=pod.namespace,
            pod_uid=pod.uid,
            container_name=container.name,
            spec_hash=newest.identity.spec_hash if newest.identity else container.spec_hash,
        )
        if crash_backoff.is_in_backoff_since(backoff_key, exited_at, now):
            delay = crash_backoff.get(backoff_key)
            plan.waiting[container.name] = Waiting(
                reason="CrashLoopBackOff",
                message=crash_loop_message(
                    delay,
                    container_name=container.name,
                    pod_name=pod.name,
                    namespace=pod.namespace,
                    pod_uid=pod.uid,
                ),
            )
            retry = crash_backoff.retry_at(backoff_key, exited_at)
            if retry is not None:
                plan.wake_at(retry)
            return
    if container.config_error:
        plan.waiting[container.name] = Waiting("CreateContainerConfigError", container.config_error)
        return
    pull_key = image_pull_key(pod_uid=pod.uid, image=container.image)
    if image_backoff.is_in_backoff_since_update(pull_key, now):
        plan.waiting[container.name] = Waiting(
            "ImagePullBackOff", image_pull_backoff_message(container.image)
        )
        entry = image_backoff.entries.get(pull_key)
        if entry is not None:
            plan.wake_at(entry.last_update + entry.backoff)
        return
    plan.start.append(StartContainer(container, highest + 1, backoff_key, exited_at))


def _collect_garbage(pod: DesiredPod, observed: Sequence[ContainerInfo], plan: PodActions) -> None:
    for container in pod.containers:
        found = instances_of(observed, pod_uid=pod.uid, container_name=container.name)
        for old in found[KEEP_INSTANCES:]:
            if old.state == "exited" and old.id not in plan.remove:
                plan.remove.append(old.id)
