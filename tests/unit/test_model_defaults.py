"""Kubernetes defaulting (pkg/apis/core/v1/defaults.go, pkg/apis/apps/v1/defaults.go)."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.model.cluster import Service
from dockyard.model.kinds import apply_defaults
from dockyard.model.meta import to_dict
from dockyard.model.pod import Pod, default_image_pull_policy
from dockyard.model.validation import decode
from dockyard.model.workloads import DaemonSet, Deployment, ReplicationController


def _defaulted(data: dict[str, Any], namespace: str = "default") -> dict[str, Any]:
    return to_dict(apply_defaults(decode(data), namespace=namespace))


def _pod(container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", **container}], **spec},
    }


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.25", "IfNotPresent"),
        ("localhost:5000/nginx", "Always"),
        ("localhost:5000/team/nginx:v2", "IfNotPresent"),
        ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
        ("nginx:latest@sha256:" + "a" * 64, "Always"),
    ],
)
def test_image_pull_policy_from_tag(image: str, policy: str) -> None:
    assert default_image_pull_policy(image) == policy
    spec = _defaulted(_pod({"image": image}))["spec"]
    assert spec["containers"][0]["imagePullPolicy"] == policy


def test_explicit_image_pull_policy_is_kept() -> None:
    spec = _defaulted(_pod({"image": "nginx", "imagePullPolicy": "Never"}))["spec"]
    assert spec["containers"][0]["imagePullPolicy"] == "Never"


def test_pod_spec_defaults() -> None:
    pod = _defaulted(_pod({"image": "nginx:1", "ports": [{"containerPort": 80}]}))
    assert pod["metadata"]["namespace"] == "default"
    assert pod["spec"]["restartPolicy"] == "Always"
    assert pod["spec"]["terminationGracePeriodSeconds"] == 30
    assert "dnsPolicy" not in pod["spec"]
    container = pod["spec"]["containers"][0]
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert container["terminationMessagePath"] == "/dev/termination-message"


def test_namespace_argument_and_explicit_namespace() -> None:
    assert _defaulted(_pod({"image": "x"}), namespace="team")["metadata"]["namespace"] == "team"
    data = _pod({"image": "x"})
    data["metadata"]["namespace"] = "mine"
    assert _defaulted(data, namespace="team")["metadata"]["namespace"] == "mine"


@pytest.mark.parametrize("kind", ["livenessProbe", "readinessProbe", "startupProbe"])
def test_probe_defaults_including_zero_means_unset(kind: str) -> None:
    probe = {"tcpSocket": {"port": 80}, "periodSeconds": 0, "failureThreshold": 5}
    container = _defaulted(_pod({"image": "x", kind: probe}))["spec"]["containers"][0]
    assert container[kind] == {
        "tcpSocket": {"port": 80},
        "initialDelaySeconds": 0,
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 5,
    }


def test_http_get_defaults() -> None:
    probe = {"httpGet": {"port": "http"}}
    container = _defaulted(_pod({"image": "x", "readinessProbe": probe}))["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/", "port": "http", "scheme": "HTTP"}


def test_requests_default_to_limits() -> None:
    resources = {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "100m"}}
    container = _defaulted(_pod({"image": "x", "resources": resources}))["spec"]["containers"][0]
    assert container["resources"]["requests"] == {"cpu": "100m", "memory": "128Mi"}


def test_numeric_quantities_become_text() -> None:
    resources = {"limits": {"cpu": 1, "memory": 0.5}}
    container = _defaulted(_pod({"image": "x", "resources": resources}))["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "0.5"}


def test_host_network_host_port_defaults_to_container_port() -> None:
    data = _pod({"image": "x", "ports": [{"containerPort": 8080}]}, hostNetwork=True)
    port = _defaulted(data)["spec"]["containers"][0]["ports"][0]
    assert port["hostPort"] == 8080


def _template() -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "a"}},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
    }


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (
            None,
            {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
            },
        ),
        (
            {"rollingUpdate": {"maxSurge": 2}},
            {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 2}},
        ),
        ({"type": "Recreate"}, {"type": "Recreate"}),
    ],
)
def test_deployment_strategy_defaults(strategy: Any, expected: dict[str, Any]) -> None:
    data: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": _template()},
    }
    if strategy is not None:
        data["spec"]["strategy"] = strategy
    spec = _defaulted(data)["spec"]
    assert spec["strategy"] == expected
    assert (spec["replicas"], spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (
        1,
        10,
        600,
    )


def test_daemon_set_and_replica_defaults() -> None:
    daemon_set = apply_defaults(DaemonSet.model_validate({"metadata": {"name": "d"}}))
    rolling = daemon_set.spec.update_strategy.rolling_update
    assert rolling is not None and (rolling.max_unavailable, rolling.max_surge) == (1, 0)
    assert daemon_set.spec.revision_history_limit == 10
    assert Deployment().spec.replicas == 1


def test_replication_controller_selector_and_labels_from_template() -> None:
    rc = ReplicationController.model_validate(
        {"metadata": {"name": "rc"}, "spec": {"template": _template()}}
    )
    defaulted = apply_defaults(rc)
    assert defaulted.spec.selector == {"app": "a"}
    assert defaulted.metadata.labels == {"app": "a"}
    assert defaulted.spec.replicas == 1
    assert rc.spec.selector == {}  # apply_defaults returns a new object


def test_service_defaults() -> None:
    service = Service.model_validate(
        {
            "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 80}, {"port": 443, "targetPort": "https"}]},
        }
    )
    spec = to_dict(apply_defaults(service))["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    assert spec["ports"] == [
        {"protocol": "TCP", "port": 80, "targetPort": 80},
        {"protocol": "TCP", "port": 443, "targetPort": "https"},
    ]
    client_ip = Service.model_validate(
        {"metadata": {"name": "s"}, "spec": {"sessionAffinity": "ClientIP", "ports": [{"port": 1}]}}
    )
    config = apply_defaults(client_ip).spec.session_affinity_config
    assert config is not None and config.client_ip is not None
    assert config.client_ip.timeout_seconds == 10800


def test_pod_built_in_code_defaults() -> None:
    pod = Pod.model_validate(
        {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}
    )
    assert pod.kind == "Pod" and pod.api_version == "v1"
    assert apply_defaults(pod).spec.containers[0].image_pull_policy == "IfNotPresent"
