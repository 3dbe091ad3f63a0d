"""One pod's worker: a thread that observes, records, plans and acts for that pod alone.

Work for one pod is serialized here (the kubelet's pod workers): the agent only hands it the
latest pod object and wake-ups (a Docker event, a probe transition, a timer). Each pass relists
the pod's containers (the truth), appends the transitions the log does not hold yet, computes
the plan (:mod:`dockyard.agent.plan`) and carries it out (:mod:`dockyard.agent.executor`), then
writes the pod status if it changed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from dockyard.agent.backoff import image_pull_key, replay_restarts
from dockyard.agent.context import AgentContext
from dockyard.agent.desired import DesiredPod, desired_pod
from dockyard.agent.executor import execute
from dockyard.agent.facts import (
    PodRef,
    RecordedContainer,
    container_transitions,
    crash_loop_runs,
    death_from_event,
    recorded_states,
)
from dockyard.agent.oom import oom_hold_deadline, with_known_oom
from dockyard.agent.plan import PodActions, compute_pod_actions
from dockyard.agent.pod_status import compute_status, status_changed, unpublished_deaths
from dockyard.agent.probes import ProbeTarget, probe_spec
from dockyard.agent.runtime import ContainerInfo, RuntimeEvent, RuntimeUnavailable
from dockyard.agent.status import Waiting
from dockyard.agent.vanished import vanished_instances
from dockyard.store.event_types_agent import (
    ContainerBackOff,
    ContainerExitedPayload,
    ImagePullFailed,
    ImagePullFailedPayload,
    PodPhaseChanged,
    PodPhasePayload,
    WaitingPayload,
    pod_runtime_stream,
)
from dockyard.store.events import new_event

__all__ = ["PodWorker"]

log = logging.getLogger(__name__)


class PodWorker:
    def __init__(
        self, ctx: AgentContext, *, body: Mapping[str, Any] | None, orphan: DesiredPod | None = None
    ) -> None:
        self.ctx = ctx
        self.body: dict[str, Any] | None = dict(body) if body is not None else None
        self.desired = desired_pod(body) if body is not None else orphan
        assert self.desired is not None
        self.uid = self.desired.uid
        self.stream = pod_runtime_stream(self.uid)
        self.recorded: dict[str, RecordedContainer] = {}
        self.removed_by_agent: set[str] = set()
        self.vanished: dict[str, ContainerInfo] = {}
        self.terminal_written = False  # a deleted pod's final status is out: write no more
        self.reason_cache: dict[str, Waiting] = {}
        self.announced: set[tuple[str, str]] = set()
        self.last_status: dict[str, Any] | None = (body or {}).get("status") or None
        self.done = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._loaded = False
        self.stopping = False  # set by the agent's stop (done is also set by a finished teardown)
        self._died: dict[str, RuntimeEvent] = {}
        # Containers known to be OOM-killed: their `oom` event (which may come after `die`, and
        # then the engine's flag stays false) or a recorded exit saying so (agent/oom.py).
        self.known_oom: set[str] = set()
        self.killed_by_agent: set[str] = set()  # exit 137 from our own SIGKILL is no OOM
        self._oom_seen = threading.Condition(self._lock)
        self.thread = threading.Thread(target=self._run, name=f"pod-{self.uid[:8]}", daemon=True)

    # --- driven by the agent ----------------------------------------------------------------

    def start(self) -> None:
        self.thread.start()

    def update(self, body: Mapping[str, Any] | None) -> None:
        """The latest pod object; ``None`` when it is gone from the API (tear down)."""
        with self._lock:
            if body is None:
                if self.desired is not None and not self.desired.deleting:
                    self.desired = replace(self.desired, deleting=True, grace_seconds=2.0)
                self.body = None
            else:
                self.body = dict(body)
                self.desired = desired_pod(body)
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    def hint(self, event: RuntimeEvent) -> None:
        """A Docker event for one of this pod's containers: look now. A ``die`` is recorded
        from the event itself (exit code, time, an ``oom`` event seen for it) before the relist:
        an inspect right after a death waits for the engine's cleanup, tens of milliseconds.
        An ``oom`` may also come after its ``die``: a death waiting for it (agent/oom.py) is
        released, or one already recorded is corrected by the next pass."""
        with self._lock:
            if event.action == "oom":
                self.known_oom.add(event.container_id)
                self._oom_seen.notify_all()
            elif event.action == "die":
                self._died[event.container_id] = event
        self._wake.set()

    def stop(self) -> None:
        self.stopping = True
        self.done.set()
        self._wake.set()

    # --- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        next_sync: float | None = None
        while not self.done.is_set():
            timeout = self.ctx.resync_seconds
            if next_sync is not None:
                timeout = max(0.0, min(timeout, next_sync - time.time()))
            self._wake.wait(timeout)
            self._wake.clear()
            if self.done.is_set():
                return
            try:
                next_sync = self.sync()
            except RuntimeUnavailable as exc:
                log.warning("pod %s: Docker engine unavailable: %s", self.uid, exc)
                next_sync = time.time() + 1.0
            except Exception:  # one pod's bug must not stop the agent; retry later
                log.exception("pod %s: sync failed", self.uid)
                next_sync = time.time() + 1.0

    def sync(self) -> float | None:
        """One pass; returns when to run again (None: only on wake-up or resync)."""
        with self._lock:
            pod = self.desired
            body = self.body
        assert pod is not None
        ref = PodRef(pod.namespace, pod.name, pod.uid, self.ctx.node)
        if not self._loaded:
            self._load_history(pod)
        self._record_deaths(ref, pod)
        observed = self._relist(pod)
        self._record(ref, observed)
        self._track_probes(pod, observed)
        observed = self._with_vanished(ref, pod, observed)
        plan = compute_pod_actions(
            pod,
            observed,
            now=time.time(),
            crash_backoff=self.ctx.crash_backoff,
            image_backoff=self.ctx.image_backoff,
            unhealthy=self.ctx.probes.unhealthy(pod.uid),
            known_restart_counts=self._known_restart_counts(),
        )
        self._announce_waiting(ref, pod, plan)
        if body is not None and not pod.deleting and not self.terminal_written:
            # A death goes out as a terminated state before the plan hides it behind a
            # waiting reason (CrashLoopBackOff) or a new instance: alerts key on it and must
            # not wait out the back-off or a start (the kubelet also writes before it acts).
            hidden = {*self.reason_cache, *plan.waiting, *(s.container.name for s in plan.start)}
            deaths = unpublished_deaths(pod, observed, self.last_status) & hidden
            if deaths:
                self._write_status(ref, pod, body, observed, plan, reveal=deaths)
        if pod.deleting and not plan.kill and body is not None and not self.terminal_written:
            # Every container is stopped: the terminal phase goes out before anything is
            # removed, so the last status of a deleted pod says how it ended.
            self._write_status(ref, pod, body, observed, plan, terminal=True)
        if not plan.idle:
            acted = execute(self.ctx, ref, pod, plan, observed, self)
            if plan.teardown_complete:
                if body is not None:
                    self.ctx.client.remove_pod(pod.namespace, pod.name, pod.uid)
                self.ctx.probes.retain(pod.uid, set())
                self.done.set()
                return None
            if acted:
                observed = self._relist(pod)
                self._record(ref, observed)
                self._track_probes(pod, observed)
                observed = self._with_vanished(ref, pod, observed)
                self.wake()  # plan again at once: the next step depends on this one's outcome
        if body is not None and not self.terminal_written:
            self._write_status(ref, pod, body, observed, plan)
        return plan.next_sync_at

    # --- helpers ----------------------------------------------------------------------------

    def _load_history(self, pod: DesiredPod) -> None:
        events = self.ctx.client.read_stream(self.stream)
        self.recorded = recorded_states(events)
        self.known_oom.update(cid for cid, entry in self.recorded.items() if entry.oom_killed)
        runs = crash_loop_runs(events, pod_name=pod.name, namespace=pod.namespace, pod_uid=pod.uid)
        for key, history in runs.items():
            if key in self.ctx.crash_backoff.entries:
                continue
            entry = replay_restarts(history, policy=self.ctx.crash_backoff.policy)
            if entry is not None:
                self.ctx.crash_backoff.entries[key] = entry
        self._loaded = True

    def _with_vanished(
        self, ref: PodRef, pod: DesiredPod, observed: list[ContainerInfo]
    ) -> list[ContainerInfo]:
        """``observed`` plus a stand-in for every container removed behind the agent's back
        (reported as ContainerStatusUnknown, restarted per policy: :mod:`.vanished`)."""
        self.vanished = vanished_instances(
            ref,
            deleting=pod.deleting,
            recorded=self.recorded,
            observed=observed,
            removed_by_agent=self.removed_by_agent,
            known=self.vanished,
            now=datetime.now(UTC),
        )
        return [*observed, *self.vanished.values()]

    def _known_restart_counts(self) -> dict[str, int]:
        known: dict[str, int] = {}
        for entry in self.recorded.values():
            known[entry.container] = max(known.get(entry.container, -1), entry.restart_count)
        return known

    def _relist(self, pod: DesiredPod) -> list[ContainerInfo]:
        """The pod's containers as inspected, with the OOM kills the agent knows of; a death
        not recorded yet that may still get its late ``oom`` event waits for it, briefly."""
        observed = self.ctx.runtime.list_containers(pod_uid=pod.uid)
        with self._lock:
            self.known_oom.update(c.id for c in observed if c.oom_killed)
        unrecorded = [
            c
            for c in observed
            if (entry := self.recorded.get(c.id)) is None or entry.state != "exited"
        ]
        self._await_oom(unrecorded)
        with self._lock:
            return with_known_oom(observed, set(self.known_oom))

    def _await_oom(self, deaths: list[ContainerInfo]) -> None:
        """Wait until every death in ``deaths`` that may be an OOM kill has its ``oom`` event,
        or its hold (agent/oom.py) is over."""
        with self._oom_seen:
            while True:
                now = time.time()
                deadline = oom_hold_deadline(
                    deaths,
                    known_oom=self.known_oom,
                    killed_by_agent=self.killed_by_agent,
                    hold_seconds=self.ctx.oom_hold_seconds,
                    now=now,
                )
                if deadline is None or self.done.is_set():
                    return
                self._oom_seen.wait(deadline - now)

    def _record_deaths(self, ref: PodRef, pod: DesiredPod) -> None:
        with self._lock:
            died, self._died = self._died, {}
        limits = {c.name: c.memory_limit_bytes or 0 for c in pod.containers}
        deaths: list[ContainerInfo] = []
        for container_id, event in died.items():
            before = self.recorded.get(container_id)
            exit_code = event.exit_code
            if before is None or before.state != "running" or exit_code is None:
                continue  # the full relist records it, with its whole history, in order
            identity = event.identity
            limit = limits.get(identity.container_name, 0) if identity else 0
            deaths.append(death_from_event(event, exit_code, before.started_at, limit))
        if not deaths:
            return
        self._await_oom(deaths)
        with self._lock:
            deaths = with_known_oom(deaths, set(self.known_oom))
        self._record(ref, deaths, complete=False)

    def _record(self, ref: PodRef, observed: list[ContainerInfo], *, complete: bool = True) -> None:
        transitions = container_transitions(
            ref, self.recorded, observed, removed_by_agent=self.removed_by_agent, complete=complete
        )
        if not transitions:
            return
        events = [new_event(t.event_type, self.stream, t.payload) for t in transitions]
        self.ctx.client.append([self.ctx.stamp(e) for e in events])
        for t in transitions:
            state = {"ContainerCreated": "created", "ContainerStarted": "running"}.get(
                t.event_type.name, "exited"
            )
            self.recorded[t.payload.container_id] = RecordedContainer(
                state,
                t.payload.container,
                t.payload.restart_count,
                t.payload.started_at,
                t.payload.spec_hash,
                oom_killed=isinstance(t.payload, ContainerExitedPayload) and t.payload.oom_killed,
            )

    def _track_probes(self, pod: DesiredPod, observed: list[ContainerInfo]) -> None:
        running = {
            c.id: c
            for c in observed
            if c.identity is not None and not c.identity.sandbox and c.state == "running"
        }
        self.ctx.probes.retain(pod.uid, set(running))
        by_name = {c.name: c for c in pod.containers}
        host = self.pod_ip(pod, observed)
        for info in running.values():
            assert info.identity is not None
            spec = by_name.get(info.identity.container_name)
            if spec is None or info.identity.spec_hash != spec.spec_hash:
                continue
            self.ctx.probes.ensure(
                ProbeTarget(
                    pod_uid=pod.uid,
                    container=spec.name,
                    container_id=info.id,
                    host=host,
                    named_ports=self.named_ports(pod),
                    liveness=probe_spec("Liveness", spec.liveness) if spec.liveness else None,
                    readiness=probe_spec("Readiness", spec.readiness) if spec.readiness else None,
                    startup=probe_spec("Startup", spec.startup) if spec.startup else None,
                )
            )

    def pod_ip(self, pod: DesiredPod, observed: list[ContainerInfo]) -> str:
        if pod.host_network:
            return self.ctx.host_ip
        sandbox = next(
            (
                c
                for c in observed
                if c.identity is not None and c.identity.sandbox and c.state == "running"
            ),
            None,
        )
        return sandbox.ip if sandbox is not None else ""

    @staticmethod
    def named_ports(pod: DesiredPod) -> dict[str, int]:
        return dict(pod.named_ports)

    def _announce_waiting(self, ref: PodRef, pod: DesiredPod, plan: PodActions) -> None:
        events = []
        for name, waiting in plan.waiting.items():
            marker = (name, waiting.reason + waiting.message)
            if marker in self.announced:
                continue
            self.announced.add(marker)
            base = {
                "namespace": ref.namespace,
                "pod": ref.name,
                "pod_uid": ref.uid,
                "node": ref.node,
                "container": name,
                "reason": waiting.reason,
                "message": waiting.message,
            }
            if waiting.reason == "CrashLoopBackOff":
                events.append(new_event(ContainerBackOff, self.stream, WaitingPayload(**base)))
            elif waiting.reason == "ImagePullBackOff":
                image = next((c.image for c in pod.containers if c.name == name), "")
                payload = ImagePullFailedPayload(**base, image=image)
                events.append(new_event(ImagePullFailed, self.stream, payload))
        if events:
            self.ctx.client.append([self.ctx.stamp(e) for e in events])

    def note_start_failure(self, name: str, waiting: Waiting) -> None:
        self.reason_cache[name] = waiting

    def note_started(self, name: str, image: str) -> None:
        self.reason_cache.pop(name, None)
        self.ctx.image_backoff.reset(image_pull_key(pod_uid=self.uid, image=image))

    def _write_status(
        self,
        ref: PodRef,
        pod: DesiredPod,
        body: Mapping[str, Any],
        observed: list[ContainerInfo],
        plan: PodActions,
        *,
        terminal: bool = False,
        reveal: Collection[str] = (),
    ) -> None:
        """``reveal``: containers whose terminated state is written as it is, not replaced
        by the waiting reason of a failed or backed-off start."""
        failed_sync = {
            name: waiting
            for name, waiting in {**self.reason_cache, **plan.waiting}.items()
            if name not in reveal
        }
        status = compute_status(
            pod,
            observed,
            previous=self.last_status,
            failed_sync=failed_sync,
            ready=self.ctx.probes.ready,
            started=self.ctx.probes.started,
            host_ip=self.ctx.host_ip,
            pod_ip=self.pod_ip(pod, observed),
            pod_is_terminal=terminal,
        )
        if not status_changed(self.last_status, status):
            self.terminal_written = terminal
            return
        previous_phase = (self.last_status or {}).get("phase")
        written = self.ctx.client.update_pod_status(body, status)
        self.terminal_written = terminal
        if written is None:
            return
        self.last_status = status
        if previous_phase != status["phase"]:
            payload = PodPhasePayload(
                namespace=ref.namespace, pod=ref.name, pod_uid=ref.uid, node=ref.node,
                previous_phase=previous_phase, phase=status["phase"],
            )  # fmt: skip
            self.ctx.client.append(
                [self.ctx.stamp(new_event(PodPhaseChanged, self.stream, payload))]
            )
