"""The real agent against the API with a plain node identity (``system:node:<n>`` in
``system:nodes``, no admin role): the node authorizer alone lets it register its Node, run a
pod, report its status and remove it after a graceful deletion."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from dockyard.server.auth import User
from dockyard.store.events import EventStore
from tests.docker.agent_support import AgentHarness, container, harness, wait_for
from tests.docker.test_agent_http import (
    ADMIN_TOKEN,
    NODE_TOKEN,
    Server,
    serve,
    start_http_agent,
)

pytestmark = pytest.mark.docker


@pytest.fixture
def h(store: EventStore) -> Iterator[AgentHarness]:
    yield from harness(store)


@pytest.fixture
def server(
    h: AgentHarness, database_url: str, engine: Engine, store: EventStore, tmp_path: Path
) -> Iterator[Server]:
    tokens = [
        (NODE_TOKEN, User(f"system:node:{h.node}", "", ("system:nodes",))),
        (ADMIN_TOKEN, User("admin", "", ("system:masters",))),
    ]
    yield from serve(h, database_url, engine, store, tmp_path, tokens)


def test_agent_runs_a_pod_with_only_a_node_identity(
    h: AgentHarness, server: Server, tmp_path: Path
) -> None:
    client = start_http_agent(h, server, tmp_path)
    try:
        uid = h.create_pod("web", [container("app", "sleep", "3600")],
                           terminationGracePeriodSeconds=1)  # fmt: skip
        wait_for(lambda: h.status("web").get("phase") == "Running", timeout=60, what="Running")
        with server.client(ADMIN_TOKEN) as admin:
            node = admin.get(f"/api/v1/nodes/{h.node}").json()
            assert node["status"]["conditions"][0]["reason"] == "KubeletReady"
            path = f"/api/v1/namespaces/{h.namespace}/pods/web"
            assert admin.delete(path).status_code == 202
            # The agent stops the container, then deletes the pod object (its own pod).
            wait_for(lambda: admin.get(path).status_code == 404, timeout=60, what="pod removed")
        wait_for(lambda: not h.containers(uid), what="containers removed")
        # The pod's status writes and its final deletion were the node's, over HTTP.
        object_events = h.store.read_stream(uid)
        statuses = [e for e in object_events if e.type == "ObjectStatusUpdated"]
        assert object_events[-1].type == "ObjectDeleted"
        assert object_events[-1].metadata["actor"] == f"system:node:{h.node}"
        assert statuses and statuses[-1].metadata["actor"] == f"system:node:{h.node}"
        assert statuses[-1].metadata["groups"] == ["system:nodes"]
    finally:
        h.stop_agent()
        client.close()
