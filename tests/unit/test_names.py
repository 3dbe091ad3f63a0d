"""Kubernetes name and label validation: limits, regexes and message texts."""

from __future__ import annotations

import pytest

from dockyard.model.names import (
    LabelFieldError,
    dns1035_label_errors,
    dns1123_label_errors,
    dns1123_subdomain_errors,
    label_field_errors,
    label_key_errors,
    label_value_errors,
    labels_errors,
    regex_error,
)

NAME_PART_REGEX_ERROR = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used "
    "for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_REGEX_ERROR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
SUBDOMAIN_REGEX_ERROR = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
DNS1123_LABEL_REGEX_ERROR = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_LABEL_REGEX_ERROR = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


@pytest.mark.parametrize(
    "key",
    [
        # apimachinery validation_test.go TestIsQualifiedName good cases
        "simple",
        "now-with-dashes",
        "1-starts-with-num",
        "1234",
        "simple/simple",
        "now-with-dashes/simple",
        "now-with-dashes/now-with-dashes",
        "now.with.dots/now-with-dashes",
        "now-with.dashes-and.dots/now_with.dashes-and_dots",
        "1-num.2-num/3-num",
        "1234/5678",
        "1.2.3.4/5678",
        "Uppercase_Is_OK_123",
        "example.com/Uppercase_Is_OK_123",
        "requests.storage-foo",
        "a" * 63,
        "a" * 253 + "/" + "b" * 63,
    ],
)
def test_valid_label_keys(key: str) -> None:
    assert label_key_errors(key) == []


@pytest.mark.parametrize(
    "key",
    [
        # apimachinery validation_test.go TestIsQualifiedName bad cases
        "nospecialchars%^=@",
        "cantendwithadash-",
        "-cantstartwithadash-",
        "only/one/slash",
        "Example.com/abc",
        "example_com/abc",
        "example.com/",
        "/simple",
        "a" * 64,
        "a" * 254 + "/abc",
        "simple\n",
    ],
)
def test_invalid_label_keys(key: str) -> None:
    assert label_key_errors(key) != []


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("a" * 64, ["name part must be no more than 63 characters"]),
        ("-x", [NAME_PART_REGEX_ERROR]),
        ("", ["name part must be non-empty", NAME_PART_REGEX_ERROR]),
        ("/foo", ["prefix part must be non-empty"]),
        ("example.com/", ["name part must be non-empty", NAME_PART_REGEX_ERROR]),
        ("Example.com/x", ["prefix part " + SUBDOMAIN_REGEX_ERROR]),
        (
            "a" * 254 + "/x",
            ["prefix part must be no more than 253 characters"],
        ),
        (
            "a/b/c",
            [
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and "
                "must start and end with an alphanumeric character (e.g. 'MyName',  or "
                "'my.name',  or '123-abc', regex used for validation is "
                "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain "
                "prefix and '/' (e.g. 'example.com/MyName')"
            ],
        ),
    ],
)
def test_label_key_messages(key: str, expected: list[str]) -> None:
    assert label_key_errors(key) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "simple",
        "now-with-dashes",
        "1-starts-with-num",
        "end-with-num-1",
        "1234",
        "a" * 63,
        "Uppercase_Is_OK_123",
        "dots.are.ok",
    ],
)
def test_valid_label_values(value: str) -> None:
    assert label_value_errors(value) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("nospecialchars%^=@", [LABEL_VALUE_REGEX_ERROR]),
        ("Tama-nui-te-rā.is.Māori.sun", [LABEL_VALUE_REGEX_ERROR]),
        ("\\backslashes\\are\\bad", [LABEL_VALUE_REGEX_ERROR]),
        ("-starts-with-dash", [LABEL_VALUE_REGEX_ERROR]),
        ("ends-with-dash-", [LABEL_VALUE_REGEX_ERROR]),
        (".starts.with.dot", [LABEL_VALUE_REGEX_ERROR]),
        ("a" * 64, ["must be no more than 63 characters"]),
        ("-" * 64, ["must be no more than 63 characters", LABEL_VALUE_REGEX_ERROR]),
        ("trailing-newline\n", [LABEL_VALUE_REGEX_ERROR]),
    ],
)
def test_invalid_label_values(value: str, expected: list[str]) -> None:
    assert label_value_errors(value) == expected


def test_lengths_count_utf8_bytes_as_go_len_does() -> None:
    # 32 two-byte characters are 64 bytes in Go's len().
    assert "must be no more than 63 characters" in label_value_errors("é" * 32)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a", []),
        ("a.b.c", []),
        ("1.a", []),
        ("a-1.b", []),
        ("0.0.0.0", []),
        ("a" * 253, []),
        ("a" * 254, ["must be no more than 253 characters"]),
        ("A", [SUBDOMAIN_REGEX_ERROR]),
        ("a..b", [SUBDOMAIN_REGEX_ERROR]),
        ("a.", [SUBDOMAIN_REGEX_ERROR]),
        ("a_b", [SUBDOMAIN_REGEX_ERROR]),
        ("", [SUBDOMAIN_REGEX_ERROR]),
    ],
)
def test_dns1123_subdomain(name: str, expected: list[str]) -> None:
    assert dns1123_subdomain_errors(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a", []),
        ("0", []),
        ("a-1", []),
        ("1-a", []),
        ("a" * 63, []),
        ("a" * 64, ["must be no more than 63 characters"]),
        ("a.b", ["must not contain dots"]),
        ("A", [DNS1123_LABEL_REGEX_ERROR]),
        ("-a", [DNS1123_LABEL_REGEX_ERROR]),
        ("a-", [DNS1123_LABEL_REGEX_ERROR]),
        ("", [DNS1123_LABEL_REGEX_ERROR]),
    ],
)
def test_dns1123_label(name: str, expected: list[str]) -> None:
    assert dns1123_label_errors(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a", []),
        ("ab-c1", []),
        ("a" * 63, []),
        ("a" * 64, ["must be no more than 63 characters"]),
        ("1a", [DNS1035_LABEL_REGEX_ERROR]),
        ("a.b", [DNS1035_LABEL_REGEX_ERROR]),
        ("a-", [DNS1035_LABEL_REGEX_ERROR]),
        ("", [DNS1035_LABEL_REGEX_ERROR]),
    ],
)
def test_dns1035_label(name: str, expected: list[str]) -> None:
    assert dns1035_label_errors(name) == expected


def test_regex_error_without_examples() -> None:
    assert regex_error("bad", "x+") == "bad (regex used for validation is 'x+')"


def test_labels_errors_report_keys_and_values_in_key_order() -> None:
    labels = {"ok": "fine", "z": "-bad", "-bad": "v"}
    assert label_field_errors(labels) == [
        LabelFieldError("", "-bad", NAME_PART_REGEX_ERROR),
        LabelFieldError("", "-bad", LABEL_VALUE_REGEX_ERROR),
    ]
    assert labels_errors(labels) == [("", NAME_PART_REGEX_ERROR), ("", LABEL_VALUE_REGEX_ERROR)]
    assert labels_errors({"app": "web", "example.com/tier": ""}) == []
