"""Fixtures for the notifier tests: a fake Slack, and pods that crash through the log."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

import dockyard.notify  # noqa: F401  (registers AlertRoute)
from dockyard.model.meta import to_dict
from dockyard.model.validation import parse_object
from dockyard.notify.notifier import Notifier
from dockyard.notify.sender import Sender
from dockyard.notify.transport import SlackWebApi
from dockyard.store.events import EventStore
from dockyard.store.writer import Actor, ObjectKey, ObjectWriter
from tests.notify.fake_slack import TOKEN, FakeSlack

USER = Actor("alice@example.com", groups=("devs",), source="api")
AGENT = Actor("system:node:node-1", source="agent")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.close()


@pytest.fixture
def writer(store: EventStore) -> ObjectWriter:
    return ObjectWriter(store)


def route_body(name: str, **spec: Any) -> dict[str, Any]:
    spec.setdefault("destination", {"slack": {"channel": "CALERTS01"}})
    return {
        "apiVersion": "dockyard.io/v1",
        "kind": "AlertRoute",
        "metadata": {"name": name},
        "spec": spec,
    }


def make_route(writer: ObjectWriter, name: str, **spec: Any) -> dict[str, Any]:
    return writer.create(to_dict(parse_object(route_body(name, **spec))), actor=USER)


def make_deployment(
    writer: ObjectWriter, namespace: str, name: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    template = {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "app", "image": "busybox:1"}]},
    }
    deployment = writer.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": template,
            },
        },
        actor=USER,
    )
    rs = writer.create(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{name}-abc",
                "namespace": namespace,
                "labels": {"app": name},
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": name,
                        "uid": deployment["metadata"]["uid"],
                        "controller": True,
                    }
                ],
            },
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": template,
            },
        },
        actor=Actor("system:controller:deployment", source="controller"),
    )
    return deployment, rs


def change_image(writer: ObjectWriter, deployment: dict[str, Any], image: str) -> None:
    body = copy.deepcopy(deployment)
    body["metadata"].pop("resourceVersion", None)
    body["spec"]["template"]["spec"]["containers"][0]["image"] = image
    writer.update(body, actor=USER, verb="apply")


def make_pod(
    writer: ObjectWriter,
    namespace: str,
    name: str,
    *,
    owner: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
    node: str = "node-1",
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels or {}}
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
                "controller": True,
            }
        ]
    pod = writer.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": "busybox:1"}]},
        },
        actor=USER,
    )
    set_status(writer, pod, restart_count=0, running=True)
    return pod


def set_status(
    writer: ObjectWriter,
    pod: dict[str, Any],
    *,
    restart_count: int,
    exit_code: int | None = None,
    reason: str | None = None,
    waiting: str | None = None,
    running: bool = False,
    terminated: bool = False,
    container: str = "app",
) -> None:
    """``terminated``: the instance ``restart_count`` itself ended with ``exit_code`` and
    ``reason`` (``state.terminated``); otherwise they describe ``lastState``."""
    meta = pod["metadata"]
    current = writer.get(ObjectKey("Pod", meta["namespace"], meta["name"]))
    assert current is not None
    body = copy.deepcopy(current.body)
    state: dict[str, Any] = {}
    if waiting:
        state = {"waiting": {"reason": waiting, "message": "back-off restarting failed container"}}
    elif running:
        state = {"running": {"startedAt": "2026-11-26T10:00:00Z"}}
    elif terminated:
        ended = {"exitCode": exit_code, "reason": reason, "finishedAt": "2026-11-26T10:00:00Z"}
        state = {"terminated": ended}
    status: dict[str, Any] = {
        "name": container,
        "restartCount": restart_count,
        "state": state,
        "image": "busybox:1",
        "ready": running,
    }
    if exit_code is not None and not (terminated and restart_count == 0):
        status["lastState"] = {
            "terminated": {
                "exitCode": exit_code,
                "reason": reason,
                "finishedAt": "2026-11-26T10:00:00Z",
            }
        }
    body["status"] = {"phase": "Running", "containerStatuses": [status]}
    writer.update(body, actor=AGENT, status_only=True)


def crash(
    writer: ObjectWriter,
    pod: dict[str, Any],
    restart_count: int,
    *,
    exit_code: int = 1,
    reason: str = "Error",
) -> None:
    """The crash that leads to restart ``restart_count``, as the agent reports it: the
    instance before it terminated, then waiting in CrashLoopBackOff with that end in
    ``lastState`` (``restartCount`` is still the dead instance's own)."""
    dead = restart_count - 1
    set_status(writer, pod, restart_count=dead, exit_code=exit_code, reason=reason, terminated=True)
    set_status(
        writer,
        pod,
        restart_count=dead,
        exit_code=exit_code,
        reason=reason,
        waiting="CrashLoopBackOff",
    )


_SENDERS: list[Sender] = []


@pytest.fixture(autouse=True)
def _dispose_senders() -> Iterator[None]:
    yield
    while _SENDERS:
        _SENDERS.pop().dispose()


def make_sender(
    engine: Engine, slack: FakeSlack, *, interval: float = 0.0, token: str | None = TOKEN
) -> Sender:
    sender = Sender(
        engine,
        token_for=lambda name: token,
        api_for=lambda t: SlackWebApi(t, slack.url, 1.0),
        channel_interval=interval,
        timeout=1.0,
    )
    _SENDERS.append(sender)
    return sender


def pump(
    notifier: Notifier, sender: Sender, until: Callable[[], bool], timeout: float = 20.0
) -> None:
    """Run the notifier and the sender until ``until()`` holds (or fail at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        notifier.catch_up()
        while sender.run_once():
            pass
        if until():
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached before the deadline")
        time.sleep(0.05)


def outbox(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = (
            conn.exec_driver_sql(
                "SELECT id, kind, state, last_error, channel_id, ts, dedup_key, attempts "
                "FROM notify_outbox ORDER BY id"
            )
            .mappings()
            .fetchall()
        )
    return [dict(r) for r in rows]
