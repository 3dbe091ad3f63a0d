"""Watch resumes from any old resourceVersion: nothing missed, nothing repeated."""

from __future__ import annotations

import json
from typing import Any

from tests.api.conftest import ApiServer

PODS = "/api/v1/namespaces/default/pods"


def pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox:latest"}]},
    }


def events(api: ApiServer, rv: str) -> list[tuple[str, str, str]]:
    with api.client() as c:
        params = {"watch": "1", "resourceVersion": rv, "timeoutSeconds": "1"}
        with c.stream("GET", PODS, params=params) as response:
            assert response.status_code == 200
            lines = [json.loads(line) for line in response.iter_lines() if line]
    return [
        (e["type"], e["object"]["metadata"]["name"], e["object"]["metadata"]["resourceVersion"])
        for e in lines
    ]


def test_resume_from_every_old_resource_version(api: ApiServer) -> None:
    with api.client() as c:
        start = c.get(PODS).json()["metadata"]["resourceVersion"]
        for name in ("a", "b"):
            assert c.post(PODS, json=pod(name)).status_code == 201
        patch = {"metadata": {"labels": {"x": "1"}}}
        headers = {"content-type": "application/merge-patch+json"}
        assert c.patch(f"{PODS}/a", json=patch, headers=headers).status_code == 200
        assert c.delete(f"{PODS}/b").status_code == 200
    history = events(api, start)
    assert [(t, n) for t, n, _ in history] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
        ("MODIFIED", "a"),
        ("DELETED", "b"),
    ]
    # Resuming from each event's resourceVersion yields exactly the events after it.
    for index, (_, _, rv) in enumerate(history):
        assert events(api, rv) == history[index + 1 :]


def test_watch_without_version_starts_with_current_objects(api: ApiServer) -> None:
    with api.client() as c:
        assert c.post(PODS, json=pod("a")).status_code == 201
    assert [(t, n) for t, n, _ in events(api, "")] == [("ADDED", "a")]
