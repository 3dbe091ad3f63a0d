"""Validation and decoding errors: Kubernetes field paths, kinds and messages (table-driven)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from dockyard.model.kinds import UnknownKind
from dockyard.model.validation import (
    FORBIDDEN,
    REQUIRED,
    FieldError,
    InvalidObject,
    decode,
    parse_object,
)

Mutation = Callable[[dict[str, Any]], object]


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            },
        },
    }


def _pod_spec(d: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = d["spec"]["template"]["spec"]
    return spec


def _container(d: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = _pod_spec(d)["containers"][0]
    return container


def _errors(mutate: Mutation) -> list[str]:
    data = _deployment()
    mutate(data)
    try:
        parse_object(data)
    except InvalidObject as error:
        return [str(e) for e in error.errors]
    return []


T = "spec.template.spec"
C = f"{T}.containers[0]"

CASES: list[tuple[str, Mutation, list[str]]] = [
    ("valid", lambda d: None, []),
    (
        "generateName only",
        lambda d: d.update(metadata={"generateName": "web-"}),
        [],
    ),
    (
        "no name",
        lambda d: d.update(metadata={}),
        ["metadata.name: Required value: name or generateName is required"],
    ),
    (
        "bad namespace",
        lambda d: d["metadata"].update(namespace="Team"),
        [
            'metadata.namespace: Invalid value: "Team": a lowercase RFC 1123 label must consist '
            "of lower case alphanumeric characters or '-', and must start and end with an "
            "alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation "
            "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        ],
    ),
    (
        "bad annotation key",
        lambda d: d["metadata"].update(annotations={"a/b/c": "x"}),
        [
            'metadata.annotations: Invalid value: "a/b/c": a qualified name must consist of '
            "alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used "
            "for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS "
            "subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ],
    ),
    (
        "negative replicas",
        lambda d: d["spec"].update(replicas=-1),
        ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"],
    ),
    (
        "empty selector",
        lambda d: d["spec"].update(selector={}),
        ["spec.selector: Invalid value: {}: empty selector is invalid for deployment"],
    ),
    (
        "In without values",
        lambda d: d["spec"].update(
            selector={"matchExpressions": [{"key": "app", "operator": "In"}]}
        ),
        [
            "spec.selector.matchExpressions[0].values: Required value: must be specified when "
            "`operator` is 'In' or 'NotIn'",
            'spec.selector: Invalid value: {"matchExpressions":[{"key":"app","operator":"In"}]}: '
            "invalid label selector",
        ],
    ),
    (
        "no containers",
        lambda d: _pod_spec(d).update(containers=[]),
        [f"{T}.containers: Required value"],
    ),
    (
        "bad container name",
        lambda d: _container(d).update(name="Web"),
        [
            f'{C}.name: Invalid value: "Web": a lowercase RFC 1123 label must consist of lower '
            "case alphanumeric characters or '-', and must start and end with an alphanumeric "
            "character (e.g. 'my-name',  or '123-abc', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        ],
    ),
    ("empty image", lambda d: _container(d).update(image=""), [f"{C}.image: Required value"]),
    (
        "template activeDeadlineSeconds",
        lambda d: _pod_spec(d).update(activeDeadlineSeconds=10),
        [
            f"{T}.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet is not "
            "Supported"
        ],
    ),
    (
        "template label",
        lambda d: d["spec"]["template"]["metadata"]["labels"].update({"x": "-"}),
        [
            'spec.template.labels: Invalid value: "-": a valid label must be an empty string or '
            "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
            "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        ],
    ),
    (
        "Recreate with rollingUpdate",
        lambda d: d["spec"].update(strategy={"type": "Recreate", "rollingUpdate": {}}),
        [
            "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` "
            "is 'Recreate'"
        ],
    ),
    (
        "unknown strategy type",
        lambda d: d["spec"].update(strategy={"type": "BlueGreen"}),
        [
            'spec.strategy.type: Unsupported value: "BlueGreen": supported values: "Recreate", '
            '"RollingUpdate"'
        ],
    ),
    (
        "surge above 100% is fine for a deployment",
        lambda d: d["spec"].update(strategy={"rollingUpdate": {"maxSurge": "200%"}}),
        [],
    ),
    (
        "progress deadline",
        lambda d: d["spec"].update(minReadySeconds=700),
        ["spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds"],
    ),
    (
        "duplicate port name and bad protocol",
        lambda d: _container(d).update(
            ports=[
                {"name": "http", "containerPort": 80},
                {"name": "http", "containerPort": 81, "protocol": "HTTP"},
            ]
        ),
        [
            f'{C}.ports[1].protocol: Unsupported value: "HTTP": supported values: "TCP", "UDP", '
            '"SCTP"'
        ],
    ),
    (
        "duplicate port name",
        lambda d: _container(d).update(
            ports=[{"name": "http", "containerPort": 80}, {"name": "http", "containerPort": 81}]
        ),
        [f'{C}.ports[1].name: Duplicate value: "http"'],
    ),
    (
        "env without name, valueFrom with value",
        lambda d: _container(d).update(
            env=[
                {"name": "", "value": "x"},
                {
                    "name": "A",
                    "value": "x",
                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                },
            ]
        ),
        [
            f"{C}.env[0].name: Required value",
            f'{C}.env[1].valueFrom: Invalid value: "": may not be specified when `value` is not '
            "empty",
        ],
    ),
    (
        "volume mount not found",
        lambda d: _container(d).update(volumeMounts=[{"name": "data", "mountPath": "/data"}]),
        [f'{C}.volumeMounts[0].name: Not found: "data"'],
    ),
    (
        "unknown resource",
        lambda d: _container(d).update(resources={"limits": {"gpu": "1"}}),
        [
            f'{C}.resources.limits[gpu]: Invalid value: "gpu": must be a standard resource for '
            "containers",
            # requests default to limits, so Kubernetes reports the request as well
            f'{C}.resources.requests[gpu]: Invalid value: "gpu": must be a standard resource for '
            "containers",
        ],
    ),
    (
        "sleep longer than grace period",
        lambda d: _container(d).update(lifecycle={"preStop": {"sleep": {"seconds": 60}}}),
        [
            f"{C}.lifecycle.preStop.sleep.seconds: Invalid value: 60: must be non-negative and "
            "less than terminationGracePeriodSeconds (30)"
        ],
    ),
    (
        "notify handler is a handler type",
        lambda d: _container(d).update(
            lifecycle={"postStart": {"notify": {"route": "oncall", "template": "hi"}}}
        ),
        [],
    ),
    (
        "notify plus exec",
        lambda d: _container(d).update(
            lifecycle={"preStop": {"exec": {"command": ["x"]}, "notify": {"channel": "#ops"}}}
        ),
        [f"{C}.lifecycle.preStop.notify: Forbidden: may not specify more than 1 handler type"],
    ),
    (
        "probe without handler and negative delay",
        lambda d: _container(d).update(readinessProbe={"initialDelaySeconds": -1}),
        [
            f"{C}.readinessProbe: Required value: must specify a handler type",
            f"{C}.readinessProbe.initialDelaySeconds: Invalid value: -1: must be greater than or "
            "equal to 0",
        ],
    ),
    (
        "readiness success threshold may be above 1",
        lambda d: _container(d).update(
            readinessProbe={"exec": {"command": ["true"]}, "successThreshold": 2}
        ),
        [],
    ),
    (
        "toleration",
        lambda d: _pod_spec(d).update(
            tolerations=[{"operator": "Equal", "value": "x"}, {"key": "k", "tolerationSeconds": 5}]
        ),
        [
            f'{T}.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when '
            '`key` is empty, which means "match all values and all keys"',
            f"{T}.tolerations[1].effect: Invalid value: \"\": effect must be 'NoExecute' when "
            "`tolerationSeconds` is set",
        ],
    ),
    (
        "node selector label",
        lambda d: _pod_spec(d).update(nodeSelector={"disk": "ssd fast"}),
        [
            f'{T}.nodeSelector: Invalid value: "ssd fast": a valid label must be an empty string '
            "or consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
            "an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
            "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        ],
    ),
    (
        "hostNetwork port mismatch",
        lambda d: (
            _pod_spec(d).update(hostNetwork=True),
            _container(d).update(ports=[{"containerPort": 80, "hostPort": 8080}]),
        ),
        [
            f"{C}.ports[0].containerPort: Invalid value: 80: must match `hostPort` when "
            "`hostNetwork` is true"
        ],
    ),
]


@pytest.mark.parametrize(("name", "mutate", "expected"), CASES, ids=[c[0] for c in CASES])
def test_deployment_validation(name: str, mutate: Mutation, expected: list[str]) -> None:
    assert _errors(mutate) == expected


DECODE_CASES: list[tuple[str, Mutation, list[str]]] = [
    (
        "unknown nested field",
        lambda d: _container(d).update(imagePullPolicyy="Always"),
        [f'unknown field "{C}.imagePullPolicyy"'],
    ),
    (
        "unknown top-level field",
        lambda d: d.update(specs={}),
        ['unknown field "specs"'],
    ),
    (
        "string where int expected",
        lambda d: d["spec"].update(replicas="3"),
        ['spec.replicas: Invalid value: "3": must be an integer'],
    ),
    (
        "bool is not an int",
        lambda d: d["spec"].update(replicas=True),
        ["spec.replicas: Invalid value: true: must be an integer"],
    ),
    (
        "label value number",
        lambda d: d["metadata"].update(labels={"version": 2}),
        ["metadata.labels[version]: Invalid value: 2: must be a string"],
    ),
    (
        "container not an object",
        lambda d: _pod_spec(d).update(containers=["nginx"]),
        [f'{T}.containers[0]: Invalid value: "nginx": must be an object'],
    ),
    (
        "bad quantity",
        lambda d: _container(d).update(resources={"requests": {"memory": "lots"}}),
        [
            f'{C}.resources.requests[memory]: Invalid value: "lots": quantities must match the '
            "regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        ],
    ),
    (
        "intOrString rejects a list",
        lambda d: d["spec"].update(strategy={"rollingUpdate": {"maxSurge": [1]}}),
        [
            "spec.strategy.rollingUpdate.maxSurge: Invalid value: [1]: must be an integer or a "
            "string"
        ],
    ),
    (
        "bad timestamp",
        lambda d: d["metadata"].update(creationTimestamp="yesterday"),
        [
            'metadata.creationTimestamp: Invalid value: "yesterday": must be an RFC 3339 '
            "date-time, e.g. 2006-01-02T15:04:05Z"
        ],
    ),
    (
        "missing required nested field",
        lambda d: _container(d).update(ports=[{"name": "http"}]),
        [f"{C}.ports[0].containerPort: Required value"],
    ),
]


@pytest.mark.parametrize(
    ("name", "mutate", "expected"), DECODE_CASES, ids=[c[0] for c in DECODE_CASES]
)
def test_decoding_errors(name: str, mutate: Mutation, expected: list[str]) -> None:
    assert _errors(mutate) == expected


def test_null_means_unset() -> None:
    data = _deployment()
    data["metadata"]["labels"] = None
    data["spec"]["replicas"] = None
    obj = parse_object(data)
    assert obj.metadata.labels == {}


def test_invalid_object_messages() -> None:
    data = _deployment()
    _container(data).pop("image")
    with pytest.raises(InvalidObject) as caught:
        parse_object(data)
    error = caught.value
    assert str(error) == (
        'The Deployment "web" is invalid: spec.template.spec.containers[0].image: Required value'
    )
    assert error.status_message == (
        'Deployment.apps "web" is invalid: spec.template.spec.containers[0].image: Required value'
    )
    assert error.errors == [FieldError("spec.template.spec.containers[0].image", REQUIRED)]
    assert error.errors[0].cause_type == "FieldValueRequired"

    data = _deployment()
    data["spec"]["replicas"] = -2
    data["metadata"]["name"] = "Web"
    with pytest.raises(InvalidObject) as caught:
        parse_object(data)
    lines = str(caught.value).split("\n")
    assert lines[0] == 'The Deployment "Web" is invalid: '
    assert lines[1].startswith('* metadata.name: Invalid value: "Web": ')
    assert lines[2] == "* spec.replicas: Invalid value: -2: must be greater than or equal to 0"
    assert caught.value.status_message.startswith(
        'Deployment.apps "Web" is invalid: [metadata.name'
    )


def test_unknown_kind_and_missing_kind() -> None:
    with pytest.raises(UnknownKind, match='no matches for kind "Foo" in version "apps/v1"'):
        decode({"apiVersion": "apps/v1", "kind": "Foo"})
    with pytest.raises(UnknownKind, match='no matches for kind "Pod" in version "apps/v1"'):
        decode({"apiVersion": "apps/v1", "kind": "Pod"})
    with pytest.raises(InvalidObject) as caught:
        decode({"metadata": {"name": "x"}})
    assert [str(e) for e in caught.value.errors] == [
        "apiVersion: Required value",
        "kind: Required value",
    ]


def _object(kind: str, api_version: str, spec: dict[str, Any], name: str = "x") -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, "spec": spec}


OTHER_KINDS: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "namespaced field on a cluster-scoped kind",
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "namespace": "default"}},
        ["metadata.namespace: Forbidden: not allowed on this type"],
    ),
    (
        "service name is a DNS-1035 label",
        _object("Service", "v1", {"ports": [{"port": 80}]}, name="1web"),
        [
            'metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case '
            "alphanumeric characters or '-', start with an alphabetic character, and end with an "
            "alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
            "'[a-z]([-a-z0-9]*[a-z0-9])?')"
        ],
    ),
    (
        "service without ports",
        _object("Service", "v1", {"selector": {"app": "a"}}),
        ["spec.ports: Required value"],
    ),
    (
        "headless service without ports",
        _object("Service", "v1", {"clusterIP": "None"}),
        [],
    ),
    (
        "nodePort on ClusterIP",
        _object("Service", "v1", {"ports": [{"port": 80, "nodePort": 30080}]}),
        ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"],
    ),
    (
        "duplicate service port",
        _object("Service", "v1", {"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 80}]}),
        ['spec.ports[1]: Duplicate value: {"port":80,"protocol":"TCP"}'],
    ),
    (
        "daemon set both zero",
        _object(
            "DaemonSet",
            "apps/v1",
            {
                "selector": {"matchLabels": {"a": "b"}},
                "updateStrategy": {"rollingUpdate": {"maxUnavailable": 0}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "x"}]},
                },
            },
        ),
        [
            "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when "
            "maxSurge is 0"
        ],
    ),
    (
        "daemon set without selector",
        _object(
            "DaemonSet",
            "apps/v1",
            {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}},
        ),
        [
            "spec.selector: Required value",
            "spec.template.metadata.labels: Invalid value: map[string]string{}: `selector` does "
            "not match template `labels`",
        ],
    ),
    (
        "replica set restart policy",
        _object(
            "ReplicaSet",
            "apps/v1",
            {
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {
                        "restartPolicy": "OnFailure",
                        "containers": [{"name": "c", "image": "x"}],
                    },
                },
            },
        ),
        [
            'spec.template.spec.restartPolicy: Unsupported value: "OnFailure": supported values: '
            '"Always"'
        ],
    ),
    (
        "rc selector mismatch",
        _object(
            "ReplicationController",
            "v1",
            {
                "selector": {"app": "a"},
                "template": {
                    "metadata": {"labels": {"app": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "x"}]},
                },
            },
        ),
        [
            'spec.template.metadata.labels: Invalid value: map[string]string{"app":"b"}: '
            "`selector` does not match template `labels`"
        ],
    ),
    (
        "node taint",
        _object("Node", "v1", {"taints": [{"key": "a b", "effect": "NoSchedule"}]}),
        [
            'spec.taints[0].key: Invalid value: "a b": name part must consist of alphanumeric '
            "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
            "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        ],
    ),
    (
        "pod with init container probe",
        _object(
            "Pod",
            "v1",
            {
                "initContainers": [
                    {"name": "init", "image": "x", "livenessProbe": {"exec": {"command": ["x"]}}}
                ],
                "containers": [{"name": "init", "image": "x"}],
            },
        ),
        [
            "spec.initContainers[0].livenessProbe: Forbidden: may not be set for init containers "
            "without restartPolicy=Always",
            'spec.containers[0].name: Duplicate value: "init"',
        ],
    ),
]


@pytest.mark.parametrize(("name", "data", "expected"), OTHER_KINDS, ids=[c[0] for c in OTHER_KINDS])
def test_other_kinds(name: str, data: dict[str, Any], expected: list[str]) -> None:
    try:
        parse_object(copy.deepcopy(data))
    except InvalidObject as error:
        assert [str(e) for e in error.errors] == expected
    else:
        assert expected == []


def test_forbidden_renders_without_value() -> None:
    error = FieldError("spec.x", FORBIDDEN, "value-not-shown", "nope")
    assert str(error) == "spec.x: Forbidden: nope"
