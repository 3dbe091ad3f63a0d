"""Kubernetes resource quantities (``resource.Quantity``): ``100m``, ``0.5``, ``128Mi``, ``1e3``.

Grammar (staging/src/k8s.io/apimachinery/pkg/api/resource/quantity.go)::

    <quantity>        ::= <signedNumber><suffix>
    <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>
    <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei
    <decimalSI>       ::= m | "" | k | M | G | T | P | E      (also n and u)
    <decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber>

Values are kept exact (:class:`fractions.Fraction`). ``Value()`` and ``MilliValue()`` round up
to the next integer, as Kubernetes does, so ``0.1m`` of CPU counts as 1 millicore and ``1.5``
bytes as 2. ``1E`` is one exa; ``1E3`` is a thousand.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

__all__ = [
    "QuantityError",
    "cpu_millis",
    "memory_bytes",
    "milli_value",
    "parse_quantity",
    "value",
]

# The messages of quantity.go's ErrFormatWrong and ErrSuffix.
_FORMAT_WRONG = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
_SUFFIX_WRONG = "unable to parse quantity's suffix"

_NUMBER_RE = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?")
_SHAPE_RE = re.compile(r"[+-]?[0-9.]+[eEinumkKMGTP]*[-+]?[0-9]*")
_EXPONENT_RE = re.compile(r"[eE]([+-]?[0-9]+)")

_BINARY_SI = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL_SI = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity; the message is Kubernetes' own."""


def parse_quantity(text: str) -> Fraction:
    """``resource.ParseQuantity`` as an exact number (``"100m"`` → ``Fraction(1, 10)``)."""
    if not text:
        raise QuantityError("quantities must be non-empty")
    # Go's parser rejects surrounding whitespace as a format error as well.
    if _SHAPE_RE.fullmatch(text) is None:
        raise QuantityError(_FORMAT_WRONG)
    number = _NUMBER_RE.match(text)
    assert number is not None  # the pattern matches the empty string
    sign, whole, fraction = number.group(1), number.group(2), number.group(3)
    if not whole and not fraction:
        raise QuantityError(_FORMAT_WRONG)
    suffix = text[number.end() :]
    magnitude = Fraction(int(whole or "0"))
    if fraction:
        magnitude += Fraction(int(fraction), 10 ** len(fraction))
    return (-magnitude if sign == "-" else magnitude) * _suffix_multiplier(suffix)


def _suffix_multiplier(suffix: str) -> Fraction:
    if suffix in _BINARY_SI:
        return Fraction(_BINARY_SI[suffix])
    if suffix in _DECIMAL_SI:
        return _DECIMAL_SI[suffix]
    exponent = _EXPONENT_RE.fullmatch(suffix)
    if exponent is not None:
        power = int(exponent.group(1))
        return Fraction(10) ** power
    raise QuantityError(_SUFFIX_WRONG)


def value(quantity: Fraction) -> int:
    """``Quantity.Value()``: rounded up to an integer (away from zero for negatives too)."""
    return _round_up(quantity)


def milli_value(quantity: Fraction) -> int:
    """``Quantity.MilliValue()``: thousandths, rounded up."""
    return _round_up(quantity * 1000)


def _round_up(number: Fraction) -> int:
    # Kubernetes rounds the magnitude up (inf.RoundUp), so -1.5 becomes -2.
    magnitude = math.ceil(abs(number))
    return -magnitude if number < 0 else magnitude


def cpu_millis(text: str) -> int:
    """A CPU quantity in millicores: ``"100m"`` → 100, ``"0.5"`` → 500, ``"2"`` → 2000."""
    return milli_value(parse_quantity(text))


def memory_bytes(text: str) -> int:
    """A memory quantity in bytes: ``"128Mi"`` → 134217728, ``"1G"`` → 1000000000."""
    return value(parse_quantity(text))
