"""The protobuf wire format, decoded by hand: varints, length-delimited bytes, fixed32/64.

Only what Kubernetes' generated messages use (proto2, no groups). Every read is bounds-checked
and a truncated or malformed buffer raises ``WireError``, never an ``IndexError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

VARINT = 0
FIXED64 = 1
LENGTH_DELIMITED = 2
FIXED32 = 5
_MAX_VARINT_BYTES = 10
_UINT64 = 1 << 64


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


class WireField(NamedTuple):
    number: int
    wire_type: int
    value: int | bytes  # int for VARINT/FIXED32/FIXED64, bytes for LENGTH_DELIMITED

    def is_zero(self) -> bool:
        """What Go's marshaller emits for an unset non-pointer field: 0, or empty bytes."""
        return self.value in (0, b"")


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The unsigned varint at ``pos`` and the position after it."""
    result = 0
    for i in range(_MAX_VARINT_BYTES):
        if pos >= len(data):
            raise WireError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if result >= _UINT64:
                raise WireError("varint overflows 64 bits")
            return result, pos
    raise WireError("varint longer than 10 bytes")


def as_signed(value: int) -> int:
    """int32/int64 fields carry negative numbers as 64-bit two's complement."""
    return value - _UINT64 if value >= 1 << 63 else value


def iter_fields(data: bytes) -> Iterator[WireField]:
    """Each field of one message, in wire order."""
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire_type = key >> 3, key & 0x7
        if number == 0:
            raise WireError("field number 0 is invalid")
        if wire_type == VARINT:
            value, pos = read_varint(data, pos)
            yield WireField(number, wire_type, value)
        elif wire_type == LENGTH_DELIMITED:
            length, pos = read_varint(data, pos)
            end = pos + length
            if end > len(data):
                raise WireError(f"field {number} claims {length} bytes past the end of the message")
            yield WireField(number, wire_type, data[pos:end])
            pos = end
        elif wire_type in (FIXED32, FIXED64):
            size = 4 if wire_type == FIXED32 else 8
            if pos + size > len(data):
                raise WireError(f"truncated fixed-width field {number}")
            yield WireField(number, wire_type, int.from_bytes(data[pos : pos + size], "little"))
            pos += size
        else:
            raise WireError(f"field {number} has unsupported wire type {wire_type}")


def packed_varints(data: bytes) -> list[int]:
    """A packed repeated varint field's values."""
    values: list[int] = []
    pos = 0
    while pos < len(data):
        value, pos = read_varint(data, pos)
        values.append(value)
    return values
