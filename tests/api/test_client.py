"""The official Kubernetes Python client against Dockyard: create, list, patch, watch, delete."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.api.conftest import TOKENS, ApiServer


@pytest.fixture
def core(api: ApiServer) -> Iterator[client.CoreV1Api]:
    config = client.Configuration()
    config.host = api.url
    config.ssl_ca_cert = str(api.cert)
    config.api_key = {"authorization": f"Bearer {TOKENS['admin'][0]}"}
    with client.ApiClient(config) as api_client:
        yield client.CoreV1Api(api_client)


def pod(name: str, labels: dict[str, str] | None = None) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels or {"app": "demo"}),
        spec=client.V1PodSpec(
            containers=[
                client.V1Container(
                    name="c",
                    image="busybox:latest",
                    image_pull_policy="IfNotPresent",
                    env=[client.V1EnvVar(name="A", value="1")],
                )
            ]
        ),
    )


def test_create_list_patch_delete(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_pod("default", pod("p1"))
    assert created.metadata.uid and created.metadata.resource_version
    core.create_namespaced_pod("default", pod("p2", {"app": "other"}))
    listed = core.list_namespaced_pod("default", label_selector="app=demo")
    assert [p.metadata.name for p in listed.items] == ["p1"]
    assert int(listed.metadata.resource_version) >= int(created.metadata.resource_version)
    # strategic merge patch: env merges by name
    patched = core.patch_namespaced_pod(
        "p1",
        "default",
        {
            "metadata": {"labels": {"tier": "web"}},
            "spec": {"containers": [{"name": "c", "env": [{"name": "B", "value": "2"}]}]},
        },
    )
    assert patched.metadata.labels == {"app": "demo", "tier": "web"}
    assert [e.name for e in patched.spec.containers[0].env] == ["A", "B"]
    core.delete_namespaced_pod("p1", "default")
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod("p1", "default")
    assert caught.value.status == 404


def test_generate_name_and_stale_update_conflict(core: client.CoreV1Api) -> None:
    body = pod("")
    body.metadata.name = None
    body.metadata.generate_name = "gen-"
    created = core.create_namespaced_pod("default", body)
    assert created.metadata.name.startswith("gen-") and len(created.metadata.name) == 9
    stale = core.read_namespaced_pod(created.metadata.name, "default")
    core.patch_namespaced_pod(
        created.metadata.name, "default", {"metadata": {"labels": {"x": "1"}}}
    )
    stale.metadata.labels = {"x": "2"}
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_pod(created.metadata.name, "default", stale)
    assert caught.value.status == 409 and "Conflict" in caught.value.body


def test_watch_sees_added_modified_deleted(core: client.CoreV1Api) -> None:
    start = core.list_namespaced_pod("default").metadata.resource_version
    seen: list[tuple[str, str]] = []
    done = threading.Event()

    def follow() -> None:
        w = watch.Watch()
        for event in w.stream(
            core.list_namespaced_pod, "default", resource_version=start, timeout_seconds=10
        ):
            seen.append((event["type"], event["object"].metadata.name))
            if event["type"] == "DELETED":
                w.stop()
        done.set()

    thread = threading.Thread(target=follow)
    thread.start()
    core.create_namespaced_pod("default", pod("w"))
    core.patch_namespaced_pod("w", "default", {"metadata": {"labels": {"v": "2"}}})
    core.delete_namespaced_pod("w", "default")
    assert done.wait(15)
    thread.join()
    assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]
