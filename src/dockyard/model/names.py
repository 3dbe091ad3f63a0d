"""Kubernetes name and label validation.

Each check is a pure function returning the list of error messages Kubernetes would return
(empty means valid), with the same limits, regular expressions and wording as
``k8s.io/apimachinery/pkg/util/validation`` (``IsQualifiedName``, ``IsValidLabelValue``,
``IsDNS1123Subdomain``, ``IsDNS1123Label``, ``IsDNS1035Label``).

Lengths are counted in UTF-8 bytes because Go's ``len(string)`` does; any non-ASCII character
fails the regular expressions anyway. ``re.fullmatch`` stands in for Go's ``^...$``, which, unlike
Python's ``$``, never matches before a trailing newline.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

__all__ = [
    "DNS1035_LABEL_MAX_LENGTH",
    "DNS1123_LABEL_MAX_LENGTH",
    "DNS1123_SUBDOMAIN_MAX_LENGTH",
    "LABEL_VALUE_MAX_LENGTH",
    "QUALIFIED_NAME_MAX_LENGTH",
    "LabelFieldError",
    "dns1035_label_errors",
    "dns1123_label_errors",
    "dns1123_subdomain_errors",
    "empty_error",
    "is_valid_label_key",
    "is_valid_label_value",
    "label_field_errors",
    "label_key_errors",
    "label_value_errors",
    "labels_errors",
    "max_len_error",
    "regex_error",
]

QUALIFIED_NAME_MAX_LENGTH = 63
LABEL_VALUE_MAX_LENGTH = 63
DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
DNS1035_LABEL_MAX_LENGTH = 63

_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_ERR_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_VALUE_FMT = "(" + _QUALIFIED_NAME_FMT + ")?"
_LABEL_VALUE_ERR_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character"
)
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_ERR_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_ERR_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character"
)
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL_ERR_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character"
)

_QUALIFIED_NAME_RE = re.compile(_QUALIFIED_NAME_FMT)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)
_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL_RE = re.compile(_DNS1035_LABEL_FMT)


def max_len_error(length: int) -> str:
    """``validation.MaxLenError``."""
    return f"must be no more than {length} characters"


def empty_error() -> str:
    """``validation.EmptyError``."""
    return "must be non-empty"


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """``validation.RegexError``: the message, the examples and the regex used."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _byte_len(value: str) -> int:
    return len(value.encode("utf-8", errors="surrogatepass"))


def _matches(pattern: re.Pattern[str], value: str) -> bool:
    return pattern.fullmatch(value) is not None


def label_key_errors(key: str) -> list[str]:
    """``IsQualifiedName``: ``[prefix/]name``, the prefix a DNS-1123 subdomain."""
    errors: list[str] = []
    parts = key.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errors.append("prefix part " + empty_error())
        else:
            errors.extend("prefix part " + msg for msg in dns1123_subdomain_errors(prefix))
    else:
        return [
            "a qualified name "
            + regex_error(
                _QUALIFIED_NAME_ERR_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc"
            )
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errors.append("name part " + empty_error())
    elif _byte_len(name) > QUALIFIED_NAME_MAX_LENGTH:
        errors.append("name part " + max_len_error(QUALIFIED_NAME_MAX_LENGTH))
    if not _matches(_QUALIFIED_NAME_RE, name):
        errors.append(
            "name part "
            + regex_error(
                _QUALIFIED_NAME_ERR_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc"
            )
        )
    return errors


def label_value_errors(value: str) -> list[str]:
    """``IsValidLabelValue``: at most 63 characters, may be empty."""
    errors: list[str] = []
    if _byte_len(value) > LABEL_VALUE_MAX_LENGTH:
        errors.append(max_len_error(LABEL_VALUE_MAX_LENGTH))
    if not _matches(_LABEL_VALUE_RE, value):
        errors.append(
            regex_error(_LABEL_VALUE_ERR_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345")
        )
    return errors


def dns1123_subdomain_errors(name: str) -> list[str]:
    """``IsDNS1123Subdomain``: most object names (at most 253 characters)."""
    errors: list[str] = []
    if _byte_len(name) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errors.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _matches(_DNS1123_SUBDOMAIN_RE, name):
        errors.append(
            regex_error(_DNS1123_SUBDOMAIN_ERR_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com")
        )
    return errors


def dns1123_label_errors(name: str) -> list[str]:
    """``IsDNS1123Label``: Namespace and Service names (at most 63 characters, no dots)."""
    errors: list[str] = []
    if _byte_len(name) > DNS1123_LABEL_MAX_LENGTH:
        errors.append(max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _matches(_DNS1123_LABEL_RE, name):
        if _matches(_DNS1123_SUBDOMAIN_RE, name):
            # A valid subdomain but not a label: the only difference left is the dots.
            errors.append("must not contain dots")
        else:
            errors.append(
                regex_error(_DNS1123_LABEL_ERR_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc")
            )
    return errors


def dns1035_label_errors(name: str) -> list[str]:
    """``IsDNS1035Label``: Service names (start with a letter, at most 63 characters)."""
    errors: list[str] = []
    if _byte_len(name) > DNS1035_LABEL_MAX_LENGTH:
        errors.append(max_len_error(DNS1035_LABEL_MAX_LENGTH))
    if not _matches(_DNS1035_LABEL_RE, name):
        errors.append(regex_error(_DNS1035_LABEL_ERR_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errors


def is_valid_label_key(key: str) -> bool:
    return not label_key_errors(key)


def is_valid_label_value(value: str) -> bool:
    return not label_value_errors(value)


class LabelFieldError(NamedTuple):
    """One label problem: ``field.Invalid(labels_path + field_suffix, value, message)``.

    ``ValidateLabels`` reports bad keys and bad values alike on the labels map field itself
    (``metadata.labels: Invalid value: "x y": ...``), so ``field_suffix`` is always ``""``; it is
    kept so callers need not change if that ever moves to ``[key]``.
    """

    field_suffix: str
    value: str
    message: str


def label_field_errors(labels: Mapping[str, str]) -> list[LabelFieldError]:
    """``ValidateLabels``: each bad key and each bad value, keys in sorted order."""
    errors: list[LabelFieldError] = []
    for key in sorted(labels):
        value = labels[key]
        errors.extend(LabelFieldError("", key, msg) for msg in label_key_errors(key))
        errors.extend(LabelFieldError("", value, msg) for msg in label_value_errors(value))
    return errors


def labels_errors(labels: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(field_suffix, message)`` pairs of :func:`label_field_errors` (suffix always ``""``).

    Use :func:`label_field_errors` when the offending key or value is needed for the
    ``Invalid value: ...`` part of the message.
    """
    return [(error.field_suffix, error.message) for error in label_field_errors(labels)]
