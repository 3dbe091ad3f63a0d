"""OOM kills that the engine reports late: when to wait for them, and how to apply them. Pure.

With cgroup v2, containerd learns of an OOM kill from the cgroup's ``memory.events`` and of the
exit from the process reaper, on separate paths; under load the exit can win. Docker 20.10 then
sends ``die`` first and the ``oom`` event after it (measured here: 0.9–2 s later for about 3% of
OOM kills with the machine saturated), and never sets ``State.OOMKilled`` for that container
(libcontainerd carries the flag on the exit event only). Sometimes the ``oom`` event never comes.
So the agent holds the ``oom`` events it saw (:func:`with_known_oom` applies them to what it
inspects) and, for a death that could still turn out to be an OOM kill
(:func:`may_await_oom`), waits a bounded moment before recording it (:func:`oom_hold_deadline`).
An ``oom`` event later than that corrects the recorded reason (facts.py) and the published
status. Exit 137 alone is never taken as an OOM kill (docker-engine.md §4).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace

from dockyard.agent.runtime import ContainerInfo

__all__ = [
    "OOM_HOLD_SECONDS",
    "SIGKILL_EXIT",
    "may_await_oom",
    "oom_hold_deadline",
    "with_known_oom",
]

# How long after a death its ``oom`` event is awaited before the death is recorded as an Error.
# Only deaths that may be OOM kills wait (exit 137 of a memory-limited container, no ``oom``
# seen, not killed by the agent): the usual OOM kill has its ``oom`` before its ``die`` and waits
# for nothing. Bounded well under the alert latency target (issue 7: p99 <= 2 s); a later ``oom``
# corrects the status instead.
OOM_HOLD_SECONDS = 0.5
SIGKILL_EXIT = 137


def may_await_oom(
    info: ContainerInfo, *, known_oom: Collection[str], killed_by_agent: Collection[str]
) -> bool:
    """Whether ``info`` is a death whose ``oom`` event may still be on its way."""
    return (
        info.state == "exited"
        and info.finished_at is not None
        and info.exit_code == SIGKILL_EXIT
        and info.memory_limit_bytes > 0
        and not info.oom_killed
        and info.id not in known_oom
        and info.id not in killed_by_agent
    )


def oom_hold_deadline(
    deaths: Iterable[ContainerInfo],
    *,
    known_oom: Collection[str],
    killed_by_agent: Collection[str],
    hold_seconds: float,
    now: float,
) -> float | None:
    """The epoch time until which to wait for ``oom`` events of ``deaths`` (the latest of their
    finish times plus ``hold_seconds``), or ``None`` when none of them needs to wait."""
    deadlines = [
        info.finished_at.timestamp() + hold_seconds
        for info in deaths
        if info.finished_at is not None
        and may_await_oom(info, known_oom=known_oom, killed_by_agent=killed_by_agent)
    ]
    latest = max(deadlines, default=None)
    return latest if latest is not None and latest > now else None


def with_known_oom(
    observed: Sequence[ContainerInfo], known_oom: Collection[str]
) -> list[ContainerInfo]:
    """``observed`` with ``oom_killed`` set on every exited container the agent knows was
    OOM-killed (its ``oom`` event, or a recorded exit that said so), whatever the engine says."""
    return [
        replace(info, oom_killed=True)
        if info.id in known_oom and info.state == "exited" and not info.oom_killed
        else info
        for info in observed
    ]
