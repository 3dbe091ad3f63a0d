"""Kubernetes-style validation and the one entry point that turns a manifest dict into an object.

``parse_object(data)`` = decode (pydantic, strict, unknown fields rejected) -> ``apply_defaults``
-> :func:`validate`, as the API server does. Every problem, whether found by the decoder or by
validation, is a :class:`FieldError` with the Kubernetes field path and wording
(``spec.template.spec.containers[0].image: Required value``), checked in the order of
pkg/apis/core/validation and pkg/apis/apps/validation. The rules per kind live in
validation_pod.py (pod specs) and validation_workloads.py (controllers, Service, Node, Namespace);
a later kind adds its own with :func:`register_validator`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, get_args, get_origin

from pydantic import BaseModel, ValidationError

from dockyard.model import names
from dockyard.model.kinds import DEFAULT_NAMESPACE, apply_defaults, info_for, kind_for
from dockyard.model.meta import INVALID_ERROR, KubeObject, ObjectMeta

__all__ = [
    "DUPLICATE",
    "FORBIDDEN",
    "INVALID",
    "NOT_FOUND",
    "REQUIRED",
    "TOO_LONG",
    "UNKNOWN_FIELD",
    "UNSUPPORTED",
    "FieldError",
    "InvalidObject",
    "child",
    "decode",
    "decoding_errors",
    "duplicate",
    "forbidden",
    "invalid",
    "key",
    "labels_errors",
    "nonnegative",
    "not_found",
    "not_supported",
    "object_meta_errors",
    "parse_object",
    "register_validator",
    "required",
    "validate",
]

REQUIRED: Final = "Required value"
INVALID: Final = "Invalid value"
UNSUPPORTED: Final = "Unsupported value"
FORBIDDEN: Final = "Forbidden"
DUPLICATE: Final = "Duplicate value"
NOT_FOUND: Final = "Not found"
TOO_LONG: Final = "Too long"
# Not a field.ErrorType: the strict decoder's `unknown field "spec.x"` (kubectl --validate=strict).
UNKNOWN_FIELD: Final = "Unknown field"

_CAUSE_TYPES = {
    REQUIRED: "FieldValueRequired",
    INVALID: "FieldValueInvalid",
    UNSUPPORTED: "FieldValueNotSupported",
    FORBIDDEN: "FieldValueForbidden",
    DUPLICATE: "FieldValueDuplicate",
    NOT_FOUND: "FieldValueNotFound",
    TOO_LONG: "FieldValueTooLong",
    UNKNOWN_FIELD: "FieldValueUnknown",
}
# Kinds whose message never shows the bad value (field.Error.ErrorBody).
_VALUELESS = {REQUIRED, FORBIDDEN, TOO_LONG, UNKNOWN_FIELD}


def _go_value(value: Any) -> str:
    """The bad value as Go's ``%q`` / ``%v`` / ``%#v`` would print it in ``field.Error``."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, BaseModel):  # a struct: shown as its JSON form
        value = value.model_dump(mode="json", by_alias=True, exclude_none=True)
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values()):
        body = ",".join(f"{json.dumps(k)}:{json.dumps(value[k])}" for k in sorted(value))
        return f"map[string]string{{{body}}}"
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


@dataclass(frozen=True)
class FieldError:
    """``field.Error``: ``path`` like ``spec.containers[0].image``, ``kind`` like REQUIRED."""

    path: str
    kind: str
    value: Any = None
    detail: str = ""

    def body(self) -> str:
        """``ErrorBody()``: the message without the path."""
        text = self.kind if self.kind in _VALUELESS else f"{self.kind}: {_go_value(self.value)}"
        return f"{text}: {self.detail}" if self.detail else text

    @property
    def cause_type(self) -> str:
        """The ``StatusCause.reason`` the API server reports (``FieldValueRequired`` ...)."""
        return _CAUSE_TYPES.get(self.kind, "FieldValueInvalid")

    def __str__(self) -> str:
        if self.kind == UNKNOWN_FIELD:
            return f'unknown field "{self.path}"'
        return f"{self.path}: {self.body()}" if self.path else self.body()


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(path, REQUIRED, detail=detail)


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(path, INVALID, value, detail)


def not_supported(path: str, value: Any, supported: Sequence[str]) -> FieldError:
    values = ", ".join(json.dumps(v) for v in supported)
    return FieldError(path, UNSUPPORTED, value, f"supported values: {values}")


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError(path, FORBIDDEN, detail=detail)


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError(path, DUPLICATE, value)


def not_found(path: str, value: Any) -> FieldError:
    return FieldError(path, NOT_FOUND, value)


def child(path: str, *parts: str | int) -> str:
    """``field.Path.Child`` / ``.Index``: ``child("spec", "containers", 0)``."""
    for part in parts:
        if isinstance(part, int):
            path = f"{path}[{part}]"
        else:
            path = f"{path}.{part}" if path else part
    return path


def key(path: str, map_key: str) -> str:
    """``field.Path.Key``: ``spec.nodeSelector[disk]``."""
    return f"{path}[{map_key}]"


class InvalidObject(ValueError):
    """An object that failed decoding or validation; ``str()`` is kubectl's message."""

    def __init__(self, kind: str, name: str, errors: Sequence[FieldError], *, group: str = ""):
        self.kind = kind
        self.name = name
        self.group = group
        self.errors = list(errors)
        prefix = f'The {kind or "object"} "{name}" is invalid: '
        if len(self.errors) == 1:
            message = prefix + str(self.errors[0])
        else:
            message = prefix + "".join(f"\n* {error}" for error in self.errors)
        super().__init__(message)

    @property
    def status_message(self) -> str:
        """The API server's ``Status.message``: ``Deployment.apps "web" is invalid: ...``."""
        qualified = f"{self.kind}.{self.group}" if self.group else self.kind
        shown = [str(error) for error in self.errors]
        errors = shown[0] if len(shown) == 1 else "[" + ", ".join(shown) + "]"
        return f'{qualified} "{self.name}" is invalid: {errors}'


# --- common checks -----------------------------------------------------------------------------


def nonnegative(path: str, value: int | None) -> list[FieldError]:
    """``ValidateNonnegativeField``."""
    if value is not None and value < 0:
        return [invalid(path, value, "must be greater than or equal to 0")]
    return []


def labels_errors(labels: Mapping[str, str], path: str) -> list[FieldError]:
    """``ValidateLabels``: bad keys and values, reported on the map itself."""
    return [invalid(path, e.value, e.message) for e in names.label_field_errors(labels)]


def _annotations_errors(annotations: Mapping[str, str], path: str) -> list[FieldError]:
    errors = [
        invalid(path, annotation, message)
        for annotation in annotations
        for message in names.label_key_errors(annotation.lower())
    ]
    total = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
    if total > 256 * 1024:
        errors.append(FieldError(path, TOO_LONG, detail=f"must have at most {256 * 1024} bytes"))
    return errors


_NAME_RULES: dict[str, Callable[[str], list[str]]] = {
    "dns1123-subdomain": names.dns1123_subdomain_errors,
    "dns1123-label": names.dns1123_label_errors,
    "dns1035-label": names.dns1035_label_errors,
}


def object_meta_errors(
    meta: ObjectMeta, *, namespaced: bool, name_rule: str, path: str = "metadata"
) -> list[FieldError]:
    """``ValidateObjectMeta``."""
    errors: list[FieldError] = []
    rule = _NAME_RULES[name_rule]
    if meta.generate_name:
        # A prefix may end in '-': mask it as NameIsDNSSubdomain(name, prefix=true) does.
        masked = meta.generate_name[:-1] + "a" if meta.generate_name.endswith("-") else None
        for message in rule(masked or meta.generate_name):
            errors.append(invalid(child(path, "generateName"), meta.generate_name, message))
    if not meta.name:
        if not meta.generate_name:
            errors.append(required(child(path, "name"), "name or generateName is required"))
    else:
        errors.extend(invalid(child(path, "name"), meta.name, m) for m in rule(meta.name))
    if namespaced:
        if not meta.namespace:
            errors.append(required(child(path, "namespace")))
        else:
            errors.extend(
                invalid(child(path, "namespace"), meta.namespace, message)
                for message in names.dns1123_label_errors(meta.namespace)
            )
    elif meta.namespace:
        errors.append(forbidden(child(path, "namespace"), "not allowed on this type"))
    errors.extend(nonnegative(child(path, "generation"), meta.generation))
    errors.extend(labels_errors(meta.labels, child(path, "labels")))
    errors.extend(_annotations_errors(meta.annotations, child(path, "annotations")))
    controllers = [ref for ref in meta.owner_references if ref.controller]
    if len(controllers) > 1:
        shown = " and ".join(f"{ref.kind}/{ref.name}" for ref in controllers)
        errors.append(
            invalid(
                child(path, "ownerReferences"),
                [ref.name for ref in controllers],
                f'Only one reference can have Controller set to true. Found "true" in '
                f"references for {shown}",
            )
        )
    return errors


# --- dispatch ----------------------------------------------------------------------------------

Validator = Callable[[Any], list[FieldError]]
_VALIDATORS: dict[type[KubeObject], Validator] = {}
_builtin_rules_loaded = False


def _load_builtin_rules() -> None:
    """Register the rules of the built-in kinds on first use. Done lazily because the rule
    modules import this one for FieldError and its helpers."""
    global _builtin_rules_loaded
    if _builtin_rules_loaded:
        return
    _builtin_rules_loaded = True
    from dockyard.model import validation_pod, validation_workloads

    validation_pod.register()
    validation_workloads.register()


def register_validator(model: type[KubeObject], validator: Validator) -> None:
    """Add the spec rules of a kind (metadata rules come from the registry entry)."""
    _VALIDATORS[model] = validator


def validate(obj: KubeObject) -> list[FieldError]:
    """Every validation error of a (defaulted) object, in Kubernetes order; empty means valid."""
    _load_builtin_rules()
    info = info_for(obj)
    errors = object_meta_errors(obj.metadata, namespaced=info.namespaced, name_rule=info.name_rule)
    validator = _VALIDATORS.get(type(obj))
    if validator is not None:
        errors.extend(validator(obj))
    return errors


# --- decoding ----------------------------------------------------------------------------------

_TYPE_DETAILS = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "string_type": "must be a string",
    "bool_type": "must be a boolean",
    "float_type": "must be a number",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "datetime_type": "must be an RFC 3339 date-time",
}


def _unwrap(annotation: Any) -> Any:
    """The interesting type inside ``X | None`` / ``Annotated[X, ...]``."""
    while True:
        metadata = getattr(annotation, "__metadata__", None)
        if metadata is not None:
            annotation = get_args(annotation)[0]
            continue
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if get_origin(annotation) not in (list, dict) and len(args) == 1:
            annotation = args[0]
            continue
        return annotation


def _loc_path(model: type[BaseModel], loc: Sequence[int | str]) -> str:
    """pydantic's ``('spec', 'containers', 0, 'image')`` -> ``spec.containers[0].image``;
    map keys render as ``[key]`` (``metadata.labels[app]``)."""
    path = ""
    current: Any = model
    for item in loc:
        current = _unwrap(current)
        if isinstance(item, int):
            path = child(path, item)
            args = get_args(current)
            current = args[0] if get_origin(current) is list and args else Any
        elif isinstance(current, type) and issubclass(current, BaseModel):
            field = next((f for n, f in current.model_fields.items() if item in (n, f.alias)), None)
            path = child(path, item)
            current = field.annotation if field is not None else Any
        elif get_origin(current) is dict:
            path = key(path, item)
            current = get_args(current)[1]
        else:
            path = child(path, item)
            current = Any
    return path


def decoding_errors(model: type[BaseModel], error: ValidationError) -> list[FieldError]:
    """pydantic's errors as Kubernetes field errors."""
    result: list[FieldError] = []
    for item in error.errors(include_url=False):
        path = _loc_path(model, item["loc"])
        kind, value = item["type"], item.get("input")
        if kind == "missing":
            result.append(required(path))
        elif kind == "extra_forbidden":
            result.append(FieldError(path, UNKNOWN_FIELD))
        elif kind == "literal_error":
            expected = str(item.get("ctx", {}).get("expected", ""))
            result.append(not_supported(path, value, re.findall(r"'([^']*)'", expected)))
        elif kind == INVALID_ERROR:
            result.append(invalid(path, value, str(item.get("ctx", {}).get("detail", ""))))
        elif kind in _TYPE_DETAILS:
            result.append(invalid(path, value, _TYPE_DETAILS[kind]))
        else:
            message = item["msg"].removeprefix("Value error, ")
            result.append(invalid(path, value, message[:1].lower() + message[1:]))
    return result


def _name_of(data: Mapping[str, Any]) -> str:
    metadata = data.get("metadata")
    if isinstance(metadata, Mapping):
        name = metadata.get("name") or metadata.get("generateName") or ""
        return name if isinstance(name, str) else ""
    return ""


def decode(data: Mapping[str, Any]) -> KubeObject:
    """The object for a manifest dict, without defaults or validation.

    Raises :class:`~dockyard.model.kinds.UnknownKind` for an unregistered apiVersion/kind and
    :class:`InvalidObject` for anything the decoder rejects (unknown fields, wrong types).
    """
    if not isinstance(data, Mapping):
        raise InvalidObject("", "", [invalid("", type(data).__name__, "must be an object")])
    api_version, kind = data.get("apiVersion"), data.get("kind")
    missing = [
        required(name)
        for name, value in (("apiVersion", api_version), ("kind", kind))
        if not isinstance(value, str) or not value
    ]
    if missing:
        raise InvalidObject(kind if isinstance(kind, str) else "", _name_of(data), missing)
    assert isinstance(api_version, str) and isinstance(kind, str)
    info = kind_for(api_version, kind)
    try:
        return info.model.model_validate(dict(data))
    except ValidationError as error:
        errors = decoding_errors(info.model, error)
        raise InvalidObject(kind, _name_of(data), errors, group=info.group) from None


def parse_object(data: Mapping[str, Any], *, namespace: str = DEFAULT_NAMESPACE) -> KubeObject:
    """Decode, default and validate a manifest dict, as the API server does on create.

    ``namespace`` is given to namespaced objects that do not name one. Raises ``UnknownKind``
    or :class:`InvalidObject` (all errors of the object, each naming its field).
    """
    obj = apply_defaults(decode(data), namespace=namespace)
    errors = validate(obj)
    if errors:
        info = info_for(obj)
        name = obj.metadata.name or obj.metadata.generate_name or ""
        raise InvalidObject(info.kind, name, errors, group=info.group)
    return obj
