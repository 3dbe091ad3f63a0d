"""Apply manifests: every document validated first, then all written in one transaction.

A file with one broken document appends nothing at all: the errors name each document and
field, and the log is untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from dockyard.model.kinds import UnknownKind
from dockyard.model.manifests import Document
from dockyard.model.meta import to_dict
from dockyard.model.validation import InvalidObject, parse_object
from dockyard.store.writer import Actor, JsonObject, ObjectKey, ObjectWriter

Outcome = Literal["created", "configured", "unchanged"]


class ManifestRejected(ValueError):
    """One or more documents are invalid; nothing was written."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Applied:
    key: ObjectKey
    outcome: Outcome
    object: JsonObject


def validate_documents(documents: Sequence[Document]) -> list[JsonObject]:
    """Parse, default and validate every document; raise with all problems at once."""
    bodies: list[JsonObject] = []
    problems: list[str] = []
    for document in documents:
        try:
            bodies.append(to_dict(parse_object(document.data)))
        except (InvalidObject, UnknownKind) as exc:
            problems.append(f"{document.source}: {exc}")
    if problems:
        raise ManifestRejected(problems)
    return bodies


def apply_documents(
    writer: ObjectWriter, documents: Sequence[Document], *, actor: Actor
) -> list[Applied]:
    bodies = validate_documents(documents)
    results: list[Applied] = []
    with writer.store.engine.begin() as conn:
        for body in bodies:
            key = ObjectKey.of(body)
            current = writer.get(key, conn=conn)
            if current is None:
                stored = writer.create_in(conn, body, actor=actor, verb="create")
                results.append(Applied(key, "created", stored))
                continue
            stored = writer.update_in(conn, _without_version(body), actor=actor, verb="apply")
            changed = int(stored["metadata"]["resourceVersion"]) != current.resource_version
            results.append(Applied(key, "configured" if changed else "unchanged", stored))
    return results


def _without_version(body: JsonObject) -> dict[str, Any]:
    # apply is "make it so": it does not carry a resourceVersion to compare.
    meta = dict(body.get("metadata") or {})
    meta.pop("resourceVersion", None)
    return {**body, "metadata": meta}
