"""Crash-loop and image-pull back-off, as the kubelet computes them (k8s-semantics.md §3).

A port of client-go ``flowcontrol.Backoff`` (no jitter, as the kubelet builds it) with the clock
passed in: every method takes ``now`` (seconds, any epoch, as long as it is the same one as the
event times). The state is plain data (:class:`BackoffEntry`), so it serializes with
:meth:`Backoff.to_dict` and can be rebuilt from the event log with :func:`replay_restarts`.

Crash loop, as used by ``doBackOff``: before restarting a container that has an exited instance,
``ts = finishedAt`` of that instance; ``is_in_backoff_since(key, ts, now)`` means wait
(``CrashLoopBackOff``), otherwise call ``next(key, ts, now)`` and start it. That gives: first
restart immediate, then 10 s, 20 s, 40 s ... 300 s; an instance that ran more than 600 s (its
finish minus the last restart decision) starts over at 10 s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CONTAINER_BACKOFF_PERIOD",
    "CRASH_LOOP_RESET_AFTER",
    "IMAGE_BACKOFF_PERIOD",
    "MAX_CONTAINER_BACKOFF",
    "MAX_IMAGE_BACKOFF",
    "Backoff",
    "BackoffEntry",
    "BackoffPolicy",
    "ContainerRun",
    "crash_loop_event_message",
    "crash_loop_key",
    "crash_loop_message",
    "format_go_duration",
    "format_pod",
    "image_pull_backoff_message",
    "image_pull_key",
    "replay_restarts",
]

CONTAINER_BACKOFF_PERIOD = 10.0  # kubelet.go containerBackOffPeriod
MAX_CONTAINER_BACKOFF = 300.0  # v1beta1.MaxContainerBackOff
CRASH_LOOP_RESET_AFTER = 600.0  # the kubelet's HasExpiredFunc: eventTime - lastUpdate > 600 s
IMAGE_BACKOFF_PERIOD = 10.0  # imageBackOffPeriod
MAX_IMAGE_BACKOFF = 300.0  # MaxImageBackOff


@dataclass(frozen=True)
class BackoffPolicy:
    """``initial`` and ``maximum`` delays; ``expire_after`` of ``None`` is client-go's default
    expiry (``2 × maximum``), a number is a fixed window like the kubelet's 600 s."""

    initial: float
    maximum: float
    expire_after: float | None = None

    @classmethod
    def crash_loop(cls, max_container_restart_period: float | None = None) -> BackoffPolicy:
        """The kubelet's container back-off; ``maxContainerRestartPeriod`` (KEP-4603) caps it
        and, below 10 s, is also the initial delay (``if boMax < base { base = boMax }``)."""
        maximum = (
            MAX_CONTAINER_BACKOFF
            if max_container_restart_period is None
            else max_container_restart_period
        )
        return cls(
            initial=min(CONTAINER_BACKOFF_PERIOD, maximum),
            maximum=maximum,
            expire_after=CRASH_LOOP_RESET_AFTER,
        )

    @classmethod
    def image_pull(cls) -> BackoffPolicy:
        return cls(initial=IMAGE_BACKOFF_PERIOD, maximum=MAX_IMAGE_BACKOFF)

    def has_expired(self, event_time: float, last_update: float) -> bool:
        window = 2 * self.maximum if self.expire_after is None else self.expire_after
        return event_time - last_update > window


@dataclass(frozen=True)
class BackoffEntry:
    """Current delay and when it was last advanced (client-go ``backoffEntry``)."""

    backoff: float
    last_update: float


@dataclass
class Backoff:
    """Per-key back-off (client-go ``flowcontrol.Backoff``) with an injected clock."""

    policy: BackoffPolicy
    entries: dict[str, BackoffEntry] = field(default_factory=dict)

    def get(self, key: str) -> float:
        """The current delay for ``key``, 0 without an entry (client-go ``Get``)."""
        entry = self.entries.get(key)
        return entry.backoff if entry else 0.0

    def next(self, key: str, event_time: float, now: float) -> float:
        """Advance ``key`` (a restart or pull attempt happens now); return the new delay."""
        entry = self.entries.get(key)
        if entry is None or self.policy.has_expired(event_time, entry.last_update):
            delay = self.policy.initial
        else:
            delay = min(entry.backoff * 2, self.policy.maximum)
        self.entries[key] = BackoffEntry(backoff=delay, last_update=now)
        return delay

    def is_in_backoff_since(self, key: str, event_time: float, now: float) -> bool:
        """True while ``now - event_time`` is shorter than the delay (crash loop check)."""
        entry = self.entries.get(key)
        if entry is None or self.policy.has_expired(event_time, entry.last_update):
            return False
        return now - event_time < entry.backoff

    def is_in_backoff_since_update(self, key: str, now: float) -> bool:
        """True while ``now - last_update`` is shorter than the delay (image pull check)."""
        entry = self.entries.get(key)
        if entry is None or self.policy.has_expired(now, entry.last_update):
            return False
        return now - entry.last_update < entry.backoff

    def retry_at(self, key: str, event_time: float) -> float | None:
        """When :meth:`is_in_backoff_since` turns false, for scheduling the next sync."""
        entry = self.entries.get(key)
        return None if entry is None else event_time + entry.backoff

    def reset(self, key: str) -> None:
        """Drop ``key`` (client-go ``Reset``/``DeleteEntry``)."""
        self.entries.pop(key, None)

    def gc(self, now: float) -> None:
        """Drop entries idle for over ``2 × maximum`` (client-go ``GC``)."""
        stale = [
            k for k, e in self.entries.items() if now - e.last_update > 2 * self.policy.maximum
        ]
        for key in stale:
            del self.entries[key]

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": {
                "initial": self.policy.initial,
                "maximum": self.policy.maximum,
                "expire_after": self.policy.expire_after,
            },
            "entries": {
                k: {"backoff": e.backoff, "last_update": e.last_update}
                for k, e in sorted(self.entries.items())
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Backoff:
        policy = data["policy"]
        return cls(
            policy=BackoffPolicy(
                initial=float(policy["initial"]),
                maximum=float(policy["maximum"]),
                expire_after=(
                    None if policy.get("expire_after") is None else float(policy["expire_after"])
                ),
            ),
            entries={
                str(k): BackoffEntry(
                    backoff=float(v["backoff"]), last_update=float(v["last_update"])
                )
                for k, v in data.get("entries", {}).items()
            },
        )


@dataclass(frozen=True)
class ContainerRun:
    """One instance of a container: when it started and (if it did) finished."""

    started_at: float
    finished_at: float | None = None


def replay_restarts(
    runs: Iterable[ContainerRun], *, policy: BackoffPolicy | None = None
) -> BackoffEntry | None:
    """Rebuild a crash-loop entry from the history of one key (same pod, container, spec hash).

    Each restart ran ``next(key, finishedAt of the previous instance, now=start of the new
    one)``, so replaying those pairs in order gives the entry the live agent had (the start time
    stands in for the decision time, which precedes it by the create/start latency).
    """
    ordered = sorted(runs, key=lambda r: r.started_at)
    backoff = Backoff(policy or BackoffPolicy.crash_loop())
    for previous, current in zip(ordered, ordered[1:], strict=False):
        if previous.finished_at is not None:
            backoff.next("k", previous.finished_at, current.started_at)
    return backoff.entries.get("k")


def crash_loop_key(
    *, pod_name: str, namespace: str, pod_uid: str, container_name: str, spec_hash: str
) -> str:
    """``getStableKey``: ``<podName>_<ns>_<podUID>_<containerName>_<containerSpecHash>``."""
    return f"{pod_name}_{namespace}_{pod_uid}_{container_name}_{spec_hash}"


def image_pull_key(*, pod_uid: str, image: str) -> str:
    """The image puller's key: ``<podUID>_<image>``."""
    return f"{pod_uid}_{image}"


def format_pod(*, pod_name: str, namespace: str, pod_uid: str) -> str:
    """kubelet ``format.Pod``: ``<name>_<ns>(<uid>)``."""
    return f"{pod_name}_{namespace}({pod_uid})"


def crash_loop_message(
    delay: float, *, container_name: str, pod_name: str, namespace: str, pod_uid: str
) -> str:
    """The ``CrashLoopBackOff`` waiting message from ``doBackOff``."""
    pod = format_pod(pod_name=pod_name, namespace=namespace, pod_uid=pod_uid)
    return (
        f"back-off {format_go_duration(delay)} restarting failed "
        f"container={container_name} pod={pod}"
    )


def crash_loop_event_message(
    *, container_name: str, pod_name: str, namespace: str, pod_uid: str
) -> str:
    """The Warning ``BackOff`` event message from ``doBackOff``."""
    pod = format_pod(pod_name=pod_name, namespace=namespace, pod_uid=pod_uid)
    return f"Back-off restarting failed container {container_name} in pod {pod}"


def image_pull_backoff_message(image: str) -> str:
    """The ``ImagePullBackOff`` waiting message and ``BackOff`` event message."""
    return f'Back-off pulling image "{image}"'


def format_go_duration(seconds: float) -> str:
    """Go's ``time.Duration.String`` for the whole-millisecond delays back-off produces:
    ``10s``, ``1m20s``, ``5m0s``, ``1h0m0s``, ``1.5s``, ``500ms``, ``0s``."""
    nanos = round(seconds * 1e9)
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                return sign + _fraction(nanos, size) + unit
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _fraction(rest, 1_000_000_000) + "s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def _fraction(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    digits = str(frac).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"
