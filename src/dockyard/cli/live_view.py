"""The live view of ``dockyard up``: pods (READY, STATUS, RESTARTS, AGE) and recent events.

On a terminal the screen is redrawn every refresh; into a pipe or a file, a pod table is printed
only when a pod's READY, STATUS or RESTARTS changed, and each new event once.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from dockyard.cli.client import TABLE_ACCEPT, ApiClient, ApiError, ClientError, JsonObject
from dockyard.cli.kubectl_like import EVENTS, format_table, table_rows
from dockyard.server.tables import age

RECENT_EVENTS = 8
_AGO = re.compile(r" \(.* ago\)$")


@dataclass
class Snapshot:
    headers: list[str]
    pods: list[list[Any]]
    events: list[JsonObject]


@dataclass
class ViewState:
    """What a non-terminal view already printed."""

    pods_signature: tuple[tuple[str, ...], ...] | None = None
    seen_events: set[tuple[str, int]] = field(default_factory=set)


def snapshot(client: ApiClient) -> Snapshot:
    pods = client.request("GET", "/api/v1/pods", accept=TABLE_ACCEPT)
    headers, rows = table_rows(pods, wide=False, with_namespace=True)
    listed = client.request("GET", client.path(EVENTS, None))
    events = sorted(
        listed.get("items") or [],
        key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""),
    )
    return Snapshot(headers, rows, events)


def event_row(event: JsonObject, now: datetime) -> list[str]:
    involved = event.get("involvedObject") or {}
    count = int(event.get("count") or 1)
    when = age(event.get("lastTimestamp") or event.get("eventTime"), now)
    if count > 1:
        when += f" (x{count})"
    return [
        when,
        str(event.get("type", "")),
        str(event.get("reason", "")),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        str(event.get("message", "")).strip(),
    ]


def render_screen(shot: Snapshot, header: str, now: datetime) -> str:
    parts = [header, ""]
    if shot.pods:
        parts.append(format_table(shot.headers, shot.pods))
    else:
        parts.append("No pods yet. Apply some: dockyard apply -f examples/")
    parts += ["", "Recent events:"]
    recent = shot.events[-RECENT_EVENTS:]
    if recent:
        rows = [event_row(e, now) for e in recent]
        table = format_table(["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], rows)
        parts.append(table)
    else:
        parts.append("  <none>")
    parts += [
        "",
        "Ctrl-C stops Dockyard; the containers keep running (`dockyard down` removes them).",
    ]
    return "\n".join(parts)


def changes(shot: Snapshot, state: ViewState, now: datetime) -> list[str]:
    """The lines a non-terminal view prints for this snapshot (and remembers them)."""
    lines: list[str] = []
    age_column = shot.headers.index("AGE") if "AGE" in shot.headers else -1
    signature = tuple(
        tuple(_AGO.sub("", str(c)) for i, c in enumerate(row) if i != age_column)
        for row in shot.pods
    )
    if signature != state.pods_signature:
        state.pods_signature = signature
        lines.append(format_table(shot.headers, shot.pods) if shot.pods else "(no pods)")
    for event in shot.events:
        key = (str((event.get("metadata") or {}).get("name", "")), int(event.get("count") or 1))
        if key not in state.seen_events:
            state.seen_events.add(key)
            lines.append("event: " + "  ".join(event_row(event, now)[1:]))
    return lines


def run_view(
    client_factory: Callable[[], ApiClient],
    header: str,
    stop: threading.Event,
    *,
    out: TextIO = sys.stdout,
    refresh: float = 1.0,
    interactive: bool | None = None,
) -> None:
    """Show the view until ``stop`` is set; a failing read shows the error and retries."""
    interactive = out.isatty() if interactive is None else interactive
    state = ViewState()
    if not interactive:
        print(header, file=out, flush=True)
    with client_factory() as client:
        while not stop.is_set():
            now = datetime.now(UTC)
            try:
                shot = snapshot(client)
            except (ApiError, ClientError) as exc:
                print(f"(view: {exc})", file=out, flush=True)
                stop.wait(refresh)
                continue
            if interactive:
                out.write("\x1b[H\x1b[2J" + render_screen(shot, header, now) + "\n")
                out.flush()
            else:
                for line in changes(shot, state, now):
                    print(line, file=out, flush=True)
            stop.wait(refresh)


def first_screen(
    *,
    api_url: str,
    kubeconfig: str,
    data: str,
    database: str,
    node: str,
    applied: Sequence[str],
    notes: Sequence[str] = (),
) -> str:
    lines = [
        "Dockyard is up.",
        f"  API:        {api_url}",
        f"  kubectl:    KUBECONFIG={kubeconfig} kubectl get pods",
        f"  dockyard:   dockyard get pods   (uses {kubeconfig})",
        f"  data:       {data}",
        f"  database:   {database}",
        f"  node:       {node} (the local Docker engine)",
    ]
    lines += [f"  {note}" for note in notes]
    if applied:
        lines.append("Applied:")
        lines += [f"  {line}" for line in applied]
    return "\n".join(lines)
