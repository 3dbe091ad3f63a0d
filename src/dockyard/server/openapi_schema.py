"""Kubernetes-shaped OpenAPI v3 component schemas, generated from the pydantic models.

One generator for every kind, so the documents cannot drift from what the server accepts: the
properties are the models' fields under their wire (camelCase) names, ``required`` is the fields
without a default, enums come from ``Literal`` types, and the shared value types (``Time``,
``IntOrString``, ``Quantity``) are references to the schemas Kubernetes names for them. Schemas
are named as Kubernetes names them (``io.k8s.api.core.v1.Container``); a Dockyard kind outside
the Kubernetes groups gets the reversed group, as a CustomResourceDefinition does
(``dockyard.io/v1`` -> ``io.dockyard.v1.AlertRoute``).

The patch metadata Kubernetes publishes for the lists it merges by key comes from patch.py's
table (the same table the server's strategic merge patch applies), so a client computing a patch
from these documents merges exactly as the server does. Descriptions come from a ``Field``
description when a model has one, else from openapi_text.py.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from dockyard.model import meta, pod
from dockyard.server import openapi_text
from dockyard.server.openapi_models import NAMES as DOC_MODEL_NAMES
from dockyard.server.patch import _MERGE_KEYS as MERGE_KEYS

JsonObject = dict[str, Any]

META = "io.k8s.apimachinery.pkg.apis.meta.v1"
CORE = "io.k8s.api.core.v1"
REF_PREFIX = "#/components/schemas/"
TIME = f"{META}.Time"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"

# The value types Kubernetes publishes as their own (non-object) schemas.
SCALAR_SCHEMAS: dict[str, JsonObject] = {
    TIME: {"type": "string", "format": "date-time"},
    INT_OR_STRING: {"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]},
    QUANTITY: {"oneOf": [{"type": "string"}, {"type": "number"}]},
}
_SCALAR_ALIASES: list[tuple[Any, str]] = [
    (meta.Time, TIME),
    (meta.IntOrString, INT_OR_STRING),
    (pod.Quantity, QUANTITY),
]

_MODULE_PREFIXES = {
    "dockyard.model.meta": META,
    "dockyard.model.pod": CORE,
    "dockyard.model.cluster": CORE,
    "dockyard.model.workloads": "io.k8s.api.apps.v1",
}
# workloads.py also holds these core/v1 types.
_CORE_IN_WORKLOADS = ("PodTemplateSpec", "ReplicationController")

# One model serving several Kubernetes types: the name depends on where it is used.
_FIELD_TYPE_NAMES: dict[tuple[str, str], str] = {
    ("EnvVarSource", "configMapKeyRef"): f"{CORE}.ConfigMapKeySelector",
    ("EnvVarSource", "secretKeyRef"): f"{CORE}.SecretKeySelector",
    ("EnvFromSource", "configMapRef"): f"{CORE}.ConfigMapEnvSource",
    ("EnvFromSource", "secretRef"): f"{CORE}.SecretEnvSource",
    ("PodStatus", "hostIPs"): f"{CORE}.HostIP",
    ("ServiceStatus", "conditions"): f"{META}.Condition",
    ("DaemonSetStatus", "conditions"): "io.k8s.api.apps.v1.DaemonSetCondition",
    ("ReplicationControllerStatus", "conditions"): f"{CORE}.ReplicationControllerCondition",
}
# Patch strategies besides the keyed-list merges (types.go ``patchStrategy`` tags).
_STRATEGIES: dict[tuple[str, str], str] = {
    ("PodSpec", "volumes"): "merge,retainKeys",
    ("DeploymentSpec", "strategy"): "retainKeys",
}
_INT64 = frozenset(
    {
        "generation",
        "observedGeneration",
        "deletionGracePeriodSeconds",
        "terminationGracePeriodSeconds",
        "activeDeadlineSeconds",
        "tolerationSeconds",
        "sizeBytes",
        "gracePeriodSeconds",
        "remainingItemCount",
    }
)


def group_prefix(group: str, version: str) -> str:
    """Where Kubernetes puts a group's types: ``io.k8s.api.apps.v1``, ``io.dockyard.v1``."""
    if not group:
        return f"io.k8s.api.core.{version}"
    if "." not in group:
        return f"io.k8s.api.{group}.{version}"
    if group.endswith(".k8s.io"):
        return f"io.k8s.api.{group.split('.')[0]}.{version}"
    return ".".join([*reversed(group.split(".")), version])


def ref(name: str) -> JsonObject:
    return {"$ref": REF_PREFIX + name}


class SchemaSet:
    """Component schemas collected from models, by Kubernetes name (a pure builder)."""

    def __init__(self) -> None:
        self.schemas: dict[str, JsonObject] = {}
        self._models: dict[str, type[BaseModel]] = {}

    def add_kind(
        self, model: type[BaseModel], group: str, version: str, kind: str, *, list_kind: bool
    ) -> str:
        """The schema of a kind (and of its ``<Kind>List``); returns the kind's schema name."""
        prefix = group_prefix(group, version)
        name = self._model(model, self._name(model, prefix), prefix)
        gvk = {"group": group, "kind": kind, "version": version}
        self.schemas[name]["x-kubernetes-group-version-kind"] = [gvk]
        if list_kind:
            self._list(name, gvk)
        return name

    def add_model(self, model: type[BaseModel], name: str) -> str:
        """A non-kind type under an explicit name (``Status``, ``DeleteOptions``)."""
        return self._model(model, name, name.rsplit(".", 1)[0])

    def add_scalars(self) -> None:
        for name, schema in SCALAR_SCHEMAS.items():
            short = name.rsplit(".", 1)[1]
            self.schemas[name] = {"description": openapi_text.type_description(short), **schema}

    def closure(self, roots: list[str]) -> dict[str, JsonObject]:
        """The schemas reachable from ``roots`` (what one group-version document needs)."""
        seen: dict[str, JsonObject] = {}
        pending = list(roots)
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen[name] = self.schemas[name]
            pending.extend(_refs(self.schemas[name]))
        return dict(sorted(seen.items()))

    # --- models ---------------------------------------------------------------------------

    def _name(self, model: type[BaseModel], prefix: str) -> str:
        explicit = DOC_MODEL_NAMES.get(model)
        if explicit:
            return explicit
        module_prefix = _MODULE_PREFIXES.get(model.__module__, prefix)
        if model.__module__ == "dockyard.model.workloads" and model.__name__.startswith(
            _CORE_IN_WORKLOADS
        ):
            module_prefix = CORE
        return f"{module_prefix}.{model.__name__}"

    def _model(self, model: type[BaseModel], name: str, prefix: str) -> str:
        known = self._models.get(name)
        if known is model:
            return name
        if known is not None:
            raise ValueError(f"two models are named {name}: {known!r} and {model!r}")
        self._models[name] = model
        self.schemas[name] = {}  # placeholder: recursive types terminate
        hints = typing.get_type_hints(model, include_extras=True)
        properties: JsonObject = {}
        required: list[str] = []
        for attribute, field in model.model_fields.items():
            wire = field.alias or attribute
            properties[wire] = self._property(model, wire, hints[attribute], field, prefix)
            if field.is_required():
                required.append(wire)
        schema: JsonObject = {
            "description": openapi_text.type_description(name.rsplit(".", 1)[1], model),
            "type": "object",
            "properties": dict(sorted(properties.items())),
        }
        if required:
            schema["required"] = required
        self.schemas[name] = schema
        return name

    def _list(self, item_name: str, gvk: dict[str, str]) -> None:
        kind = gvk["kind"]
        list_name = f"{item_name}List"
        self.schemas[list_name] = {
            "description": f"{kind}List is a list of {kind} objects.",
            "type": "object",
            "properties": {
                "apiVersion": {
                    "description": openapi_text.COMMON["apiVersion"],
                    "type": "string",
                },
                "items": {
                    "description": f"List of {kind} objects.",
                    "type": "array",
                    "items": {"allOf": [ref(item_name)], "default": {}},
                },
                "kind": {"description": openapi_text.COMMON["kind"], "type": "string"},
                "metadata": {
                    "allOf": [ref(f"{META}.ListMeta")],
                    "default": {},
                    "description": openapi_text.COMMON["listMetadata"],
                },
            },
            "required": ["items"],
            "x-kubernetes-group-version-kind": [{**gvk, "kind": f"{kind}List"}],
        }

    def _property(
        self, owner: type[BaseModel], wire: str, hint: Any, field: FieldInfo, prefix: str
    ) -> JsonObject:
        override = _FIELD_TYPE_NAMES.get((owner.__name__, wire))
        schema = self._type(hint, prefix, override, wire)
        if "$ref" in schema:
            schema = {"allOf": [schema]}
            if field.default_factory is not None:
                schema["default"] = {}
        schema["description"] = field.description or openapi_text.field_description(owner, wire)
        schema.update(_patch_metadata(owner.__name__, wire, hint))
        return schema

    def _type(self, hint: Any, prefix: str, override: str | None, wire: str) -> JsonObject:
        hint = _without_none(hint)
        for alias, name in _SCALAR_ALIASES:
            if hint == alias:
                return ref(name)
        origin = get_origin(hint)
        if origin is typing.Annotated:
            return self._type(get_args(hint)[0], prefix, override, wire)
        if origin is Literal:
            values = list(get_args(hint))
            return {"type": _json_type(type(values[0])), "enum": values}
        if origin is list:
            item = self._type(get_args(hint)[0], prefix, override, wire)
            items = {"allOf": [item], "default": {}} if "$ref" in item else item
            return {"type": "array", "items": items}
        if origin is dict:
            value = get_args(hint)[1]
            if value is Any or value is object:
                return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            return {
                "type": "object",
                "additionalProperties": self._type(value, prefix, override, wire),
            }
        if isinstance(hint, type) and issubclass(hint, BaseModel):
            name = override or self._name(hint, prefix)
            return ref(self._model(hint, name, prefix))
        if hint is Any:
            return {"x-kubernetes-preserve-unknown-fields": True}
        schema: JsonObject = {"type": _json_type(hint)}
        if hint is int:
            schema["format"] = "int64" if wire in _INT64 else "int32"
        return schema


def _without_none(hint: Any) -> Any:
    if get_origin(hint) in (Union, types.UnionType):
        rest = [arg for arg in get_args(hint) if arg is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return hint


def _json_type(python_type: Any) -> str:
    types_by_python = {str: "string", bool: "boolean", int: "integer", float: "number"}
    if python_type not in types_by_python:
        raise TypeError(f"no OpenAPI type for {python_type!r}")
    return types_by_python[python_type]


def _list_item_fields(hint: Any) -> set[str]:
    hint = _without_none(hint)
    if get_origin(hint) is not list:
        return set()
    item = get_args(hint)[0]
    if isinstance(item, type) and issubclass(item, BaseModel):
        return {field.alias or name for name, field in item.model_fields.items()}
    return set()


def _patch_metadata(owner: str, wire: str, hint: Any) -> JsonObject:
    """The ``x-kubernetes-patch-*`` / ``x-kubernetes-list-*`` of one field."""
    extra: JsonObject = {}
    strategy = _STRATEGIES.get((owner, wire))
    if get_origin(_without_none(hint)) is list:
        item_fields = _list_item_fields(hint)
        if wire == "ports":  # container ports merge by containerPort, Service ports by port
            key: str | None = "containerPort" if "containerPort" in item_fields else "port"
        else:
            key = MERGE_KEYS.get(wire, "")
        if key is None and wire in MERGE_KEYS:  # a primitive list merged as a set
            extra = {"x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"}
        elif key and key in item_fields:
            keys = [key, "protocol"] if wire == "ports" and "protocol" in item_fields else [key]
            extra = {
                "x-kubernetes-list-map-keys": keys,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": key,
                "x-kubernetes-patch-strategy": strategy or "merge",
            }
            return extra
    if strategy:
        extra["x-kubernetes-patch-strategy"] = strategy
    return extra


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [
            value["$ref"].removeprefix(REF_PREFIX)
            for key in ("$ref",)
            if isinstance(value.get(key), str)
        ]
        for child in value.values():
            found.extend(_refs(child))
        return found
    if isinstance(value, list):
        return [name for item in value for name in _refs(item)]
    return []
