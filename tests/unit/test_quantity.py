"""Kubernetes resource quantities (model/quantity.py)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from dockyard.model.quantity import (
    QuantityError,
    cpu_millis,
    memory_bytes,
    parse_quantity,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100m", Fraction(1, 10)),
        ("0.5", Fraction(1, 2)),
        ("1", Fraction(1)),
        ("+2", Fraction(2)),
        ("-1.5", Fraction(-3, 2)),
        (".5", Fraction(1, 2)),
        ("5.", Fraction(5)),
        ("128Mi", Fraction(128 * 2**20)),
        ("1Ki", Fraction(1024)),
        ("2Gi", Fraction(2 * 2**30)),
        ("1Ei", Fraction(2**60)),
        ("1k", Fraction(1000)),
        ("1G", Fraction(10**9)),
        ("1E", Fraction(10**18)),
        ("1e3", Fraction(1000)),
        ("1E3", Fraction(1000)),
        ("5e-3", Fraction(5, 1000)),
        ("1.5e+2", Fraction(150)),
        ("10n", Fraction(10, 10**9)),
        ("3u", Fraction(3, 10**6)),
    ],
)
def test_parse_quantity(text: str, expected: Fraction) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "quantities must be non-empty"),
        ("abc", "quantities must match the regular expression"),
        (" 1", "quantities must match the regular expression"),
        ("1 ", "quantities must match the regular expression"),
        ("1Zi", "quantities must match the regular expression"),
        ("1e", "unable to parse quantity's suffix"),
        ("1KiB", "quantities must match the regular expression"),
        ("1mk", "unable to parse quantity's suffix"),
        (".", "quantities must match the regular expression"),
    ],
)
def test_parse_quantity_rejects_with_kubernetes_message(text: str, message: str) -> None:
    with pytest.raises(QuantityError, match=message.replace("(", r"\(")):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("text", "millis"),
    [("100m", 100), ("0.5", 500), ("1", 1000), ("2", 2000), ("0.1m", 1), ("1e3", 1_000_000)],
)
def test_cpu_millis_rounds_up(text: str, millis: int) -> None:
    assert cpu_millis(text) == millis


@pytest.mark.parametrize(
    ("text", "size"),
    [("128Mi", 134_217_728), ("1G", 1_000_000_000), ("1.5", 2), ("1e3", 1000), ("500m", 1)],
)
def test_memory_bytes_rounds_up(text: str, size: int) -> None:
    assert memory_bytes(text) == size
