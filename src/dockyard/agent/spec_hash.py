"""A stable hash of a container spec, written as a label to notice spec changes.

Labels cannot change after create (docker-engine.md §4), so a container whose label differs from
the hash of the desired spec must be replaced. The hash is the SHA-256 of the canonical JSON
(sorted keys, no whitespace) with ``None`` values dropped at every level, so an absent field and
an explicit ``null`` hash alike; 16 hex characters are plenty to tell specs of one pod apart.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["HASH_LENGTH", "container_spec_hash"]

HASH_LENGTH = 16


def _without_none(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_without_none(v) for v in value]
    return value


def container_spec_hash(container: Mapping[str, Any]) -> str:
    """Hash a container spec in its Kubernetes JSON shape (e.g. ``model_dump(mode="json")``)."""
    canonical = json.dumps(
        _without_none(container), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:HASH_LENGTH]
