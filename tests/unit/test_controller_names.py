"""Generated names and pod-template-hash (controllers/names.py)."""

from __future__ import annotations

import random

import pytest

from dockyard.controllers.names import (
    ALPHANUMS,
    fnv32a,
    generate_name,
    pod_template_hash,
    safe_encode_string,
)


@pytest.mark.parametrize(
    ("base", "expected_prefix"),
    [
        ("web-", "web-"),
        ("a" * 58, "a" * 58),
        ("b" * 70, "b" * 58),
        ("", ""),
    ],
)
def test_generate_name_keeps_base_cut_to_58_and_adds_five_safe_characters(
    base: str, expected_prefix: str
) -> None:
    name = generate_name(base, random.Random(7))
    assert name.startswith(expected_prefix)
    suffix = name[len(expected_prefix) :]
    assert len(suffix) == 5
    assert set(suffix) <= set(ALPHANUMS)
    assert len(name) <= 63


def test_generate_name_is_reproducible_with_a_seeded_random() -> None:
    assert generate_name("x-", random.Random(1)) == generate_name("x-", random.Random(1))


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"", 0x811C9DC5), (b"a", 0xE40C292C), (b"foobar", 0xBF9CF968)],
)
def test_fnv32a_matches_the_reference_vectors(data: bytes, expected: int) -> None:
    assert fnv32a(data) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    # '0'..'9' are 48..57; 48 % 27 = 21 → ALPHANUMS[21] = '4' …, as Go's SafeEncodeString.
    [("0123456789", "456789bcdf"), ("abc", "vwx")],
)
def test_safe_encode_string_maps_each_character_by_code(value: str, expected: str) -> None:
    assert safe_encode_string(value) == expected


TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"image": "nginx"}]}}


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        (TEMPLATE, {"spec": TEMPLATE["spec"], "metadata": TEMPLATE["metadata"]}, True),
        (TEMPLATE, {**TEMPLATE, "spec": {"containers": [{"image": "nginx:2"}]}}, False),
    ],
)
def test_pod_template_hash_depends_on_content_not_key_order(
    left: dict[str, object], right: dict[str, object], same: bool
) -> None:
    assert (pod_template_hash(left, None) == pod_template_hash(right, None)) is same


def test_pod_template_hash_changes_with_collision_count_and_uses_safe_alphabet() -> None:
    hashes = {pod_template_hash(TEMPLATE, count) for count in (None, 0, 1, 2)}
    assert len(hashes) == 4
    for value in hashes:
        assert 1 <= len(value) <= 10
        assert set(value) <= set(ALPHANUMS)
