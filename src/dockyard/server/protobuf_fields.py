"""Field-table vocabulary for the protobuf decoder (see ``protobuf_schema``).

A ``Field`` says how one field number of a Kubernetes protobuf message maps onto the JSON a
client would send: its JSON name, its kind, and ``keep`` for Go *pointer* fields. Go's
marshaller writes every non-pointer field, set or not, so a zero value ("", 0, false, an empty
message) of a non-pointer field means "unset" and is dropped, as JSON's ``omitempty`` would;
a pointer field is only written when set, so its zero is meaningful and kept
(``replicas: 0``, ``emptyDir: {}``).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

Kind = Literal[
    "str",  # string
    "int",  # int32 / int64
    "bool",
    "msg",  # a nested message (``ref`` names its table)
    "inline",  # an embedded Go struct: its fields appear in the parent's JSON object
    "map_str",  # map<string, string>
    "map_qty",  # map<string, resource.Quantity>
    "qty",  # resource.Quantity, a string in JSON
    "ios",  # intstr.IntOrString
    "time",  # meta.v1.Time, an RFC 3339 string in JSON
    "fields",  # meta.v1.FieldsV1, raw JSON bytes
    "unsupported",  # a Kubernetes field Dockyard does not model: rejected when set
]


class Field(NamedTuple):
    name: str
    kind: Kind
    ref: str = ""
    repeated: bool = False
    keep: bool = False


Table = dict[int, Field]


def s(name: str, *, rep: bool = False, keep: bool = False) -> Field:
    return Field(name, "str", repeated=rep, keep=keep)


def i(name: str, *, rep: bool = False, keep: bool = False) -> Field:
    return Field(name, "int", repeated=rep, keep=keep)


def b(name: str, *, keep: bool = False) -> Field:
    return Field(name, "bool", keep=keep)


def m(name: str, ref: str, *, rep: bool = False, keep: bool = False) -> Field:
    return Field(name, "msg", ref, repeated=rep, keep=keep)


def inline(ref: str) -> Field:
    return Field("", "inline", ref)


def labels(name: str) -> Field:
    return Field(name, "map_str")


def quantities(name: str) -> Field:
    return Field(name, "map_qty")


def qty(name: str, *, keep: bool = False) -> Field:
    return Field(name, "qty", keep=keep)


def ios(name: str, *, keep: bool = False) -> Field:
    return Field(name, "ios", keep=keep)


def time(name: str) -> Field:
    return Field(name, "time")


def unsupported(name: str) -> Field:
    return Field(name, "unsupported")
