"""Kubernetes protobuf request bodies, decoded into the JSON a JSON client would have sent.

kubectl's typed commands (``create namespace``, ``create deployment``, ``create service``)
send ``application/vnd.kubernetes.protobuf``: the magic ``k8s\\x00`` and a ``runtime.Unknown``
whose ``raw`` is the object's message. Decoding stops at plain JSON values so the object then
takes the one create/update path (strict validation, defaults, the event log) JSON bodies
take. Responses stay JSON: clients that list JSON among their ``Accept`` types read it;
a client accepting only protobuf gets 406.

Fields are driven by the tables in ``protobuf_schema``; a set field Dockyard does not model
is a 400 naming the message, the field number and where it sits, never silently dropped.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from dockyard.server import status as st
from dockyard.server.protobuf_fields import Field
from dockyard.server.protobuf_schema import KINDS, SCHEMA
from dockyard.server.protobuf_wire import (
    LENGTH_DELIMITED,
    VARINT,
    WireError,
    WireField,
    as_signed,
    iter_fields,
    packed_varints,
)

JsonObject = dict[str, Any]
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
_ZEROS: tuple[object, ...] = ("", 0, {}, None)


class ProtobufError(ValueError):
    """The body is not a protobuf object Dockyard can read; the message says why and where."""


class UnsupportedKind(ProtobufError):
    """A well-formed envelope around a kind Dockyard has no protobuf table for."""


def decode_body(raw: bytes) -> JsonObject:
    """A protobuf request body as a JSON object; every failure is a Status error."""
    try:
        return decode_object(raw)
    except UnsupportedKind as exc:
        raise st.ApiError(415, "UnsupportedMediaType", str(exc)) from None
    except (ProtobufError, WireError) as exc:
        message = f"the request body is not a valid Kubernetes protobuf object: {exc}"
        raise st.bad_request(message) from None


def check_accept(accept: str) -> None:
    """406 when the client can read nothing but protobuf; JSON is all Dockyard writes."""
    types = [part.split(";", 1)[0].strip().lower() for part in accept.split(",")]
    types = [media for media in types if media]
    if types and all(media == MEDIA_TYPE for media in types):
        raise st.not_acceptable(
            f"only the following media types are accepted: application/json (got {accept!r})"
        )


def decode_object(body: bytes) -> JsonObject:
    """``k8s\\x00`` + runtime.Unknown{typeMeta, raw, contentEncoding, contentType} -> object."""
    if not body.startswith(MAGIC):
        raise ProtobufError("it does not start with the k8s\\x00 prefix")
    api_version = kind = encoding = content_type = ""
    raw = b""
    for wf in iter_fields(body[len(MAGIC) :]):
        if wf.number == 1:
            for meta in iter_fields(_bytes(wf, "typeMeta")):
                if meta.number == 1:
                    api_version = _text(meta, "typeMeta.apiVersion")
                elif meta.number == 2:
                    kind = _text(meta, "typeMeta.kind")
                elif not meta.is_zero():
                    raise ProtobufError(f"TypeMeta field {meta.number} is unknown")
        elif wf.number == 2:
            raw = _bytes(wf, "raw")
        elif wf.number == 3:
            encoding = _text(wf, "contentEncoding")
        elif wf.number == 4:
            content_type = _text(wf, "contentType")
        elif not wf.is_zero():
            raise ProtobufError(f"Unknown field {wf.number} is unknown")
    if encoding:
        raise ProtobufError(f"content encoding {encoding!r} is not supported")
    if content_type not in ("", MEDIA_TYPE):
        raise ProtobufError(f"the embedded content type {content_type!r} is not protobuf")
    if not kind:
        raise ProtobufError("typeMeta.kind is empty")
    message = KINDS.get((api_version, kind))
    if message is None:
        raise UnsupportedKind(
            f"protobuf bodies of {api_version}/{kind} are not supported; send application/json"
        )
    return {"apiVersion": api_version, "kind": kind, **decode_message(raw, message, "")}


def decode_message(data: bytes, message: str, path: str) -> JsonObject:
    """One message, by its table, as the JSON object a client would send."""
    table = SCHEMA[message]
    out: JsonObject = {}
    for wf in iter_fields(data):
        field = table.get(wf.number)
        if field is None or field.kind == "unsupported":
            if wf.is_zero():  # Go writes every non-pointer field, set or not
                continue
            raise _unsupported(message, wf.number, path, field)
        where = f"{path}.{field.name}" if path else field.name
        if field.kind == "inline":
            out.update(decode_message(_bytes(wf, where), field.ref, path))
        elif field.kind in ("map_str", "map_qty"):
            key, value = _map_entry(_bytes(wf, where), field, where)
            out.setdefault(field.name, {})[key] = value
        elif field.repeated:
            items = out.setdefault(field.name, [])
            if field.kind == "int" and wf.wire_type == LENGTH_DELIMITED:
                items.extend(as_signed(v) for v in packed_varints(_bytes(wf, where)))
            else:
                items.append(_value(wf, field, f"{where}[{len(items)}]"))
        else:
            value = _value(wf, field, where)
            if (field.keep and value is not None) or value not in _ZEROS:
                out[field.name] = value
    return out


def _unsupported(message: str, number: int, path: str, field: Field | None) -> ProtobufError:
    where = path or "the object"
    if field is None:
        return ProtobufError(f"{message} field {number} (in {where}) is unknown")
    named = f"{path}.{field.name}" if path else field.name
    return ProtobufError(f"{named} ({message} field {number}) is not supported by Dockyard")


def _value(wf: WireField, field: Field, where: str) -> Any:
    kind = field.kind
    if kind == "str":
        return _text(wf, where)
    if kind == "int":
        return as_signed(_varint(wf, where))
    if kind == "bool":
        return _varint(wf, where) != 0
    if kind == "msg":
        return decode_message(_bytes(wf, where), field.ref, where)
    if kind == "qty":
        return _quantity(_bytes(wf, where), where)
    if kind == "ios":
        return _int_or_string(_bytes(wf, where), where)
    if kind == "time":
        return _time(_bytes(wf, where), where)
    if kind == "fields":
        return _fields_v1(_bytes(wf, where), where)
    raise AssertionError(f"field kind {kind!r} has no decoder")  # tables are static


def _map_entry(data: bytes, field: Field, where: str) -> tuple[str, str]:
    key = value = ""
    for wf in iter_fields(data):
        if wf.number == 1:
            key = _text(wf, f"{where} key")
        elif wf.number == 2 and field.kind == "map_str":
            value = _text(wf, f"{where}[{key}]")
        elif wf.number == 2:
            value = _quantity(_bytes(wf, where), f"{where}[{key}]")
        elif not wf.is_zero():
            raise ProtobufError(f"map entry field {wf.number} (in {where}) is unknown")
    return key, value


def _quantity(data: bytes, where: str) -> str:
    text = ""
    for wf in iter_fields(data):
        if wf.number != 1:
            raise ProtobufError(f"Quantity field {wf.number} (in {where}) is unknown")
        text = _text(wf, where)
    return text


def _int_or_string(data: bytes, where: str) -> int | str:
    kind = number = 0
    text = ""
    for wf in iter_fields(data):
        if wf.number == 1:
            kind = _varint(wf, where)
        elif wf.number == 2:
            number = as_signed(_varint(wf, where))
        elif wf.number == 3:
            text = _text(wf, where)
        elif not wf.is_zero():
            raise ProtobufError(f"IntOrString field {wf.number} (in {where}) is unknown")
    if kind not in (0, 1):
        raise ProtobufError(f"{where}: IntOrString type {kind} is neither 0 (int) nor 1 (string)")
    return text if kind == 1 else number


def _time(data: bytes, where: str) -> str | None:
    seconds = nanos = 0
    for wf in iter_fields(data):
        if wf.number == 1:
            seconds = as_signed(_varint(wf, where))
        elif wf.number == 2:
            nanos = as_signed(_varint(wf, where))
        elif not wf.is_zero():
            raise ProtobufError(f"Time field {wf.number} (in {where}) is unknown")
    if seconds == 0 and nanos == 0:
        return None  # Go's zero time, which JSON writes as null
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ProtobufError(f"{where}: {seconds} seconds is not a representable time") from None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _fields_v1(data: bytes, where: str) -> Any:
    raw = b""
    for wf in iter_fields(data):
        if wf.number != 1:
            raise ProtobufError(f"FieldsV1 field {wf.number} (in {where}) is unknown")
        raw = _bytes(wf, where)
    try:
        return json.loads(raw) if raw else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ProtobufError(f"{where} is not valid JSON") from None


def _bytes(wf: WireField, where: str) -> bytes:
    if wf.wire_type != LENGTH_DELIMITED or not isinstance(wf.value, bytes):
        raise ProtobufError(
            f"{where}: expected a length-delimited field, got wire type {wf.wire_type}"
        )
    return wf.value


def _varint(wf: WireField, where: str) -> int:
    if wf.wire_type != VARINT or not isinstance(wf.value, int):
        raise ProtobufError(f"{where}: expected a varint, got wire type {wf.wire_type}")
    return wf.value


def _text(wf: WireField, where: str) -> str:
    try:
        return _bytes(wf, where).decode("utf-8")
    except UnicodeDecodeError:
        raise ProtobufError(f"{where} is not valid UTF-8") from None
