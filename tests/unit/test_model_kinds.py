"""The kind registry and the round trip of objects with status (as stored and served)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dockyard.model.cluster import Node
from dockyard.model.kinds import (
    KindInfo,
    UnknownKind,
    all_kinds,
    find_kind,
    info_for,
    kind_for,
    register,
    resource_for_name,
    resource_for_plural,
    split_api_version,
    unregister,
)
from dockyard.model.meta import KubeObject, to_dict
from dockyard.model.pod import Pod
from dockyard.model.validation import decode, parse_object
from dockyard.model.workloads import Deployment

REGISTRY = [
    ("v1", "Pod", "pods", "po", True),
    ("v1", "Namespace", "namespaces", "ns", False),
    ("v1", "Node", "nodes", "no", False),
    ("v1", "Service", "services", "svc", True),
    ("v1", "ReplicationController", "replicationcontrollers", "rc", True),
    ("apps/v1", "Deployment", "deployments", "deploy", True),
    ("apps/v1", "ReplicaSet", "replicasets", "rs", True),
    ("apps/v1", "DaemonSet", "daemonsets", "ds", True),
]


@pytest.mark.parametrize(("api_version", "kind", "plural", "short", "namespaced"), REGISTRY)
def test_builtin_kinds(
    api_version: str, kind: str, plural: str, short: str, namespaced: bool
) -> None:
    info = kind_for(api_version, kind)
    assert (info.api_version, info.plural, info.namespaced) == (api_version, plural, namespaced)
    assert short in info.short_names
    group, version = split_api_version(api_version)
    assert resource_for_plural(group, version, plural) is info
    assert resource_for_name(short) is info
    assert resource_for_name(plural) is info
    assert resource_for_name(kind) is info
    assert info_for(info.model) is info
    assert info.model().kind == kind and info.model().api_version == api_version


def test_lookup_misses() -> None:
    assert find_kind("v1", "Deployment") is None
    assert resource_for_plural("", "v1", "deployments") is None
    assert resource_for_name("nothing") is None
    with pytest.raises(UnknownKind) as caught:
        kind_for("extensions/v1beta1", "Deployment")
    assert str(caught.value) == 'no matches for kind "Deployment" in version "extensions/v1beta1"'


def test_group_qualified_names() -> None:
    deployments = kind_for("apps/v1", "Deployment")
    assert resource_for_name("deployments.apps") is deployments
    assert resource_for_name("deploy.apps") is deployments
    assert deployments.group_resource == "deployments.apps"
    assert kind_for("v1", "Pod").group_resource == "pods"


class Widget(KubeObject):
    api_version: str = "example.dockyard.io/v1"
    kind: str = "Widget"
    size: int = 1


@pytest.fixture
def widget_kind() -> Iterator[KindInfo]:
    """Registered for one test only: the registry is process-wide, and other tests in this
    worker (the audit CLI's unknown-kind case) must not see Widgets."""
    info = register(
        KindInfo("example.dockyard.io", "v1", "Widget", "widgets", "widget", Widget, True, ("wd",))
    )
    yield info
    unregister(info)


def test_a_later_kind_registers_itself(widget_kind: KindInfo) -> None:
    info = widget_kind
    assert info in list(all_kinds())
    obj = parse_object(
        {"apiVersion": "example.dockyard.io/v1", "kind": "Widget", "metadata": {"name": "w"}}
    )
    assert isinstance(obj, Widget) and obj.metadata.namespace == "default"
    assert resource_for_name("wd") is info


POD_WITH_STATUS: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "web-7d4b9-x2kq9",
        "namespace": "shop",
        "uid": "0b7e3c1e-7d57-4c3b-9a43-5d6a1f0e2a11",
        "resourceVersion": "1042",
        "generation": 1,
        "creationTimestamp": "2024-05-01T10:00:00Z",
        "labels": {"app": "web", "pod-template-hash": "7d4b9"},
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "web-7d4b9",
                "uid": "5c1a",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    },
    "spec": {
        "containers": [{"name": "web", "image": "nginx:1.25"}],
        "nodeName": "node-1",
    },
    "status": {
        "phase": "Running",
        "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2024-05-01T10:00:05Z"}
        ],
        "hostIP": "10.0.0.5",
        "podIP": "172.17.0.3",
        "podIPs": [{"ip": "172.17.0.3"}],
        "startTime": "2024-05-01T10:00:01Z",
        "containerStatuses": [
            {
                "name": "web",
                "state": {"running": {"startedAt": "2024-05-01T10:00:04Z"}},
                "lastState": {
                    "terminated": {
                        "exitCode": 137,
                        "reason": "OOMKilled",
                        "startedAt": "2024-05-01T10:00:02Z",
                        "finishedAt": "2024-05-01T10:00:03Z",
                        "containerID": "docker://abc",
                    }
                },
                "ready": True,
                "started": True,
                "restartCount": 1,
                "image": "nginx:1.25",
                "imageID": "docker-pullable://nginx@sha256:1",
                "containerID": "docker://def",
            }
        ],
    },
}


def test_pod_with_status_round_trips() -> None:
    pod = parse_object(POD_WITH_STATUS)
    assert isinstance(pod, Pod)
    status = pod.status.container_statuses[0]
    assert status.last_state.terminated is not None
    assert status.last_state.terminated.reason == "OOMKilled"
    assert status.image_id == "docker-pullable://nginx@sha256:1"
    assert pod.metadata.creation_timestamp is not None
    assert pod.metadata.creation_timestamp.year == 2024
    controller = pod.metadata.controller_ref()
    assert controller is not None and controller.name == "web-7d4b9"
    data = to_dict(pod)
    assert data["status"] == POD_WITH_STATUS["status"]
    assert data["metadata"] == POD_WITH_STATUS["metadata"]
    assert to_dict(decode(data)) == data


def test_node_status_round_trips() -> None:
    data = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1"}},
        "spec": {"podCIDR": "10.244.0.0/24", "taints": [{"key": "k", "effect": "NoSchedule"}]},
        "status": {
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "lastHeartbeatTime": "2024-05-01T10:00:00Z",
                    "lastTransitionTime": "2024-05-01T09:00:00Z",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                }
            ],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": "m",
                "systemUUID": "s",
                "bootID": "b",
                "kernelVersion": "6.1",
                "osImage": "Debian",
                "containerRuntimeVersion": "docker://24.0.7",
                "kubeletVersion": "dockyard-0.1.0",
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }
    node = parse_object(data)
    assert isinstance(node, Node)
    assert node.status.node_info is not None
    assert node.status.node_info.system_uuid == "s"
    assert to_dict(node) == data


def test_deployment_status_round_trips_and_empty_selector_is_kept() -> None:
    data = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "default"},
        "spec": {"selector": {}},
        "status": {
            "observedGeneration": 2,
            "replicas": 3,
            "updatedReplicas": 3,
            "availableReplicas": 3,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}
            ],
        },
    }
    deployment = decode(data)
    assert isinstance(deployment, Deployment)
    out = to_dict(deployment)
    assert out["spec"]["selector"] == {}  # {} selects everything; it must not vanish
    assert out["status"] == data["status"]
