"""The last change to a workload before its crash episode began, from its event stream. Pure.

"Who changed what, how long before the first crash" is the first question on call asks; the
event log answers it exactly, because every spec change is an event with its actor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from dockyard.store.events import RecordedEvent

MAX_CHANGES = 8
MAX_VALUE = 80
SPEC_EVENT_TYPES = ("ObjectCreated", "ObjectUpdated")


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def spec_changes(before: Any, after: Any, path: str = "spec") -> list[str]:
    """Leaf-level differences, ``spec.template.spec.containers[0].image: a → b``."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        changes: list[str] = []
        for key in sorted(set(before) | set(after)):
            changes.extend(spec_changes(before.get(key), after.get(key), f"{path}.{key}"))
        return changes
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        changes = []
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            changes.extend(spec_changes(old, new, f"{path}[{index}]"))
        return changes
    if before == after:
        return []
    if before is None:
        return [f"{path} set to {_short(after)}"]
    if after is None:
        return [f"{path} removed (was {_short(before)})"]
    return [f"{path}: {_short(before)} → {_short(after)}"]


def last_change(events: Sequence[RecordedEvent], before: datetime) -> dict[str, Any] | None:
    """The newest spec-changing event of a stream recorded before ``before``, described."""
    previous: Mapping[str, Any] | None = None
    found: dict[str, Any] | None = None
    for event in events:
        if event.recorded_at > before:
            break
        if event.type not in SPEC_EVENT_TYPES:
            continue
        obj = event.data.get("object") or {}
        spec = obj.get("spec")
        old_spec = previous.get("spec") if previous is not None else None
        if event.type == "ObjectCreated" or spec != old_spec:
            changes = ["created"] if event.type == "ObjectCreated" else spec_changes(old_spec, spec)
            more = len(changes) - MAX_CHANGES
            found = {
                "kind": obj.get("kind", "owner"),
                "actor": str(event.metadata.get("actor") or "unknown"),
                "verb": str(event.metadata.get("verb") or event.type),
                "at": event.recorded_at.isoformat(),
                "position": event.position,
                "changes": changes[:MAX_CHANGES] + ([f"… {more} more"] if more > 0 else []),
            }
        previous = obj
    return found
