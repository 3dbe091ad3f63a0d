"""The Docker Engine implementation of :class:`~dockyard.agent.runtime.ContainerRuntime`.

Facts it relies on (reference/docker-engine.md): the API version is negotiated (``"auto"``,
never pinned); containers get no Docker restart policy (Dockyard owns restarts and back-off);
labels are written at create time; the events stream is resumed with a ``"sec.nanos"`` string
and read through ``Actor.ID``/``Action``/``Actor.Attributes`` only; OOM comes from
``State.OOMKilled`` or the ``oom`` event (Engine 20.10 with cgroup v2 may send it after ``die``
and then never sets the flag: agent/oom.py). Every docker-py or socket failure leaves this
module as one of the runtime errors, an engine that went away as :class:`RuntimeUnavailable`.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import docker.errors
import urllib3.exceptions

from dockyard.agent.runtime import (
    ACTIONS,
    LABEL_MANAGED,
    LABEL_POD_UID,
    ContainerCreateError,
    ContainerInfo,
    ContainerNotFound,
    ContainerPort,
    ContainerRuntimeError,
    ContainerSpec,
    ContainerState,
    ExecResult,
    HostCapacity,
    HostNetwork,
    ImageNeverPullError,
    ImageNotFound,
    ImagePullError,
    InvalidImageName,
    JoinNetwork,
    PullPolicy,
    RuntimeEvent,
    RuntimeUnavailable,
    SandboxSpec,
    container_labels,
    identity_from_labels,
    parse_time,
    sandbox_labels,
)

__all__ = ["DEFAULT_PAUSE_COMMAND", "DEFAULT_PAUSE_IMAGE", "DockerRuntime"]

DEFAULT_PAUSE_IMAGE = "busybox:latest"
# A shell that sleeps forever but exits at once on TERM: PID 1 ignores signals it has no handler
# for, so a bare `sleep` would make every sandbox stop wait for the full grace period.
DEFAULT_PAUSE_COMMAND: tuple[str, ...] = (
    "sh",
    "-c",
    "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done",
)
_MANAGED_FILTER = f"{LABEL_MANAGED}=true"


@contextlib.contextmanager
def _mapped(
    what: str, *, not_found: type[ContainerRuntimeError] = ContainerNotFound
) -> Iterator[None]:
    """Translate docker-py, requests and socket errors into runtime errors."""
    try:
        yield
    except ContainerRuntimeError:
        raise
    except docker.errors.NotFound as exc:
        raise not_found(f"{what}: {_explain(exc)}") from exc
    except docker.errors.APIError as exc:
        if exc.status_code is not None and exc.status_code >= 500 and _looks_unavailable(exc):
            raise RuntimeUnavailable(f"{what}: {_explain(exc)}") from exc
        raise ContainerRuntimeError(f"{what}: {_explain(exc)}") from exc
    except docker.errors.DockerException as exc:
        # Raised by the client constructor when /version cannot be reached.
        raise RuntimeUnavailable(f"{what}: {exc}") from exc
    except (OSError, urllib3.exceptions.HTTPError) as exc:
        # requests' exceptions are OSErrors; a reset socket or dead daemon lands here.
        raise RuntimeUnavailable(f"{what}: {exc}") from exc


def _explain(exc: docker.errors.APIError) -> str:
    return str(exc.explanation or exc)


def _looks_unavailable(exc: docker.errors.APIError) -> bool:
    text = _explain(exc).lower()
    return "connection refused" in text or "daemon is shutting down" in text


def _state(status: str, exit_code: int) -> ContainerState:
    if status in ("running", "paused", "restarting"):
        return "running"
    if status == "created" and exit_code == 0:
        return "created"
    # A container whose start failed stays "created" with a non-zero exit code: the dockershim
    # reports it as exited (ContainerCannotRun), and so do we.
    return "exited"


def _info(attrs: Mapping[str, Any]) -> ContainerInfo:
    state = attrs.get("State") or {}
    config = attrs.get("Config") or {}
    labels: dict[str, str] = dict(config.get("Labels") or {})
    exit_code = int(state.get("ExitCode") or 0)
    status = str(state.get("Status") or "")
    return ContainerInfo(
        id=str(attrs["Id"]),
        name=str(attrs.get("Name") or "").lstrip("/"),
        labels=labels,
        identity=identity_from_labels(labels),
        state=_state(status, exit_code),
        exit_code=exit_code,
        oom_killed=bool(state.get("OOMKilled")),
        started_at=parse_time(state.get("StartedAt")),
        finished_at=parse_time(state.get("FinishedAt")),
        created_at=parse_time(attrs.get("Created")),
        error=str(state.get("Error") or ""),
        image=str(config.get("Image") or ""),
        image_id=str(attrs.get("Image") or ""),
        ip=_ip(attrs.get("NetworkSettings") or {}),
        docker_status=status,
        memory_limit_bytes=int((attrs.get("HostConfig") or {}).get("Memory") or 0),
    )


def _ip(settings: Mapping[str, Any]) -> str:
    if settings.get("IPAddress"):
        return str(settings["IPAddress"])
    for network in (settings.get("Networks") or {}).values():
        if network and network.get("IPAddress"):
            return str(network["IPAddress"])
    return ""


def _port_bindings(ports: Sequence[ContainerPort]) -> dict[str, tuple[str, int]]:
    return {
        f"{p.container_port}/{p.protocol.lower()}": (p.host_ip or "0.0.0.0", p.host_port)
        for p in ports
        if p.host_port
    }


def _docker_name(*parts: str) -> str:
    # Like the dockershim's k8s_<container>_<pod>_<ns>_<uid>_<attempt>: unique per attempt.
    return "dy_" + "_".join(parts)


def _kill_process_tree(pid: int) -> None:
    """Best effort SIGKILL of ``pid`` and its descendants, seen through the host's /proc.

    Docker has no API to kill an exec; this works when the agent shares the engine's PID
    namespace (the usual case for an agent on the Docker host) and does nothing otherwise.
    """
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    pending, doomed = [pid], []
    while pending:
        current = pending.pop()
        doomed.append(current)
        pending.extend(children.get(current, []))
    for victim in doomed:
        with contextlib.suppress(OSError):
            os.kill(victim, signal.SIGKILL)


class _EventStream:
    """Runtime events from a docker-py CancellableStream; see ``runtime.EventStream``."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[RuntimeEvent]:
        try:
            for message in self._raw:
                if message.get("Type") != "container":
                    continue
                actor = message.get("Actor") or {}
                yield RuntimeEvent(
                    container_id=str(actor.get("ID", "")),
                    action=str(message.get("Action", "")),
                    time_nano=int(message.get("timeNano") or int(message.get("time", 0)) * 10**9),
                    attributes={str(k): str(v) for k, v in (actor.get("Attributes") or {}).items()},
                )
        except (OSError, ValueError, urllib3.exceptions.HTTPError) as exc:
            if not self._closed.is_set():
                raise RuntimeUnavailable(f"events stream lost: {exc}") from exc
            return
        if not self._closed.is_set():
            raise RuntimeUnavailable("events stream closed by the engine")

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(Exception):
            self._raw.close()


class _LogStream:
    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._raw:
                yield bytes(chunk)
        except (OSError, ValueError, urllib3.exceptions.HTTPError) as exc:
            if not self._closed.is_set():
                raise RuntimeUnavailable(f"log stream lost: {exc}") from exc

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(Exception):
            self._raw.close()


class DockerRuntime:
    """A :class:`~dockyard.agent.runtime.ContainerRuntime` over one Docker engine.

    The client connects lazily and reconnects after a failure, so an agent outlives a daemon
    restart. Mutating calls refuse containers without Dockyard's managed label.
    """

    def __init__(
        self,
        *,
        base_url: str = "unix:///var/run/docker.sock",
        pause_image: str = DEFAULT_PAUSE_IMAGE,
        pause_command: Sequence[str] = DEFAULT_PAUSE_COMMAND,
        api_timeout: float = 60.0,
    ) -> None:
        self._base_url = base_url
        self._pause_image = pause_image
        self._pause_command = list(pause_command)
        self._api_timeout = api_timeout
        self._client: Any = None
        self._lock = threading.Lock()

    # --- connection -------------------------------------------------------------------------

    @property
    def _api(self) -> Any:
        with self._lock:
            if self._client is None:
                with _mapped("connect to the Docker engine"):
                    self._client = docker.DockerClient(
                        base_url=self._base_url, version="auto", timeout=int(self._api_timeout)
                    )
            return self._client.api

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                with contextlib.suppress(Exception):
                    self._client.close()
                self._client = None

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            with _mapped(what):
                return fn(*args, **kwargs)
        except RuntimeUnavailable:
            self.close()  # reconnect (and renegotiate the API version) next time
            raise

    # --- images -----------------------------------------------------------------------------

    def _local_image_id(self, image: str) -> str | None:
        try:
            with _mapped(f"inspect image {image}", not_found=ImageNotFound):
                return str(self._api.inspect_image(image)["Id"])
        except ImageNotFound:
            return None
        except ContainerRuntimeError as exc:
            if isinstance(exc, RuntimeUnavailable):
                raise
            raise InvalidImageName(
                image, f'Failed to apply default image tag "{image}": {exc}'
            ) from exc

    def ensure_image(self, image: str, *, pull_policy: PullPolicy) -> str:
        local = self._local_image_id(image)
        if pull_policy == "Never":
            if local is None:
                raise ImageNeverPullError(
                    image, f'Container image "{image}" is not present with pull policy of Never'
                )
            return local
        if pull_policy == "IfNotPresent" and local is not None:
            return local
        try:
            with _mapped(f"pull image {image}"):
                # Streamed, because some pull failures arrive as an `error` message in a 200.
                for message in self._api.pull(image, stream=True, decode=True):
                    if isinstance(message, dict) and message.get("error"):
                        raise ContainerRuntimeError(str(message["error"]))
        except RuntimeUnavailable:
            raise
        except ContainerRuntimeError as exc:
            raise ImagePullError(image, f'Failed to pull image "{image}": {exc}') from exc
        pulled = self._local_image_id(image)
        if pulled is None:
            raise ImagePullError(image, f'Failed to pull image "{image}": not found after pull')
        return pulled

    # --- containers -------------------------------------------------------------------------

    def create_sandbox(self, spec: SandboxSpec) -> str:
        self.ensure_image(self._pause_image, pull_policy="IfNotPresent")
        api = self._api
        host_config = api.create_host_config(
            network_mode="host" if spec.host_network else "bridge",
            port_bindings=None if spec.host_network else _port_bindings(spec.ports) or None,
        )
        hostname = None if spec.host_network else (spec.hostname or spec.pod_name)[:63]
        name = _docker_name("POD", spec.pod_name, spec.namespace, spec.pod_uid, str(spec.attempt))
        exposed = [
            (p.container_port, p.protocol.lower()) for p in spec.ports if p.host_port
        ] or None
        try:
            with _mapped(f"create sandbox for {spec.namespace}/{spec.pod_name}"):
                created = api.create_container(
                    self._pause_image,
                    command=self._pause_command,
                    name=name,
                    hostname=hostname,
                    labels=sandbox_labels(spec),
                    host_config=host_config,
                    ports=exposed,
                    detach=True,
                )
        except RuntimeUnavailable:
            raise
        except ContainerRuntimeError as exc:
            raise ContainerCreateError(str(exc)) from exc
        container_id = str(created["Id"])
        try:
            self.start_container(container_id)
        except ContainerCreateError:
            with contextlib.suppress(ContainerRuntimeError):
                self.remove_container(container_id, force=True)
            raise
        return container_id

    def create_container(self, spec: ContainerSpec) -> str:
        api = self._api
        if isinstance(spec.network, JoinNetwork):
            network_mode = f"container:{spec.network.sandbox_id}"
        elif isinstance(spec.network, HostNetwork):
            network_mode = "host"
        else:
            network_mode = "bridge"
        memory = spec.memory_limit_bytes
        host_config = api.create_host_config(
            network_mode=network_mode,
            mem_limit=memory,
            # No swap, as in Kubernetes: without this Docker allows as much swap as memory.
            memswap_limit=memory,
            nano_cpus=spec.nano_cpus,
        )
        name = _docker_name(
            spec.container_name,
            spec.pod_name,
            spec.namespace,
            spec.pod_uid,
            str(spec.restart_count),
        )
        try:
            with _mapped(f"create container {name}", not_found=ImageNotFound):
                created = api.create_container(
                    spec.image,
                    # Kubernetes `command` replaces ENTRYPOINT (and with it the image CMD),
                    # `args` replaces CMD.
                    entrypoint=list(spec.command) if spec.command else None,
                    command=list(spec.args) if spec.args else None,
                    environment=[f"{k}={v}" for k, v in spec.env.items()],
                    working_dir=spec.working_dir or None,
                    name=name,
                    labels=container_labels(spec),
                    host_config=host_config,
                    stop_signal=spec.stop_signal,
                    detach=True,
                )
        except (RuntimeUnavailable, ImageNotFound):
            raise
        except ContainerRuntimeError as exc:
            raise ContainerCreateError(str(exc)) from exc
        return str(created["Id"])

    def _require_managed(self, container_id: str) -> None:
        # `inspect` raises ContainerNotFound for containers without Dockyard's label.
        self.inspect(container_id)

    def start_container(self, container_id: str) -> None:
        self._require_managed(container_id)
        try:
            self._call(f"start container {container_id[:12]}", self._api.start, container_id)
        except (RuntimeUnavailable, ContainerNotFound):
            raise
        except ContainerRuntimeError as exc:
            raise ContainerCreateError(str(exc)) from exc

    def stop_container(self, container_id: str, *, timeout: float) -> None:
        self._require_managed(container_id)
        seconds = max(0, math.ceil(timeout))
        self._call(f"stop container {container_id[:12]}", self._api.stop, container_id, seconds)

    def kill_container(self, container_id: str, *, signal: str = "SIGKILL") -> None:
        self._require_managed(container_id)
        try:
            self._call(f"kill container {container_id[:12]}", self._api.kill, container_id, signal)
        except (RuntimeUnavailable, ContainerNotFound):
            raise
        except ContainerRuntimeError as exc:
            if "is not running" not in str(exc):
                raise

    def remove_container(self, container_id: str, *, force: bool = False) -> None:
        """Remove a container; already gone (or being removed) counts as done."""
        try:
            self._require_managed(container_id)
            self._call(
                f"remove container {container_id[:12]}",
                self._api.remove_container,
                container_id,
                v=True,
                force=force,
            )
        except ContainerNotFound:
            return
        except RuntimeUnavailable:
            raise
        except ContainerRuntimeError as exc:
            if "already in progress" not in str(exc):
                raise

    def inspect(self, container_id: str) -> ContainerInfo:
        attrs = self._call(
            f"inspect container {container_id[:12]}", self._api.inspect_container, container_id
        )
        info = _info(attrs)
        if info.identity is None:
            raise ContainerNotFound(f"container {container_id[:12]} is not managed by Dockyard")
        return info

    def list_containers(self, *, pod_uid: str | None = None) -> list[ContainerInfo]:
        labels = [_MANAGED_FILTER] + ([f"{LABEL_POD_UID}={pod_uid}"] if pod_uid else [])
        summaries = self._call(
            "list containers", self._api.containers, all=True, filters={"label": labels}
        )
        found: list[ContainerInfo] = []
        for summary in summaries:
            try:
                found.append(self.inspect(str(summary["Id"])))
            except ContainerNotFound:
                continue  # removed between list and inspect
        return found

    def container_states(
        self, *, labels: Mapping[str, str] | None = None
    ) -> dict[str, tuple[str, str]]:
        """``{container id: (pod uid, Docker state)}`` for every Dockyard container (with
        ``labels``, if given), from one list call (no inspect): cheap enough to diff often."""
        wanted = [_MANAGED_FILTER] + [f"{k}={v}" for k, v in (labels or {}).items()]
        summaries = self._call(
            "list containers", self._api.containers, all=True, filters={"label": wanted}
        )
        return {
            str(s["Id"]): (
                str((s.get("Labels") or {}).get(LABEL_POD_UID, "")),
                str(s.get("State") or ""),
            )
            for s in summaries
        }

    # --- exec, logs, events -----------------------------------------------------------------

    def exec(self, container_id: str, command: Sequence[str], *, timeout: float) -> ExecResult:
        """Run ``command`` in the container; output is stdout and stderr interleaved.

        A command still running after ``timeout`` seconds is killed (best effort, see
        :func:`_kill_process_tree`) and reported with ``timed_out=True``.
        """
        self._require_managed(container_id)
        api = self._api
        created = self._call(
            f"exec in {container_id[:12]}",
            api.exec_create,
            container_id,
            list(command),
            stdout=True,
            stderr=True,
        )
        exec_id = str(created["Id"])
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["output"] = api.exec_start(exec_id)
            except Exception as exc:  # handed to the caller's thread below
                outcome["error"] = exc

        worker = threading.Thread(target=run, name=f"exec-{exec_id[:12]}", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            details = self._call("inspect exec", api.exec_inspect, exec_id)
            if details.get("Running") and details.get("Pid"):
                _kill_process_tree(int(details["Pid"]))
            worker.join(1.0)
            return ExecResult(exit_code=None, output=b"", timed_out=True)
        if "error" in outcome:
            with _mapped(f"exec in {container_id[:12]}"):
                raise outcome["error"]
        details = self._call("inspect exec", api.exec_inspect, exec_id)
        exit_code = details.get("ExitCode")
        return ExecResult(
            exit_code=int(exit_code) if exit_code is not None else None,
            output=bytes(outcome.get("output") or b""),
        )

    def logs(
        self,
        container_id: str,
        *,
        tail: int | None = None,
        since: datetime | None = None,
        timestamps: bool = False,
    ) -> bytes:
        self._require_managed(container_id)
        data = self._call(
            f"logs of {container_id[:12]}",
            self._api.logs,
            container_id,
            stdout=True,
            stderr=True,
            timestamps=timestamps,
            tail="all" if tail is None or tail < 0 else tail,
            since=since,
        )
        return bytes(data)

    def follow_logs(
        self,
        container_id: str,
        *,
        tail: int | None = None,
        since: datetime | None = None,
        timestamps: bool = False,
    ) -> _LogStream:
        self._require_managed(container_id)
        raw = self._call(
            f"follow logs of {container_id[:12]}",
            self._api.logs,
            container_id,
            stdout=True,
            stderr=True,
            stream=True,
            follow=True,
            timestamps=timestamps,
            tail="all" if tail is None or tail < 0 else tail,
            since=since,
        )
        return _LogStream(raw)

    def events(self, *, since: str | None = None) -> _EventStream:
        """Dockyard's container events; ``since`` is a ``"sec.nanos"`` string (replay ≤ 256)."""
        raw = self._call(
            "subscribe to events",
            self._api.events,
            since=since,
            filters={"type": "container", "label": [_MANAGED_FILTER], "event": list(ACTIONS)},
            decode=True,
        )
        return _EventStream(raw)

    # --- node -------------------------------------------------------------------------------

    def pod_ip(self, sandbox_id: str) -> str:
        return self.inspect(sandbox_id).ip

    def capacity(self) -> HostCapacity:
        api = self._api
        info = self._call("docker info", api.info)
        return HostCapacity(
            cpus=int(info.get("NCPU") or 0),
            memory_bytes=int(info.get("MemTotal") or 0),
            hostname=str(info.get("Name") or ""),
            engine_version=str(info.get("ServerVersion") or ""),
            api_version=str(api.api_version),
            operating_system=str(info.get("OperatingSystem") or ""),
            kernel_version=str(info.get("KernelVersion") or ""),
        )
