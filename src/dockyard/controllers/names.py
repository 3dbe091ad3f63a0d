"""Generated object names and the ``pod-template-hash`` label value.

``generate_name`` is ``names.SimpleNameGenerator.GenerateName``
(staging/src/k8s.io/apiserver/pkg/storage/names/generate.go) with ``utilrand.String``
(apimachinery/pkg/util/rand/rand.go): the base cut to 58 characters plus 5 random characters
from an alphabet without vowels (no accidental words) and without ``0``, ``1`` and ``3``
(easily confused with ``o``, ``l`` and ``e``).

``pod_template_hash`` follows ``controller.ComputeHash`` (pkg/controller/controller_utils.go):
FNV-32a over the template, then the collision count as 4 little-endian bytes, then
``rand.SafeEncodeString`` of the decimal hash. One deliberate difference: Kubernetes hashes
``spew``'s dump of the Go struct, which depends on Go field order and types, so its values
cannot be reproduced from JSON. Dockyard hashes canonical JSON of the template (sorted keys, no
whitespace, UTF-8) instead. The value is stable across processes and Python versions, has the
same alphabet and length (up to 10 characters) and changes exactly when the template does, but
it is not the string Kubernetes would compute for the same template.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ALPHANUMS",
    "MAX_GENERATED_NAME_LENGTH",
    "MAX_NAME_LENGTH",
    "RANDOM_LENGTH",
    "fnv32a",
    "generate_name",
    "pod_template_hash",
    "safe_encode_string",
]

ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
MAX_NAME_LENGTH = 63
RANDOM_LENGTH = 5
MAX_GENERATED_NAME_LENGTH = MAX_NAME_LENGTH - RANDOM_LENGTH

_FNV32_OFFSET_BASIS = 0x811C9DC5
_FNV32_PRIME = 0x01000193


def generate_name(base: str, rand: random.Random) -> str:
    """``GenerateName(base)``: ``base[:58]`` + 5 characters from :data:`ALPHANUMS`."""
    if len(base) > MAX_GENERATED_NAME_LENGTH:
        base = base[:MAX_GENERATED_NAME_LENGTH]
    return base + "".join(rand.choice(ALPHANUMS) for _ in range(RANDOM_LENGTH))


def fnv32a(data: bytes, state: int = _FNV32_OFFSET_BASIS) -> int:
    """FNV-1a, 32 bits (Go ``hash/fnv.New32a``); pass ``state`` to continue a running hash."""
    for byte in data:
        state = ((state ^ byte) * _FNV32_PRIME) & 0xFFFFFFFF
    return state


def safe_encode_string(value: str) -> str:
    """``rand.SafeEncodeString``: each character mapped into :data:`ALPHANUMS` by its code."""
    return "".join(ALPHANUMS[ord(char) % len(ALPHANUMS)] for char in value)


def _canonical_json(template: Mapping[str, Any]) -> bytes:
    return json.dumps(
        template, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def pod_template_hash(template: Mapping[str, Any], collision_count: int | None = None) -> str:
    """The ``pod-template-hash`` of a PodTemplateSpec given as a JSON-compatible mapping.

    ``collision_count`` (``status.collisionCount``) is appended as ``uint32`` little-endian
    bytes when set, as ``ComputeHash`` does, so bumping it after a name collision yields a new
    hash for the same template.
    """
    state = fnv32a(_canonical_json(template))
    if collision_count is not None:
        state = fnv32a((collision_count & 0xFFFFFFFF).to_bytes(4, "little"), state)
    return safe_encode_string(str(state))
