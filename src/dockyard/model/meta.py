"""The shared base of every resource model: field conventions, metadata and small value types.

Conventions, the same for every kind:

- Python attributes are snake_case; the wire names are Kubernetes' camelCase (``alias_generator``
  plus explicit aliases where Kubernetes capitalises an acronym: ``hostIP``, ``imageID``).
- Unknown fields are rejected (``extra="forbid"``), like ``kubectl --validate=strict``.
- Scalars are strict: ``replicas: "3"`` is an error, as it is for the Kubernetes JSON decoder.
- An explicit ``null`` means "not set", as it does in Kubernetes JSON.
- Serialised with :func:`to_dict`: camelCase, no ``None`` values and no empty plain lists/maps
  (Go's ``omitempty``). Model-valued fields are kept even when empty, because an empty
  ``selector: {}`` (everything) is not the same as no selector (nothing).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

__all__ = [
    "INVALID_ERROR",
    "IntOrString",
    "KubeModel",
    "KubeObject",
    "LabelSelector",
    "LabelSelectorRequirement",
    "ObjectMeta",
    "OwnerReference",
    "Time",
    "format_time",
    "invalid",
    "int_or_percent_value",
    "to_dict",
]

# The pydantic error type our own field validators raise; ``ctx["detail"]`` is the Kubernetes
# message, and validation.py reports it as ``<path>: Invalid value: <input>: <detail>``.
INVALID_ERROR = "k8s_invalid"


def invalid(detail: str) -> PydanticCustomError:
    return PydanticCustomError(INVALID_ERROR, "{detail}", {"detail": detail})


class KubeModel(BaseModel):
    """Base of every model: camelCase aliases, strict scalars, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        strict=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _null_means_unset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data

    @model_serializer(mode="wrap")
    def _omit_empty(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key in _empty_default_keys(type(self), bool(info.by_alias)):
            if key in data and not data[key]:
                del data[key]
        return data


@functools.cache
def _empty_default_keys(model: type[KubeModel], by_alias: bool) -> tuple[str, ...]:
    """The keys of ``model``'s plain list and map fields (omitted from its JSON when empty):
    every serialized object asks, so the answer is computed once per model."""
    return tuple(
        field.alias if by_alias and field.alias else name
        for name, field in model.model_fields.items()
        if field.default_factory in (list, dict)
    )


def _parse_time(value: Any) -> Any:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise invalid("must be an RFC 3339 date-time, e.g. 2006-01-02T15:04:05Z") from None
        value = parsed
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def format_time(value: datetime) -> str:
    """``metav1.Time`` on the wire: RFC 3339 in UTC, whole seconds (``2024-05-01T10:00:00Z``)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# metav1.Time: accepts RFC 3339 text (or a datetime), always timezone-aware, serialised as text.
Time = Annotated[
    datetime, BeforeValidator(_parse_time), PlainSerializer(format_time, return_type=str)
]


def _int_or_string(value: Any) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise invalid("must be an integer or a string")
    return value


# intstr.IntOrString: ``80`` and ``"http"`` / ``"25%"`` stay what they are.
IntOrString = Annotated[int | str, PlainValidator(_int_or_string)]


def int_or_percent_value(value: int | str | None) -> int | None:
    """``getIntOrPercentValue``: the number in ``5`` or ``"25%"``, ``None`` if not a number."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    digits = value[:-1] if value.endswith("%") else value
    return int(digits) if digits.isdigit() else None


class OwnerReference(KubeModel):
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(KubeModel):
    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: Time | None = None
    deletion_timestamp: Time | None = None
    deletion_grace_period_seconds: int | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    owner_references: list[OwnerReference] = Field(default_factory=list)
    finalizers: list[str] = Field(default_factory=list)
    # Accepted so that `kubectl get -o yaml` output can be applied again; never interpreted.
    managed_fields: list[dict[str, Any]] = Field(default_factory=list)

    def controller_ref(self) -> OwnerReference | None:
        """The owner reference with ``controller: true``, if any."""
        return next((ref for ref in self.owner_references if ref.controller), None)


class LabelSelectorRequirement(KubeModel):
    key: str
    # A plain string, so that validation can say "not a valid selector operator" like Kubernetes.
    operator: str
    values: list[str] = Field(default_factory=list)


class LabelSelector(KubeModel):
    """metav1.LabelSelector. ``None`` selects nothing; an empty selector selects everything."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)


class KubeObject(KubeModel):
    """A top-level object. Subclasses set the defaults of ``api_version`` and ``kind``."""

    api_version: str
    kind: str
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)


def to_dict(obj: KubeModel) -> dict[str, Any]:
    """The Kubernetes JSON form of a model: camelCase, no nulls, no empty plain lists/maps."""
    return obj.model_dump(mode="json", by_alias=True, exclude_none=True)
