"""Field selectors, label selectors and ``limit``/``continue`` for lists and watches (pure)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.model import selectors
from dockyard.server.status import ApiError, bad_request

_COMMON_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
_FIELDS_BY_KIND: dict[str, frozenset[str]] = {
    "Pod": frozenset(
        {
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        }
    ),
    "Event": frozenset(
        {
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        }
    ),
    "Node": frozenset({"spec.unschedulable"}),
    "Namespace": frozenset({"status.phase"}),
    "ReplicaSet": frozenset({"status.replicas"}),
    "ReplicationController": frozenset({"status.replicas"}),
}


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    value: str
    equal: bool


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all((field_value(obj, r.field) == r.value) == r.equal for r in self.requirements)

    def exact(self, field: str) -> str | None:
        for r in self.requirements:
            if r.field == field and r.equal:
                return r.value
        return None


def field_value(obj: Mapping[str, Any], path: str) -> str:
    if path == "source":  # events: "source" means the reporting component
        source = obj.get("source") or {}
        return str(source.get("component", "")) if isinstance(source, Mapping) else ""
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def parse_field_selector(text: str, kind: str) -> FieldSelector:
    """``fields.ParseSelector`` restricted to the fields the kind supports (400 otherwise)."""
    if not text:
        return FieldSelector()
    allowed = _COMMON_FIELDS | _FIELDS_BY_KIND.get(kind, frozenset())
    requirements = []
    for term in text.split(","):
        term = term.strip()
        if not term:
            continue
        operator = next((op for op in ("!=", "==", "=") if op in term), None)
        if operator is None:
            raise bad_request(f"invalid field selector: {term!r}: expected field=value")
        name, value = term.split(operator, 1)
        equal = operator != "!="
        name = name.strip()
        if name not in allowed:
            raise bad_request(
                f"field label not supported: {name} (supported for {kind}: "
                f"{', '.join(sorted(allowed))})"
            )
        requirements.append(FieldRequirement(name, value.strip(), equal))
    return FieldSelector(tuple(requirements))


def parse_label_selector(text: str) -> selectors.Selector:
    try:
        return selectors.parse(text or "")
    except selectors.SelectorError as exc:
        raise bad_request(f'unable to parse requirement: {exc} (labelSelector "{text}")') from None


@dataclass(frozen=True)
class ContinueToken:
    """Where a paginated list resumes: after ``(namespace, name)``, at list version ``rv``."""

    resource_version: int
    namespace: str
    name: str

    def encode(self) -> str:
        raw = json.dumps({"v": 1, "rv": self.resource_version, "s": [self.namespace, self.name]})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> ContinueToken:
        try:
            padded = text + "=" * (-len(text) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            namespace, name = data["s"]
            return cls(int(data["rv"]), str(namespace), str(name))
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise bad_request(
                "continue key is not valid: it was not issued by this server"
            ) from None


def parse_limit(text: str | None) -> int | None:
    if text in (None, "", "0"):
        return None
    try:
        value = int(text)
    except ValueError:
        raise bad_request(f"limit must be a non-negative integer, not {text!r}") from None
    if value < 0:
        raise bad_request(f"limit must be a non-negative integer, not {text!r}")
    return value


def parse_resource_version(text: str | None, name: str = "resourceVersion") -> int | None:
    if text in (None, ""):
        return None
    try:
        value = int(text)
    except ValueError:
        raise ApiError(
            400, "BadRequest", f"{name} {text!r} is not a valid resource version"
        ) from None
    if value < 0:
        raise bad_request(f"{name} {text!r} is not a valid resource version")
    return value


def parse_timeout(text: str | None) -> float | None:
    if text in (None, ""):
        return None
    try:
        value = float(text)
    except ValueError:
        raise bad_request(f"timeoutSeconds must be a number of seconds, not {text!r}") from None
    if value < 0:
        raise bad_request(f"timeoutSeconds must not be negative, not {text!r}")
    return value
