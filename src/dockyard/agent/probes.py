"""Liveness, readiness and startup probes: one thread per running container instance.

Defaults are Kubernetes' (``SetDefaults_Probe``: delay 0, period 10 s, timeout 1 s, success 1,
failure 3). Semantics (k8s-semantics.md §5): the startup probe holds the other two back until it
succeeds (their initial delays count from then) and kills the container when it fails; liveness
failure kills; readiness flips ``ready`` and never kills; readiness is false until it first
succeeds, a container without a readiness probe is ready when started. Only changes of a probe's
thresholded result reach ``on_transition`` (and so the log): not every probe run.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from dockyard.agent.hooks import resolve_port
from dockyard.agent.runtime import ContainerRuntime, ContainerRuntimeError

__all__ = [
    "ProbeCounter",
    "ProbeManager",
    "ProbeSpec",
    "ProbeTarget",
    "probe_spec",
    "record_result",
    "run_probe",
]


@dataclass(frozen=True)
class ProbeSpec:
    kind: str  # "Liveness" | "Readiness" | "Startup"
    handler: Mapping[str, Any]
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3


def probe_spec(kind: str, raw: Mapping[str, Any]) -> ProbeSpec:
    """A probe with Kubernetes' defaults (0 means unset, as ``SetDefaults_Probe`` treats it)."""

    def number(key: str, default: float, minimum: float) -> float:
        value = raw.get(key)
        return default if not value else max(float(value), minimum)

    return ProbeSpec(
        kind=kind,
        handler={k: v for k, v in raw.items() if k in ("exec", "httpGet", "tcpSocket", "grpc")},
        initial_delay=float(raw.get("initialDelaySeconds") or 0),
        period=number("periodSeconds", 10, 1),
        timeout=number("timeoutSeconds", 1, 1),
        success_threshold=1 if kind != "Readiness" else int(number("successThreshold", 1, 1)),
        failure_threshold=int(number("failureThreshold", 3, 1)),
    )


@dataclass(frozen=True)
class ProbeCounter:
    """Consecutive successes/failures and the thresholded result (None: not decided yet)."""

    result: bool | None = None
    successes: int = 0
    failures: int = 0


def record_result(
    counter: ProbeCounter, ok: bool, spec: ProbeSpec
) -> tuple[ProbeCounter, bool | None]:
    """Fold one probe run in; the second value is the new result if it changed, else None."""
    if ok:
        counter = replace(counter, successes=counter.successes + 1, failures=0)
        if counter.successes >= spec.success_threshold and counter.result is not True:
            return replace(counter, result=True), True
    else:
        counter = replace(counter, failures=counter.failures + 1, successes=0)
        if counter.failures >= spec.failure_threshold and counter.result is not False:
            return replace(counter, result=False), False
    return counter, None


def run_probe(
    spec: ProbeSpec,
    *,
    runtime: ContainerRuntime,
    container_id: str,
    host: str,
    named_ports: Mapping[str, int],
) -> tuple[bool | None, str]:
    """Run one probe: (True, "") on success, (False, message) on failure, None if unknown."""
    handler = spec.handler
    if handler.get("exec") is not None:
        command = list(handler["exec"].get("command") or [])
        try:
            result = runtime.exec(container_id, command, timeout=spec.timeout)
        except ContainerRuntimeError as exc:
            return None, str(exc)
        output = result.output.decode("utf-8", "replace").strip()
        if result.timed_out:
            return False, f"command {command} timed out"
        return (result.exit_code == 0), output
    if handler.get("httpGet") is not None:
        get = handler["httpGet"]
        port = resolve_port(get.get("port"), named_ports)
        path = str(get.get("path") or "/")
        url = f"{str(get.get('scheme') or 'HTTP').lower()}://{get.get('host') or host}:{port}"
        url += path if path.startswith("/") else "/" + path
        headers = {h["name"]: h["value"] for h in get.get("httpHeaders") or ()}
        try:
            response = httpx.get(url, headers=headers, timeout=spec.timeout, verify=False)
        except httpx.HTTPError as exc:
            return False, f'Get "{url}": {exc}'
        if 200 <= response.status_code < 400:
            return True, ""
        return False, f"HTTP probe failed with statuscode: {response.status_code}"
    if handler.get("tcpSocket") is not None:
        tcp = handler["tcpSocket"]
        port = resolve_port(tcp.get("port"), named_ports)
        target = tcp.get("host") or host
        try:
            with socket.create_connection((target, port or 0), timeout=spec.timeout):
                return True, ""
        except OSError as exc:
            return False, f"dial tcp {target}:{port}: {exc}"
    return None, "probe handler not supported"


@dataclass(frozen=True)
class ProbeTarget:
    pod_uid: str
    container: str
    container_id: str
    host: str
    named_ports: Mapping[str, int] = field(default_factory=dict)
    liveness: ProbeSpec | None = None
    readiness: ProbeSpec | None = None
    startup: ProbeSpec | None = None


# on_transition(target, probe kind, new result, message)
TransitionCallback = Callable[[ProbeTarget, str, bool, str], None]


class _ContainerProber:
    def __init__(self, target: ProbeTarget, runtime: ContainerRuntime, on: TransitionCallback):
        self.target = target
        self.runtime = runtime
        self.on_transition = on
        self.stop_event = threading.Event()
        self.started = target.startup is None
        self.ready = target.readiness is None
        self.failed: str | None = None  # liveness/startup failure message
        self.thread = threading.Thread(
            target=self._run, name=f"probe-{target.container_id[:12]}", daemon=True
        )

    def _run(self) -> None:
        counters: dict[str, ProbeCounter] = {}
        base = time.monotonic()
        due: dict[str, float] = {}
        if self.target.startup is not None:
            due["Startup"] = base + self.target.startup.initial_delay
        else:
            self._schedule_after_startup(due, base)
        while not self.stop_event.is_set() and due:
            kind, moment = min(due.items(), key=lambda item: item[1])
            if self.stop_event.wait(max(0.0, moment - time.monotonic())):
                return
            spec = self._spec(kind)
            ok, message = run_probe(
                spec,
                runtime=self.runtime,
                container_id=self.target.container_id,
                host=self.target.host,
                named_ports=self.target.named_ports,
            )
            due[kind] = time.monotonic() + spec.period
            if ok is None or self.stop_event.is_set():
                continue
            counter, changed = record_result(counters.get(kind, ProbeCounter()), ok, spec)
            counters[kind] = counter
            if changed is None:
                continue
            self._apply(kind, changed, message, due)

    def _spec(self, kind: str) -> ProbeSpec:
        spec = {
            "Liveness": self.target.liveness,
            "Readiness": self.target.readiness,
            "Startup": self.target.startup,
        }[kind]
        assert spec is not None
        return spec

    def _schedule_after_startup(self, due: dict[str, float], base: float) -> None:
        for spec in (self.target.liveness, self.target.readiness):
            if spec is not None:
                due[spec.kind] = base + spec.initial_delay

    def _apply(self, kind: str, result: bool, message: str, due: dict[str, float]) -> None:
        if kind == "Startup":
            if result:
                self.started = True
                del due["Startup"]
                self._schedule_after_startup(due, time.monotonic())
            else:
                self.failed = "startup probe"
                due.clear()
        elif kind == "Liveness" and not result:
            self.failed = "liveness probe"
            due.clear()
        elif kind == "Readiness":
            self.ready = result
        text = f"{kind} probe failed: {message}" if not result else f"{kind} probe succeeded"
        self.on_transition(self.target, kind, result, text)


class ProbeManager:
    """Keeps one prober per running container that has probes; thread-safe."""

    def __init__(self, runtime: ContainerRuntime, on_transition: TransitionCallback) -> None:
        self.runtime = runtime
        self.on_transition = on_transition
        self._probers: dict[str, _ContainerProber] = {}
        self._lock = threading.Lock()

    def ensure(self, target: ProbeTarget) -> None:
        if target.liveness is None and target.readiness is None and target.startup is None:
            return
        with self._lock:
            if target.container_id in self._probers:
                return
            prober = _ContainerProber(target, self.runtime, self.on_transition)
            self._probers[target.container_id] = prober
        prober.thread.start()

    def retain(self, pod_uid: str, live_ids: set[str]) -> None:
        """Stop the probers of ``pod_uid`` whose containers are no longer running."""
        with self._lock:
            doomed = [
                cid
                for cid, p in self._probers.items()
                if p.target.pod_uid == pod_uid and cid not in live_ids
            ]
            stopped = [self._probers.pop(cid) for cid in doomed]
        for prober in stopped:
            prober.stop_event.set()

    def stop_all(self) -> None:
        self.retain_nothing()

    def retain_nothing(self) -> None:
        with self._lock:
            stopped = list(self._probers.values())
            self._probers.clear()
        for prober in stopped:
            prober.stop_event.set()

    def ready(self, container_id: str) -> bool:
        prober = self._probers.get(container_id)
        return True if prober is None else prober.ready and prober.started

    def started(self, container_id: str) -> bool:
        prober = self._probers.get(container_id)
        return True if prober is None else prober.started

    def unhealthy(self, pod_uid: str) -> dict[str, str]:
        with self._lock:
            return {
                cid: p.failed
                for cid, p in self._probers.items()
                if p.target.pod_uid == pod_uid and p.failed is not None
            }
