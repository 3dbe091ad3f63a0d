"""The event catalogue: every event type, declared once, with its payload model and version.

Stored events carry ``type`` and ``schema_version``. When a payload's shape changes, its
``schema_version`` goes up and an *upcaster* (a pure function from the old dict to the next
version's dict) is registered, so events written years ago are still read as today's model.
Never change a declared payload in a way that old rows cannot be upcast to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

JsonDict = dict[str, Any]
Upcaster = Callable[[JsonDict], JsonDict]


class Payload(BaseModel):
    """Base of every event payload: immutable, unknown fields rejected when writing."""

    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=Payload)


class UnknownEventType(LookupError):
    pass


class UnreadableEvent(ValueError):
    """A stored payload that does not fit its declared model, even after upcasting."""


@dataclass(frozen=True)
class EventType(Generic[P]):
    name: str
    payload: type[P]
    schema_version: int
    description: str
    # upcasters[v] turns a version-v dict into a version-(v+1) dict.
    upcasters: Mapping[int, Upcaster] = field(default_factory=dict)

    def upcast(self, data: JsonDict, stored_version: int) -> JsonDict:
        if stored_version > self.schema_version:
            raise UnreadableEvent(
                f"{self.name} v{stored_version} was written by a newer Dockyard "
                f"(this one reads up to v{self.schema_version})"
            )
        for version in range(stored_version, self.schema_version):
            try:
                data = self.upcasters[version](data)
            except KeyError:
                raise UnreadableEvent(
                    f"{self.name}: no upcaster from schema v{version} to v{version + 1}"
                ) from None
        return data

    def decode(self, data: JsonDict, stored_version: int) -> P:
        upcast = self.upcast(data, stored_version)
        try:
            return self.payload.model_validate(upcast)
        except ValidationError as exc:
            raise UnreadableEvent(f"{self.name} v{stored_version}: {exc}") from exc

    def encode(self, payload: P) -> JsonDict:
        if not isinstance(payload, self.payload):
            raise TypeError(f"{self.name} takes {self.payload.__name__}, not {type(payload)}")
        # model_dump(mode="json", by_alias=True) minus its argument handling, about a quarter
        # of the time on an object body: appends encode one payload per event.
        data: JsonDict = payload.__pydantic_serializer__.to_python(
            payload, mode="json", by_alias=True
        )
        return data


class Catalogue:
    """A registry of event types. Dockyard's own is ``CATALOGUE`` below."""

    def __init__(self) -> None:
        self._types: dict[str, EventType[Any]] = {}

    def declare(
        self,
        name: str,
        payload: type[P],
        *,
        description: str,
        schema_version: int = 1,
        upcasters: Mapping[int, Upcaster] | None = None,
    ) -> EventType[P]:
        if name in self._types:
            raise ValueError(f"event type {name} is declared twice")
        event_type = EventType(
            name=name,
            payload=payload,
            schema_version=schema_version,
            description=description,
            upcasters=dict(upcasters or {}),
        )
        missing = [v for v in range(1, schema_version) if v not in event_type.upcasters]
        if missing:
            raise ValueError(f"{name} v{schema_version} lacks upcasters from versions {missing}")
        self._types[name] = event_type
        return event_type

    def get(self, name: str) -> EventType[Any]:
        try:
            return self._types[name]
        except KeyError:
            raise UnknownEventType(f"unknown event type {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def names(self) -> list[str]:
        return sorted(self._types)


CATALOGUE = Catalogue()
