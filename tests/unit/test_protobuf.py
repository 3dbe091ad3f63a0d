"""The protobuf body decoder, against messages built by a tiny encoder written here."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as hst

from dockyard.server import status as st
from dockyard.server.protobuf import (
    MAGIC,
    ProtobufError,
    check_accept,
    decode_body,
    decode_message,
    decode_object,
)
from dockyard.server.protobuf_schema import KINDS, SCHEMA
from dockyard.server.protobuf_wire import WireError, as_signed, iter_fields, read_varint

# --- a tiny encoder (the test side of the wire format) ---------------------------------------


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negatives as 64-bit two's complement, as Go writes int32/int64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def vint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def ld(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(number << 3 | 2) + varint(len(data)) + data


def entry(number: int, key: str, value: bytes | str) -> bytes:
    return ld(number, ld(1, key) + ld(2, value))


def quantity(text: str) -> bytes:
    return ld(1, text)


def int_or_string(value: int | str) -> bytes:
    if isinstance(value, str):
        return vint(1, 1) + ld(3, value)
    return vint(1, 0) + vint(2, value)


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = ld(1, api_version) + ld(2, kind)
    return MAGIC + ld(1, type_meta) + ld(2, raw) + ld(3, "") + ld(4, "")


def object_meta(name: str, **labels: str) -> bytes:
    """As Go writes it: every non-pointer field present even when empty."""
    meta = ld(1, name) + ld(2, "") + ld(3, "") + ld(4, "") + ld(5, "") + ld(6, "")
    meta += vint(7, 0) + ld(8, b"")  # generation 0, zero creationTimestamp
    for key, value in labels.items():
        meta += entry(11, key, value)
    return meta


def container(name: str, image: str, *extra: bytes) -> bytes:
    return ld(1, name) + ld(2, image) + ld(8, b"") + ld(13, "") + ld(20, "") + b"".join(extra)


def deployment(
    replicas: int, *containers: bytes, pod_spec_extra: bytes = b"", meta: bytes = b""
) -> bytes:
    selector = entry(1, "app", "web")
    pod_spec = b"".join(ld(2, c) for c in containers) + ld(3, "") + pod_spec_extra
    template = ld(1, object_meta("", app="web")) + ld(2, pod_spec)
    strategy = ld(1, "RollingUpdate") + ld(2, ld(1, int_or_string(0)) + ld(2, int_or_string("25%")))
    spec = vint(1, replicas) + ld(2, selector) + ld(3, template) + ld(4, strategy) + vint(5, 0)
    status = vint(1, 0) + vint(2, 0) + vint(3, 0) + vint(4, 0) + vint(5, 0)
    return ld(1, meta or object_meta("web", app="web")) + ld(2, spec) + ld(3, status)


# --- the wire format --------------------------------------------------------------------------


def test_varints_round_trip_including_negative_numbers() -> None:
    for value in (0, 1, 127, 128, 300, 2**31 - 1, 2**63 - 1):
        assert read_varint(varint(value), 0) == (value, len(varint(value)))
    assert as_signed(read_varint(varint(-5), 0)[0]) == -5


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x08", "truncated varint"),
        (b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "longer than 10 bytes"),
        (b"\x0a\x05ab", "past the end"),
        (b"\x0b", "wire type 3"),
        (b"\x00\x01", "field number 0"),
        (b"\x0d\x01\x02", "truncated fixed-width"),
    ],
)
def test_malformed_wire_bytes_raise_wire_error(data: bytes, reason: str) -> None:
    with pytest.raises(WireError, match=reason):
        list(iter_fields(data))


def test_fixed_width_fields_are_read() -> None:
    fields = list(iter_fields(b"\x0d\x01\x00\x00\x00\x11" + (2).to_bytes(8, "little")))
    assert [(f.number, f.value) for f in fields] == [(1, 1), (2, 2)]


# --- messages into JSON -----------------------------------------------------------------------


def test_a_deployment_decodes_to_the_json_a_client_would_send() -> None:
    probe = ld(1, ld(2, ld(1, "/healthz") + ld(2, int_or_string("http")))) + vint(3, 0)
    env = ld(1, "MODE") + ld(2, "fast")
    port = ld(1, "http") + vint(2, 0) + vint(3, 8080) + ld(4, "TCP") + ld(5, "")
    resources = entry(1, "memory", quantity("64Mi")) + entry(2, "cpu", quantity("100m"))
    busybox = container(
        "busybox",
        "busybox:latest",
        ld(3, "sleep"),
        ld(4, "3600"),
        ld(6, port),
        ld(7, env),
        ld(8, resources),
        ld(10, probe),
        ld(14, "IfNotPresent"),
    )
    obj = decode_object(envelope("apps/v1", "Deployment", deployment(0, busybox)))
    assert obj == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 0,  # a pointer field: an explicit zero is kept
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "busybox",
                            "image": "busybox:latest",
                            "command": ["sleep"],
                            "args": ["3600"],
                            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                            "env": [{"name": "MODE", "value": "fast"}],
                            "resources": {
                                "limits": {"memory": "64Mi"},
                                "requests": {"cpu": "100m"},
                            },
                            "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
                            "imagePullPolicy": "IfNotPresent",
                        }
                    ]
                },
            },
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"},
            },
        },
    }


def test_inline_structs_and_pointer_messages() -> None:
    volume = ld(1, "scratch") + ld(2, ld(2, b""))  # VolumeSource.emptyDir = {}
    config = ld(1, "cfg") + ld(2, ld(19, ld(1, ld(1, "settings")) + vint(4, 1)))
    env = ld(1, "KEY") + ld(3, ld(3, ld(1, ld(1, "settings")) + ld(2, "key")))
    spec = ld(1, volume) + ld(1, config) + ld(2, ld(1, "c") + ld(2, "i") + ld(7, env))
    assert decode_message(spec, "PodSpec", "spec") == {
        "volumes": [
            {"name": "scratch", "emptyDir": {}},
            {"name": "cfg", "configMap": {"name": "settings", "optional": True}},
        ],
        "containers": [
            {
                "name": "c",
                "image": "i",
                "env": [
                    {
                        "name": "KEY",
                        "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "key"}},
                    }
                ],
            }
        ],
    }


def test_times_intorstrings_and_negative_numbers() -> None:
    meta = ld(8, vint(1, 1_700_000_000)) + vint(10, 0) + vint(7, -1)
    assert decode_message(meta, "ObjectMeta", "metadata") == {
        "creationTimestamp": "2023-11-14T22:13:20Z",
        "deletionGracePeriodSeconds": 0,
        "generation": -1,
    }
    port = ld(1, "web") + ld(2, "TCP") + vint(3, 80) + ld(4, int_or_string(8080)) + vint(5, 0)
    assert decode_message(port, "ServicePort", "spec.ports[0]") == {
        "name": "web",
        "protocol": "TCP",
        "port": 80,
        "targetPort": 8080,
    }


def test_packed_repeated_ints_are_accepted() -> None:
    context = ld(4, varint(1000) + varint(2000))
    assert decode_message(context, "PodSecurityContext", "") == {"supplementalGroups": [1000, 2000]}


def test_unknown_field_number_is_named_with_its_message_and_place() -> None:
    body = envelope("apps/v1", "Deployment", deployment(1, container("c", "i", ld(99, "x"))))
    with pytest.raises(
        ProtobufError, match=r"Container field 99 \(in spec.template.spec.containers\[0\]\)"
    ):
        decode_object(body)
    with pytest.raises(st.ApiError) as info:
        decode_body(body)
    assert info.value.code == 400 and info.value.reason == "BadRequest"
    assert "Container field 99" in info.value.message


def test_an_unset_unknown_field_is_ignored_as_go_writes_every_non_pointer_field() -> None:
    body = envelope("apps/v1", "Deployment", deployment(1, container("c", "i", vint(99, 0))))
    assert decode_object(body)["spec"]["template"]["spec"]["containers"] == [
        {"name": "c", "image": "i"}
    ]


def test_a_known_but_unmodelled_field_is_rejected_by_name() -> None:
    body = envelope(
        "apps/v1",
        "Deployment",
        deployment(1, container("c", "i"), pod_spec_extra=ld(36, ld(1, "linux"))),
    )
    with pytest.raises(
        ProtobufError, match=r"spec.template.spec.os \(PodSpec field 36\) is not supported"
    ):
        decode_object(body)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{}", "k8s\\\\x00 prefix"),
        (MAGIC + b"\x0a\x05ab", "past the end"),
        (MAGIC + ld(1, ld(2, b"\xff\xfe")), "not valid UTF-8"),
        (envelope("v1", "", b""), "kind is empty"),
        (MAGIC + ld(1, ld(1, "v1") + ld(2, "Pod")) + ld(3, "gzip"), "encoding 'gzip'"),
        (envelope("v1", "Pod", ld(2, vint(1, 5))), "expected a length-delimited field"),
        (envelope("v1", "Pod", ld(2, ld(2, vint(1, 3)))), "expected a length-delimited"),
        (
            envelope("v1", "Service", ld(2, ld(1, vint(3, 1) + ld(4, vint(1, 7))))),
            "IntOrString type 7",
        ),
    ],
)
def test_malformed_bodies_are_400_bad_request(body: bytes, reason: str) -> None:
    with pytest.raises(st.ApiError, match=reason) as info:
        decode_body(body)
    assert (info.value.code, info.value.reason) == (400, "BadRequest")


def test_a_kind_without_a_table_is_415() -> None:
    with pytest.raises(st.ApiError, match="v1/ConfigMap are not supported") as info:
        decode_body(envelope("v1", "ConfigMap", ld(1, object_meta("c"))))
    assert info.value.code == 415


@given(hst.binary(max_size=200))
def test_arbitrary_bytes_never_escape_as_anything_but_a_status(data: bytes) -> None:
    for body in (
        MAGIC + data,
        envelope("apps/v1", "Deployment", data),
        envelope("v1", "Pod", data),
    ):
        try:
            decode_body(body)
        except st.ApiError as error:
            assert error.code in (400, 415)


def test_every_table_reference_resolves() -> None:
    for name, table in SCHEMA.items():
        for number, field in table.items():
            assert number > 0, name
            if field.kind in ("msg", "inline"):
                assert field.ref in SCHEMA, f"{name}.{field.name} -> {field.ref}"
    assert set(KINDS.values()) <= set(SCHEMA)


@pytest.mark.parametrize(
    ("accept", "acceptable"),
    [
        ("", True),
        ("application/json", True),
        ("application/vnd.kubernetes.protobuf,application/json", True),
        ("application/vnd.kubernetes.protobuf, */*", True),
        ("application/vnd.kubernetes.protobuf", False),
        ("application/vnd.kubernetes.protobuf;stream=watch", False),
    ],
)
def test_accept_negotiation(accept: str, acceptable: bool) -> None:
    if acceptable:
        check_accept(accept)
    else:
        with pytest.raises(st.ApiError) as info:
            check_accept(accept)
        assert (info.value.code, info.value.reason) == (406, "NotAcceptable")
