"""Every client mistake is a Kubernetes Status with the right code and reason; nothing written."""

from __future__ import annotations

import json
from typing import Any

from tests.api.conftest import MAX_BODY, ApiServer

PODS = "/api/v1/namespaces/default/pods"
POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p"},
    "spec": {"containers": [{"name": "c", "image": "busybox:latest"}]},
}


def status(response: Any, code: int, reason: str) -> dict[str, Any]:
    assert response.status_code == code, response.text
    body: dict[str, Any] = response.json()
    assert body["kind"] == "Status" and body["status"] == "Failure"
    assert (body["code"], body["reason"]) == (code, reason), body
    return body


def head(api: ApiServer) -> int:
    return api.ctx.store.head_position()


def test_every_status_error(api: ApiServer) -> None:
    with api.client() as c:
        before = head(api)
        status(c.get(f"{PODS}/missing"), 404, "NotFound")
        status(
            c.post(PODS, content=b"{not json", headers={"content-type": "application/json"}),
            400,
            "BadRequest",
        )
        invalid = dict(POD, spec={"containers": [{"name": "c", "image": "", "bogus": 1}]})
        body = status(c.post(PODS, json=invalid), 422, "Invalid")
        fields = [cause["field"] for cause in body["details"]["causes"]]
        assert "spec.containers[0].bogus" in fields
        status(c.post(PODS, json=dict(POD, kind="Service")), 400, "BadRequest")
        big = dict(POD, metadata={"name": "p", "annotations": {"a": "x" * MAX_BODY}})
        status(c.post(PODS, json=big), 413, "RequestEntityTooLarge")
        status(c.get(PODS, params={"labelSelector": "a in (b"}), 400, "BadRequest")
        status(c.get(PODS, params={"fieldSelector": "spec.bogus=1"}), 400, "BadRequest")
        status(c.post("/api/v1/namespaces/ghost/pods", json=POD), 404, "NotFound")
        status(c.delete(PODS), 405, "MethodNotAllowed")
        status(
            c.patch(f"{PODS}/p", content=b"{}", headers={"content-type": "text/plain"}),
            415,
            "UnsupportedMediaType",
        )
        assert head(api) == before  # nothing written by any of them
        created = c.post(PODS, json=POD)
        assert created.status_code == 201
        status(c.post(PODS, json=POD), 409, "AlreadyExists")
        stale = dict(POD, metadata={"name": "p", "resourceVersion": "1"})
        status(c.put(f"{PODS}/p", json=stale), 409, "Conflict")
        bad_patch = [{"op": "replace", "path": "/nope/x", "value": 1}]
        status(
            c.patch(
                f"{PODS}/p",
                content=json.dumps(bad_patch),
                headers={"content-type": "application/json-patch+json"},
            ),
            422,
            "Invalid",
        )


def test_authentication_and_roles(api: ApiServer) -> None:
    with api.client(user="") as anonymous:
        status(anonymous.get(PODS), 401, "Unauthorized")
        assert anonymous.get("/healthz").text == "ok"
    with api.client() as admin:
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
        assert admin.post("/api/v1/namespaces", json=ns).status_code == 201
    team_pods = "/api/v1/namespaces/team-a/pods"
    with api.client("victor") as viewer:
        assert viewer.get(team_pods).status_code == 200
        body = status(viewer.post(team_pods, json=POD), 403, "Forbidden")
        assert 'User "victor" cannot create resource "pods"' in body["message"]
        status(viewer.get(PODS), 403, "Forbidden")
    with api.client("alice") as editor:
        # A forwarded-for header does not choose the address the audit trail records.
        forged = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "http"}
        assert editor.post(team_pods, json=POD, headers=forged).status_code == 201
        status(editor.delete("/api/v1/namespaces/team-a"), 403, "Forbidden")
    with api.client() as admin:
        events = admin.get("/api/v1/namespaces/team-a/pods/p").json()
        assert events["metadata"]["name"] == "p"
    # the write recorded who did it, from where, with which request id; not the token
    (recorded,) = [
        e
        for e in api.ctx.store.read_all()
        if e.data["object"]["metadata"].get("namespace") == "team-a"
    ]
    meta = recorded.metadata
    assert (meta["actor"], meta["verb"], meta["groups"]) == (
        "alice",
        "create",
        ["dockyard:edit:team-a"],
    )
    assert meta["request_id"] and meta["client_address"] == "127.0.0.1"
    assert "python-httpx" in meta["user_agent"]
    assert "alice-token" not in json.dumps(meta)


def test_dry_run_writes_nothing(api: ApiServer) -> None:
    with api.client() as c:
        before = head(api)
        response = c.post(PODS, json=POD, params={"dryRun": "All"})
        assert response.status_code == 200 and response.json()["metadata"]["uid"]
        assert head(api) == before
        assert c.get(f"{PODS}/p").status_code == 404


def test_ops_endpoints(api: ApiServer) -> None:
    with api.client() as c:
        c.get(PODS)
        ready = c.get("/readyz")
        assert ready.status_code == 200, ready.text
        metrics = c.get("/metrics").text
        assert 'apiserver_request_total{verb="get",resource="pods",code="200"}' in metrics
        assert "dockyard_log_head_position" in metrics
        assert c.get("/version").json()["minor"] == "32"


WRONG_UID = "00000000-0000-4000-8000-000000000000"
MERGE = {"content-type": "application/merge-patch+json"}


def precondition_failed(response: Any, *, uid: str = "", rv: str = "") -> None:
    body = status(response, 409, "Conflict")
    if uid:
        wanted = f"Precondition failed: UID in precondition: {WRONG_UID}, UID in object meta: {uid}"
    else:
        wanted = f"Precondition failed: ResourceVersion in precondition: 1, ResourceVersion in object meta: {rv}"  # noqa: E501
    assert body["message"] == f'Operation cannot be fulfilled on pods "p": {wanted}', body


def test_writes_naming_another_uid_are_conflicts_and_write_nothing(api: ApiServer) -> None:
    with api.client() as c:
        created = c.post(PODS, json=POD).json()
        uid = created["metadata"]["uid"]
        before = head(api)
        wrong = json.loads(json.dumps(created))
        wrong["metadata"]["uid"] = WRONG_UID
        wrong["metadata"].pop("resourceVersion")
        wrong["status"] = {"phase": "Failed"}
        precondition_failed(c.put(f"{PODS}/p", json=wrong), uid=uid)
        precondition_failed(c.put(f"{PODS}/p/status", json=wrong), uid=uid)
        uid_patch = {"metadata": {"uid": WRONG_UID}, "status": {"phase": "Failed"}}
        precondition_failed(c.patch(f"{PODS}/p", json=uid_patch, headers=MERGE), uid=uid)
        precondition_failed(c.patch(f"{PODS}/p/status", json=uid_patch, headers=MERGE), uid=uid)
        # DeleteOptions.preconditions: uid and resourceVersion, the same way.
        delete_uid = {"kind": "DeleteOptions", "preconditions": {"uid": WRONG_UID}}
        precondition_failed(c.request("DELETE", f"{PODS}/p", json=delete_uid), uid=uid)
        current_rv = c.get(f"{PODS}/p").json()["metadata"]["resourceVersion"]
        delete_rv = {"kind": "DeleteOptions", "preconditions": {"resourceVersion": "1"}}
        precondition_failed(c.request("DELETE", f"{PODS}/p", json=delete_rv), rv=current_rv)
        assert head(api) == before  # nothing written by any of them
        assert c.get(f"{PODS}/p").json()["metadata"]["uid"] == uid
        # The stored uid (or none) is accepted.
        right = json.loads(json.dumps(created))
        right["status"] = {"phase": "Running"}
        del right["metadata"]["resourceVersion"]
        written = c.put(f"{PODS}/p/status", json=right)
        assert written.status_code == 200 and written.json()["status"]["phase"] == "Running"
        ok = {"kind": "DeleteOptions", "preconditions": {"uid": uid, "resourceVersion": None}}
        assert c.request("DELETE", f"{PODS}/p", json=ok).status_code == 200


def test_a_write_from_a_namesakes_body_does_not_touch_the_new_object(api: ApiServer) -> None:
    with api.client() as c:
        old = c.post(PODS, json=POD).json()
        assert c.delete(f"{PODS}/p").status_code == 200
        new = c.post(PODS, json=POD).json()
        assert new["metadata"]["uid"] != old["metadata"]["uid"]
        before = head(api)
        old["status"] = {"phase": "Succeeded"}
        del old["metadata"]["resourceVersion"]
        body = status(c.put(f"{PODS}/p/status", json=old), 409, "Conflict")
        assert f"UID in object meta: {new['metadata']['uid']}" in body["message"]
        assert head(api) == before
        assert c.get(f"{PODS}/p").json()["status"].get("phase") != "Succeeded"
