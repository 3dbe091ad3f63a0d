"""A selecting watch sees objects enter (ADDED) and leave (DELETED) its selection."""

from __future__ import annotations

import json

import pytest

from dockyard.server.watch import selected_type
from tests.api.conftest import ApiServer

PODS = "/api/v1/namespaces/default/pods"
MERGE = {"content-type": "application/merge-patch+json"}


def pod(name: str, tier: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"tier": tier}},
        "spec": {"containers": [{"name": "c", "image": "busybox:latest"}]},
    }


def watch(api: ApiServer, rv: str, **params: str) -> list[tuple[str, str, str]]:
    with api.client() as c:
        query = {"watch": "1", "resourceVersion": rv, "timeoutSeconds": "1", **params}
        with c.stream("GET", PODS, params=query) as response:
            assert response.status_code == 200
            lines = [json.loads(line) for line in response.iter_lines() if line]
    return [
        (e["type"], e["object"]["metadata"]["name"], e["object"]["metadata"]["labels"]["tier"])
        for e in lines
    ]


def test_label_selector_watch_sends_added_and_deleted_on_transitions(api: ApiServer) -> None:
    with api.client() as c:
        start = c.get(PODS).json()["metadata"]["resourceVersion"]
        assert c.post(PODS, json=pod("a", "web")).status_code == 201
        assert c.post(PODS, json=pod("b", "db")).status_code == 201
        for name, tier in (("a", "db"), ("b", "web"), ("b", "web2"), ("a", "web")):
            patch = {"metadata": {"labels": {"tier": tier}}}
            assert c.patch(f"{PODS}/{name}", json=patch, headers=MERGE).status_code == 200
        assert c.patch(f"{PODS}/a", json={"spec": {}}, headers=MERGE).status_code == 200
        assert c.delete(f"{PODS}/a").status_code == 200
        assert c.delete(f"{PODS}/b").status_code == 200
    assert watch(api, start, labelSelector="tier=web") == [
        ("ADDED", "a", "web"),
        ("DELETED", "a", "db"),  # a leaves the selection: sent with its new state
        ("ADDED", "b", "web"),  # b enters it
        ("DELETED", "b", "web2"),
        ("ADDED", "a", "web"),
        ("DELETED", "a", "web"),  # deleted while selected
    ]
    # The same history through a field selector on the name.
    assert [t for t, _, _ in watch(api, start, fieldSelector="metadata.name=b")] == [
        "ADDED",
        "MODIFIED",
        "MODIFIED",
        "DELETED",
    ]


@pytest.mark.parametrize(
    ("event", "now", "before", "expected"),
    [
        ("ObjectCreated", True, False, "ADDED"),
        ("ObjectCreated", False, False, None),
        ("ObjectUpdated", True, True, "MODIFIED"),
        ("ObjectUpdated", True, False, "ADDED"),
        ("ObjectStatusUpdated", False, True, "DELETED"),
        ("ObjectDeletionRequested", False, False, None),
        ("ObjectDeleted", True, True, "DELETED"),
        ("ObjectDeleted", False, True, None),
    ],
)
def test_selected_type(event: str, now: bool, before: bool, expected: str | None) -> None:
    assert selected_type(event, now, before) == expected
