"""Building events cheaply changes nothing they contain: payload encoding and event ids."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from pydantic import Field

from dockyard.store.catalogue import Catalogue, Payload
from dockyard.store.events import time_ordered_uuid


class Shipped(Payload):
    at: datetime
    order_id: uuid.UUID = Field(alias="orderId")
    note: str | None = None
    lines: list[dict[str, int]] = Field(default_factory=list)


class ShippedLate(Shipped):
    days_late: int


def test_encode_equals_a_json_mode_model_dump() -> None:
    shipped = Catalogue().declare("Shipped", Shipped, description="test")
    payload = Shipped(
        at=datetime(2026, 11, 26, 9, 30, tzinfo=UTC),
        orderId=uuid.UUID(int=7),
        lines=[{"qty": 2}],
    )
    encoded = shipped.encode(payload)
    assert encoded == payload.model_dump(mode="json", by_alias=True, exclude_none=False)
    # JSON types only, aliases used, None kept
    assert encoded == {
        "at": "2026-11-26T09:30:00Z",
        "orderId": "00000000-0000-0000-0000-000000000007",
        "note": None,
        "lines": [{"qty": 2}],
    }


def test_encode_of_a_subclass_payload_keeps_its_own_fields() -> None:
    shipped = Catalogue().declare("Shipped", Shipped, description="test")
    late = ShippedLate(at=datetime(2026, 1, 1, tzinfo=UTC), orderId=uuid.UUID(int=1), days_late=3)
    assert shipped.encode(late)["days_late"] == 3


def test_event_ids_carry_the_current_millisecond_and_74_random_bits() -> None:
    before = time.time_ns() // 1_000_000
    ids = [time_ordered_uuid() for _ in range(200)]
    after = time.time_ns() // 1_000_000
    assert all(before <= i.int >> 80 <= after for i in ids)
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    # rand_a (12 bits) and rand_b (62 bits) both vary: no bit of either is stuck
    rand_a = {(i.int >> 64) & 0xFFF for i in ids}
    rand_b = [i.int & ((1 << 62) - 1) for i in ids]
    assert len(rand_a) > 100
    always_one = (1 << 62) - 1
    ever_one = 0
    for value in rand_b:
        always_one &= value
        ever_one |= value
    assert always_one == 0
    assert ever_one == (1 << 62) - 1
