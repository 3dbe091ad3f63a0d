"""The status subresource, the rollback verb, anonymous access, Events as kubectl shows them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dockyard.controllers.context import ControllerContext
from dockyard.controllers.runtime import ObjectCache
from dockyard.controllers.views import Event
from dockyard.server.context import ApiContext
from dockyard.settings import Settings
from dockyard.store.event_types_agent import ContainerEvent, ContainerStarted, pod_runtime_stream
from dockyard.store.events import new_event
from tests.api.conftest import ApiServer, running_server

PODS = "/api/v1/namespaces/default/pods"
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


def pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox:latest"}]},
    }


def verbs_of(api: ApiServer, name: str) -> list[tuple[str, str, str]]:
    with api.ctx.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT type, metadata ->> 'verb', metadata ->> 'actor' FROM events "
            "WHERE data -> 'object' -> 'metadata' ->> 'name' = %s ORDER BY position",
            (name,),
        ).all()
    return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]


def test_status_subresource_get_put_patch(api: ApiServer) -> None:
    with api.client() as c:
        created = c.post(PODS, json=pod("s")).json()
        got = c.get(f"{PODS}/s/status")
        assert got.status_code == 200
        assert got.json()["metadata"]["uid"] == created["metadata"]["uid"]
        # PUT status changes the status only: the spec change in the same body is ignored.
        body = got.json()
        body["status"] = {"phase": "Running", "podIP": "10.0.0.9"}
        body["spec"]["containers"][0]["image"] = "other:1"
        put = c.put(f"{PODS}/s/status", json=body)
        assert put.status_code == 200, put.text
        assert put.json()["status"]["phase"] == "Running"
        assert put.json()["spec"]["containers"][0]["image"] == "busybox:latest"
        # PATCH status merges into the status; the main resource never changes status.
        headers = {"content-type": "application/merge-patch+json"}
        patched = c.patch(f"{PODS}/s/status", json={"status": {"phase": "Failed"}}, headers=headers)
        assert patched.status_code == 200, patched.text
        assert patched.json()["status"] == {"phase": "Failed", "podIP": "10.0.0.9"}
        main = c.patch(f"{PODS}/s", json={"status": {"phase": "Pending"}}, headers=headers)
        assert main.json()["status"]["phase"] == "Failed"
        # A stale resourceVersion on the status subresource is a Conflict.
        stale = dict(body, metadata=dict(body["metadata"], resourceVersion="1"))
        assert c.put(f"{PODS}/s/status", json=stale).status_code == 409
    assert [t for t, _, _ in verbs_of(api, "s")] == [
        "ObjectCreated",
        "ObjectStatusUpdated",
        "ObjectStatusUpdated",
    ]


def test_rollout_undo_is_recorded_as_rollback(api: ApiServer) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "busybox:latest"}]},
            },
        },
    }
    with api.client() as c:
        assert c.post(DEPLOYMENTS, json=deployment).status_code == 201
        # kubectl rollout undo sends its command in this header with a JSON patch of the template
        image = "/spec/template/spec/containers/0/image"
        patch = [{"op": "replace", "path": image, "value": "x:2"}]
        headers = {
            "content-type": "application/json-patch+json",
            "kubectl-command": "kubectl rollout undo",
        }
        response = c.patch(f"{DEPLOYMENTS}/web", json=patch, headers=headers)
        assert response.status_code == 200, response.text
        headers["kubectl-command"] = "kubectl patch"
        patch[0]["value"] = "x:3"
        assert c.patch(f"{DEPLOYMENTS}/web", json=patch, headers=headers).status_code == 200
    assert verbs_of(api, "web") == [
        ("ObjectCreated", "create", "admin"),
        ("ObjectUpdated", "rollback", "admin"),
        ("ObjectUpdated", "patch", "admin"),
    ]


def test_anonymous_access_only_when_enabled(
    api: ApiServer, api_context: ApiContext, tls: tuple[Path, Path]
) -> None:
    with api.client(user="") as c:
        response = c.get(PODS)
        assert response.status_code == 401 and response.json()["reason"] == "Unauthorized"
    with running_server(
        api_context, tls, allow_anonymous=True, anonymous_role="view", create_namespaces=False
    ) as url:
        anonymous = ApiServer(url, api_context, api.tmp, api.cert)
        with anonymous.client(user="") as c:
            assert c.get(PODS).status_code == 200
            denied = c.post(PODS, json=pod("anon"))
            assert denied.status_code == 403 and denied.json()["reason"] == "Forbidden"
            assert "system:anonymous" in denied.json()["message"]
            # A bad token is still refused, anonymous access or not.
            bad = c.get(PODS, headers={"authorization": "Bearer wrong"})
            assert bad.status_code == 401


def test_kubectl_get_events_from_controllers_and_the_agent(api: ApiServer) -> None:
    with api.client() as c:
        created = c.post(PODS, json=pod("ev")).json()
    uid = created["metadata"]["uid"]
    controllers = ControllerContext(
        api.ctx.writer, ObjectCache(), Settings(database_url=api.ctx.database_url)
    )
    scheduled = Event(
        "Scheduled",
        "Successfully assigned default/ev to n1",
        involved_kind="Pod",
        involved_name="ev",
        involved_namespace="default",
    )
    started = ContainerEvent(
        namespace="default",
        pod="ev",
        pod_uid=uid,
        node="n1",
        container="c",
        container_id="abc",
        image="busybox:latest",
        restart_count=0,
    )
    api.ctx.store.append(
        [
            controllers.kube_event(scheduled, component="default-scheduler", uid=uid),
            new_event(ContainerStarted, pod_runtime_stream(uid), started),
            new_event(ContainerStarted, pod_runtime_stream(uid), started),
        ]
    )
    out = api.kubectl("get", "events", "-n", "default").stdout
    lines = out.splitlines()
    assert lines[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert any("Scheduled" in line and "pod/ev" in line for line in lines)
    assert any("Started" in line and "Started container c" in line for line in lines)
    listed = json.loads(
        api.kubectl(
            "get", "events", "-n", "default", "-o", "json",
            "--field-selector", "involvedObject.name=ev,reason=Started",
        ).stdout
    )  # fmt: skip
    (event,) = listed["items"]
    assert event["count"] == 2 and event["source"] == {"component": "kubelet", "host": "n1"}
    assert event["involvedObject"]["fieldPath"] == "spec.containers{c}"
    described = api.kubectl("describe", "pod", "ev").stdout
    assert "Scheduled" in described and "Started container c" in described
