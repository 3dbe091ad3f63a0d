"""Shared helpers of the node agent's Docker tests: a real agent on a real engine and store.

Each test gets its own node name; pods are created through ObjectWriter with ``spec.nodeName``
set (the scheduler's job elsewhere). Cleanup removes every container labelled with the pods'
uids, so a failing test leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import docker

from dockyard.agent.agent import Agent, AgentConfig
from dockyard.agent.client import StoreControlPlane
from dockyard.agent.docker_runtime import DockerRuntime
from dockyard.agent.runtime import LABEL_POD_UID
from dockyard.model.meta import to_dict
from dockyard.model.validation import parse_object
from dockyard.store.events import EventStore, RecordedEvent
from dockyard.store.writer import Actor, ObjectKey, ObjectWriter

T = TypeVar("T")
IMAGE = "busybox:latest"
ADMIN = Actor(name="test-admin", source="test")


def wait_for(check: Callable[[], T | None], *, timeout: float = 20.0, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.05)


def container(name: str, *command: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "image": IMAGE, "imagePullPolicy": "IfNotPresent"}
    if command:
        body["command"] = list(command)
    body.update(extra)
    return body


class AgentHarness:
    def __init__(self, store: EventStore, **config: Any) -> None:
        self.store = store
        self.node = f"node-{uuid.uuid4().hex[:8]}"
        self.namespace = f"t-{uuid.uuid4().hex[:8]}"
        self.writer = ObjectWriter(store)
        self.runtime = DockerRuntime()
        self.uids: list[str] = []
        defaults: dict[str, Any] = {
            "relist_seconds": 0.5,
            "pod_poll_seconds": 0.2,
            "resync_seconds": 5.0,
            "max_container_restart_period": 2.0,
            "host_ip": "127.0.0.1",
        }
        defaults.update(config)
        self.config = AgentConfig(node=self.node, **defaults)
        self.agent: Agent | None = None

    def start_agent(self) -> Agent:
        self.agent = Agent(
            self.config, runtime=self.runtime, client=StoreControlPlane(self.store, self.node)
        )
        self.agent.start()
        return self.agent

    def stop_agent(self) -> None:
        if self.agent is not None:
            self.agent.stop()
            self.agent = None

    def create_pod(self, name: str, containers: list[dict[str, Any]], **spec: Any) -> str:
        manifest = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {"containers": containers, "nodeName": self.node, **spec},
        }
        body = to_dict(parse_object(manifest))
        created = self.writer.create(body, actor=ADMIN)
        uid = str(created["metadata"]["uid"])
        self.uids.append(uid)
        return uid

    def pod(self, name: str) -> dict[str, Any] | None:
        stored = self.writer.get(ObjectKey("Pod", self.namespace, name))
        return stored.body if stored else None

    def status(self, name: str) -> dict[str, Any]:
        body = self.pod(name) or {}
        return body.get("status") or {}

    def container_status(self, pod: str, container: str) -> dict[str, Any]:
        for status in self.status(pod).get("containerStatuses") or ():
            if status["name"] == container:
                return dict(status)
        return {}

    def events(self, uid: str, type_: str | None = None) -> list[RecordedEvent]:
        found = self.store.read_stream(f"pod-runtime:{uid}")
        return [e for e in found if type_ is None or e.type == type_]

    def containers(self, uid: str) -> list[Any]:
        client = docker.from_env(version="auto")
        try:
            return list(
                client.containers.list(all=True, filters={"label": f"{LABEL_POD_UID}={uid}"})
            )
        finally:
            client.close()

    def cleanup(self) -> None:
        self.stop_agent()
        client = docker.from_env(version="auto")
        try:
            for uid in self.uids:
                for found in client.containers.list(
                    all=True, filters={"label": f"{LABEL_POD_UID}={uid}"}
                ):
                    with contextlib.suppress(docker.errors.APIError):
                        found.remove(force=True)
        finally:
            client.close()
            self.runtime.close()


def harness(store: EventStore, **config: Any) -> Iterator[AgentHarness]:
    h = AgentHarness(store, **config)
    try:
        yield h
    finally:
        h.cleanup()
