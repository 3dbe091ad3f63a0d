"""What the group-commit tests' batch runners answer (sync and async alike)."""

from __future__ import annotations

from collections.abc import Sequence

from dockyard.store.group_commit import PendingWrite


def answer(batch: Sequence[PendingWrite], *, fail: bool) -> None:
    """Fail the whole batch (the connection broke), or answer each write with its payload ``n``,
    refusing the negative ones (a write's own error)."""
    if fail:
        raise ConnectionError("the database went away")
    for write in batch:
        if write.payload["n"] < 0:
            write.error = ValueError(f"write {write.payload['n']} is refused")
        else:
            write.rows.append((write.payload["n"],))
