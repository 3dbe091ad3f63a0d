"""The object write path: events with actors, read-your-writes, names, conflicts, apply."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Engine, text

from dockyard.model.manifests import Document, load_documents
from dockyard.store.apply import ManifestRejected, apply_documents
from dockyard.store.events import EventStore
from dockyard.store.objects import ObjectsProjection
from dockyard.store.projections import ProjectionRunner
from dockyard.store.writer import (
    Actor,
    AlreadyExists,
    Conflict,
    NotFound,
    ObjectKey,
    ObjectWriter,
)

ALICE = Actor(
    name="alice",
    groups=("dev",),
    request_id="req-1",
    client_address="127.0.0.1",
    user_agent="kubectl/v1.32",
)


def pod(name: str, image: str = "busybox:latest", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", **meta},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }


@pytest.fixture
def writer(store: EventStore) -> ObjectWriter:
    return ObjectWriter(store)


def test_create_records_actor_and_is_readable_at_once(
    writer: ObjectWriter, store: EventStore
) -> None:
    created = writer.create(pod("web"), actor=ALICE)
    uid = created["metadata"]["uid"]
    (event,) = store.read_stream(uid)
    assert event.type == "ObjectCreated"
    assert event.metadata == {
        "actor": "alice",
        "groups": ["dev"],
        "source": "api",
        "verb": "create",
        "request_id": "req-1",
        "client_address": "127.0.0.1",
        "user_agent": "kubectl/v1.32",
    }
    stored = writer.get(ObjectKey("Pod", "default", "web"))
    assert stored is not None and stored.resource_version == event.position
    assert stored.body["metadata"]["resourceVersion"] == str(event.position)
    assert created["metadata"]["generation"] == 1 and "creationTimestamp" in created["metadata"]


def test_duplicate_name_is_already_exists_and_appends_nothing(
    writer: ObjectWriter, store: EventStore
) -> None:
    writer.create(pod("web"), actor=ALICE)
    head = store.head_position()
    with pytest.raises(AlreadyExists, match='pods "web" already exists'):
        writer.create(pod("web"), actor=ALICE)
    assert store.head_position() == head


def test_racing_creates_of_one_name_yield_one_object(writer: ObjectWriter, engine: Engine) -> None:
    outcomes: list[str] = []

    def create() -> None:
        try:
            writer.create(pod("race"), actor=ALICE)
            outcomes.append("created")
        except AlreadyExists:
            outcomes.append("exists")

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["created"] + ["exists"] * 5
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
    assert count == 1


def test_update_bumps_generation_on_spec_change_only(writer: ObjectWriter) -> None:
    created = writer.create(pod("web"), actor=ALICE)
    relabelled = pod("web", labels={"tier": "front"})
    updated = writer.update(relabelled, actor=ALICE)
    assert updated["metadata"]["generation"] == 1
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    respecced = writer.update(pod("web", image="busybox:1"), actor=ALICE)
    assert respecced["metadata"]["generation"] == 2


def test_stale_resource_version_is_a_conflict(writer: ObjectWriter, store: EventStore) -> None:
    created = writer.create(pod("web"), actor=ALICE)
    stale_rv = created["metadata"]["resourceVersion"]
    writer.update(pod("web", labels={"a": "1"}), actor=ALICE)
    head = store.head_position()
    with pytest.raises(Conflict, match="the object has been modified"):
        writer.update(pod("web", labels={"a": "2"}, resourceVersion=stale_rv), actor=ALICE)
    assert store.head_position() == head


def test_unchanged_update_appends_nothing(writer: ObjectWriter, store: EventStore) -> None:
    writer.create(pod("web"), actor=ALICE)
    head = store.head_position()
    writer.update(pod("web"), actor=ALICE)
    assert store.head_position() == head


def test_status_subresource_changes_status_only(writer: ObjectWriter) -> None:
    writer.create(pod("web"), actor=ALICE)
    with_status = pod("web", image="ignored:1")
    with_status["status"] = {"phase": "Running"}
    updated = writer.update(with_status, actor=ALICE, status_only=True)
    assert updated["status"] == {"phase": "Running"}
    assert updated["spec"]["containers"][0]["image"] == "busybox:latest"
    # and the main resource never changes status
    again = writer.update({**pod("web"), "status": {"phase": "Failed"}}, actor=ALICE)
    assert again["status"] == {"phase": "Running"}


def test_graceful_then_final_delete(writer: ObjectWriter, store: EventStore) -> None:
    created = writer.create(pod("web"), actor=ALICE)
    key = ObjectKey("Pod", "default", "web")
    terminating = writer.delete(key, actor=ALICE, graceful=True)
    assert "deletionTimestamp" in terminating["metadata"]
    assert writer.get(key) is not None
    writer.delete(key, actor=ALICE)
    assert writer.get(key) is None
    types = [e.type for e in store.read_stream(created["metadata"]["uid"])]
    assert types == ["ObjectCreated", "ObjectDeletionRequested", "ObjectDeleted"]
    with pytest.raises(NotFound, match='pods "web" not found'):
        writer.delete(key, actor=ALICE)


def test_inline_projection_agrees_with_the_async_runner(
    writer: ObjectWriter, store: EventStore, engine: Engine
) -> None:
    writer.create(pod("a"), actor=ALICE)
    writer.create(pod("b"), actor=ALICE)
    writer.update(pod("a", labels={"x": "y"}), actor=ALICE)
    writer.delete(ObjectKey("Pod", "default", "b"), actor=ALICE)
    writer.create(pod("b"), actor=ALICE)

    def snapshot() -> list[tuple[Any, ...]]:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text("SELECT * FROM objects ORDER BY uid"))]

    live = snapshot()
    runner = ProjectionRunner(engine, store, [ObjectsProjection()])
    runner.catch_up()
    assert snapshot() == live
    runner.rebuild(runner.get("objects"))
    assert snapshot() == live


MANIFEST = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: app, image: busybox:latest}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
"""


def docs(text_: str) -> list[Document]:
    return [Document("web.yaml", d) for d in load_documents(text_, "web.yaml")]


def test_apply_creates_then_reports_unchanged_and_configured(
    writer: ObjectWriter, store: EventStore
) -> None:
    first = apply_documents(writer, docs(MANIFEST), actor=ALICE)
    assert [(a.key.kind, a.outcome) for a in first] == [
        ("Deployment", "created"),
        ("Service", "created"),
    ]
    assert first[0].object["spec"]["replicas"] == 1  # defaults applied
    second = apply_documents(writer, docs(MANIFEST), actor=ALICE)
    assert [a.outcome for a in second] == ["unchanged", "unchanged"]
    third = apply_documents(writer, docs(MANIFEST.replace("port: 80", "port: 8080")), actor=ALICE)
    assert [a.outcome for a in third] == ["unchanged", "configured"]


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("image: busybox:latest}]\n---", "spec.template.spec.containers[0].image: Required value"),
        (
            "name: app, image: busybox:latest}]",
            'unknown field "spec.template.spec.containers[0].imagee"',
        ),
        ("kind: Service", 'no matches for kind "Servce" in version "v1"'),
        ("metadata: {name: web}\nspec:\n  selector: {app: web}", "metadata.name"),
    ],
)
def test_a_broken_document_appends_nothing(
    writer: ObjectWriter, store: EventStore, broken: str, message: str
) -> None:
    replacements = {
        "image: busybox:latest}]\n---": "image: ''}]\n---",
        "name: app, image: busybox:latest}]": "name: app, imagee: busybox:latest}]",
        "kind: Service": "kind: Servce",
        "metadata: {name: web}\nspec:\n  selector: {app: web}": (
            "metadata: {name: Web_Service}\nspec:\n  selector: {app: web}"
        ),
    }
    text_ = MANIFEST.replace(broken, replacements[broken])
    with pytest.raises(ManifestRejected) as caught:
        apply_documents(writer, docs(text_), actor=ALICE)
    assert message in str(caught.value)
    assert store.head_position() == 0
