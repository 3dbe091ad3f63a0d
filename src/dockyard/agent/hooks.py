"""Lifecycle hook handlers: ``exec`` in the container, ``httpGet`` and ``sleep`` from the agent,
and Dockyard's ``notify``, which only records an event (the notifier delivers it).

``exec`` runs the argv as written (no shell unless the user writes one). Every handler is
bounded: exec and httpGet by ``timeout`` (the remaining grace period for preStop), so a hook
that hangs cannot hold a pod forever.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from dockyard.agent.runtime import ContainerRuntime, ContainerRuntimeError

__all__ = ["HookOutcome", "handler_kind", "resolve_port", "run_handler"]

# Output kept in an event: enough to see why a hook failed, not a log archive.
MAX_OUTPUT = 4096


@dataclass(frozen=True)
class HookOutcome:
    ok: bool
    handler: str
    message: str = ""
    output: str = ""


def handler_kind(handler: Mapping[str, Any]) -> str:
    for kind in ("exec", "httpGet", "sleep", "notify", "tcpSocket"):
        if handler.get(kind) is not None:
            return kind
    return "unknown"


def resolve_port(port: Any, named_ports: Mapping[str, int]) -> int | None:
    if isinstance(port, int):
        return port
    text = str(port)
    if text.isdigit():
        return int(text)
    return named_ports.get(text)


def run_handler(
    handler: Mapping[str, Any],
    *,
    runtime: ContainerRuntime,
    container_id: str,
    container_name: str,
    pod_ip: str,
    named_ports: Mapping[str, int],
    timeout: float,
    notify: Callable[[Mapping[str, Any]], None],
) -> HookOutcome:
    kind = handler_kind(handler)
    timeout = max(timeout, 0.1)
    if kind == "exec":
        command = list(handler["exec"].get("command") or [])
        try:
            result = runtime.exec(container_id, command, timeout=timeout)
        except ContainerRuntimeError as exc:
            return HookOutcome(
                False,
                kind,
                f"Exec lifecycle hook ({command}) for Container "
                f'"{container_name}" failed - error: {exc}',
            )
        output = result.output.decode("utf-8", "replace")[-MAX_OUTPUT:]
        if result.timed_out:
            return HookOutcome(
                False,
                kind,
                f"Exec lifecycle hook ({command}) for Container "
                f'"{container_name}" failed - error: timed out after '
                f"{timeout:g}s",
                output,
            )
        if result.exit_code != 0:
            return HookOutcome(
                False,
                kind,
                f'Exec lifecycle hook ({command}) for Container "{container_name}" failed - '
                f"error: command '{' '.join(command)}' exited with {result.exit_code}: {output}",
                output,
            )
        return HookOutcome(True, kind, output=output)
    if kind == "httpGet":
        spec = handler["httpGet"]
        port = resolve_port(spec.get("port"), named_ports)
        host = spec.get("host") or pod_ip or "127.0.0.1"
        scheme = str(spec.get("scheme") or "HTTP").lower()
        path = str(spec.get("path") or "/")
        if not path.startswith("/"):
            path = "/" + path
        url = f"{scheme}://{host}:{port}{path}"
        headers = {h["name"]: h["value"] for h in spec.get("httpHeaders") or ()}
        if port is None:
            return HookOutcome(
                False,
                kind,
                f"HTTP lifecycle hook ({path}) for Container "
                f'"{container_name}" failed - error: unknown port {spec.get("port")}',
            )
        try:
            response = httpx.get(url, headers=headers, timeout=timeout, verify=False)
        except httpx.HTTPError as exc:
            return HookOutcome(
                False,
                kind,
                f"HTTP lifecycle hook ({path}) for Container "
                f'"{container_name}" failed - error: {exc}',
            )
        body = response.text[:MAX_OUTPUT]
        if not 200 <= response.status_code < 400:
            return HookOutcome(
                False,
                kind,
                f"HTTP lifecycle hook ({path}) for Container "
                f'"{container_name}" failed - error: HTTP status code '
                f"{response.status_code}",
                body,
            )
        return HookOutcome(True, kind, output=body)
    if kind == "sleep":
        time.sleep(min(float(handler["sleep"].get("seconds") or 0), timeout))
        return HookOutcome(True, kind)
    if kind == "notify":
        notify(handler["notify"])
        return HookOutcome(True, kind)
    return HookOutcome(False, kind, f"lifecycle handler {kind} is not supported")
