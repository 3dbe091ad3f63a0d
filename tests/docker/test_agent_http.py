"""An agent that reaches the control plane only through the API server (no database access):
a pod runs end to end, restarts after a crash, is deleted in order; the agent endpoints refuse
what a node may not write."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from dockyard.agent.agent import Agent
from dockyard.agent.http_client import HttpControlPlane
from dockyard.cli.server import kubeconfig_for
from dockyard.server.auth import User
from dockyard.server.context import ApiContext
from dockyard.server.tls import ensure_self_signed
from dockyard.store.events import EventStore
from dockyard.store.writer import ObjectWriter
from tests.api.conftest import running_server
from tests.docker.agent_support import AgentHarness, container, harness, wait_for

pytestmark = pytest.mark.docker

NODE_TOKEN = "node-token-0123456789"
OTHER_NODE_TOKEN = "other-node-token-0123456789"
ADMIN_TOKEN = "admin-token-0123456789"


@dataclass
class Server:
    url: str
    cert: Path

    def client(self, token: str) -> httpx.Client:
        verify = ssl.create_default_context(cafile=str(self.cert))
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=self.url, headers=headers, verify=verify, timeout=30)


@pytest.fixture
def h(store: EventStore) -> Iterator[AgentHarness]:
    yield from harness(store)


@pytest.fixture
def server(
    h: AgentHarness, database_url: str, engine: Engine, store: EventStore, tmp_path: Path
) -> Iterator[Server]:
    # These tests exercise the HTTP transport, not authorization: the node's identity carries
    # the cluster-admin group too (test_agent_node_identity.py runs with the node's alone).
    node_groups = ("system:nodes", "dockyard:cluster-admin")
    tokens = [
        (NODE_TOKEN, User(f"system:node:{h.node}", "", node_groups)),
        (OTHER_NODE_TOKEN, User("system:node:someone-else", "", ("system:nodes",))),
        (ADMIN_TOKEN, User("admin", "", ("system:masters",))),
    ]
    yield from serve(h, database_url, engine, store, tmp_path, tokens)


def serve(
    h: AgentHarness,
    database_url: str,
    engine: Engine,
    store: EventStore,
    tmp_path: Path,
    tokens: list[tuple[str, User]],
) -> Iterator[Server]:
    """A real HTTPS API server for an HTTP agent (a fixture yields from this); the agent stops
    before the server does."""
    tls = ensure_self_signed(tmp_path / "tls")
    ctx = ApiContext(
        engine=engine,
        store=store,
        database_url=database_url,
        writer=ObjectWriter(store),
        poll_interval=0.2,
    )
    with running_server(ctx, tls, tokens) as url:
        try:
            yield Server(url, tls[0])
        finally:
            h.stop_agent()  # before the server goes: the agent's loops talk to it


def start_http_agent(h: AgentHarness, server: Server, tmp_path: Path) -> HttpControlPlane:
    kubeconfig = tmp_path / "node.kubeconfig"
    kubeconfig.write_text(
        kubeconfig_for(server.url, f"system:node:{h.node}", NODE_TOKEN, server.cert.read_bytes())
    )
    client = HttpControlPlane.from_kubeconfig(kubeconfig, h.node)
    h.agent = Agent(h.config, runtime=h.runtime, client=client)
    h.agent.start()
    return client


def test_pod_runs_end_to_end_through_the_api(
    h: AgentHarness, server: Server, engine: Engine, tmp_path: Path
) -> None:
    client = start_http_agent(h, server, tmp_path)
    try:
        uid = h.create_pod("crasher", [container("app", "sh", "-c", "sleep 1; exit 3")],
                           terminationGracePeriodSeconds=1)  # fmt: skip
        wait_for(lambda: h.status("crasher").get("phase") == "Running", what="Running")
        wait_for(
            lambda: h.container_status("crasher", "app").get("restartCount", 0) >= 1,
            what="restarted after the crash",
        )
        last = h.container_status("crasher", "app")["lastState"]["terminated"]
        assert (last["exitCode"], last["reason"]) == (3, "Error")
        # Facts came in over HTTP, stamped by the server with the node's identity.
        exits = h.events(uid, "ContainerExited")
        assert exits and exits[0].data["exitCode"] == 3
        assert exits[0].metadata["actor"] == f"system:node:{h.node}"
        assert exits[0].metadata["source"] == "agent"
        with engine.connect() as conn:
            lease = conn.exec_driver_sql(
                "SELECT holder FROM node_leases WHERE node_name = %s", (h.node,)
            ).scalar_one()
        assert lease.startswith(f"{h.node}@")
        with server.client(ADMIN_TOKEN) as admin:
            node = admin.get(f"/api/v1/nodes/{h.node}").json()
            assert node["status"]["conditions"][0]["reason"] == "KubeletReady"
            # Graceful deletion through the API: the agent stops the containers, then removes
            # the pod object with a uid precondition.
            path = f"/api/v1/namespaces/{h.namespace}/pods/crasher"
            assert admin.delete(path).status_code == 202
            wait_for(lambda: admin.get(path).status_code == 404, what="pod removed")
        wait_for(lambda: not h.containers(uid), what="containers removed")
    finally:
        h.stop_agent()
        client.close()


def _fact(uid: str, node: str, type_: str = "PodPhaseChanged") -> dict[str, Any]:
    data = {"namespace": "x", "pod": "p", "podUID": uid, "node": node,
            "previousPhase": None, "phase": "Running"}  # fmt: skip
    return {"stream": f"pod-runtime:{uid}", "type": type_, "data": data}


def test_agent_endpoints_refuse_what_a_node_may_not_write(h: AgentHarness, server: Server) -> None:
    uid = h.create_pod("bound", [container("app", "sleep", "3600")])
    facts = f"/apis/dockyard.io/v1/nodes/{h.node}/facts"
    with server.client(NODE_TOKEN) as node, server.client(OTHER_NODE_TOKEN) as other:
        ok = node.post(facts, json={"items": [_fact(uid, h.node)]})
        assert ok.status_code == 201, ok.text
        recorded = ok.json()["items"][0]
        assert recorded["metadata"]["actor"] == f"system:node:{h.node}"
        read = node.get(facts, params={"stream": f"pod-runtime:{uid}"})
        assert [e["eventID"] for e in read.json()["items"]] == [recorded["eventID"]]

        unknown = node.post(facts, json={"items": [_fact(uid, h.node, "ObjectCreated")]})
        assert unknown.status_code == 400
        assert "items[0].type" in unknown.json()["message"]
        bad_payload = _fact(uid, h.node)
        del bad_payload["data"]["phase"]
        invalid = node.post(facts, json={"items": [bad_payload]})
        assert invalid.status_code == 400 and "items[0].data" in invalid.json()["message"]
        wrong_stream = {**_fact(uid, h.node), "stream": "pod-runtime:not-a-uid"}
        assert node.post(facts, json={"items": [wrong_stream]}).status_code == 400
        lying = node.post(facts, json={"items": [_fact(uid, "someone-else")]})
        assert lying.status_code == 400 and "data.node" in lying.json()["message"]
        # Another node may not write this node's facts, nor a pod bound here under its own name.
        assert other.post(facts, json={"items": [_fact(uid, h.node)]}).status_code == 403
        elsewhere = "/apis/dockyard.io/v1/nodes/someone-else/facts"
        stolen = other.post(elsewhere, json={"items": [_fact(uid, "someone-else")]})
        assert stolen.status_code == 403
        lease = f"/apis/dockyard.io/v1/nodes/{h.node}/lease"
        assert node.put(lease, json={"holderIdentity": ""}).status_code == 400
        renewed = node.put(lease, json={"holderIdentity": "me", "leaseDurationSeconds": 5})
        assert renewed.status_code == 200
        assert other.put(lease, json={"holderIdentity": "me"}).status_code == 403
    # Nothing half-written: only the one good fact is in the stream.
    assert len(h.events(uid)) == 1


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "dockyard.cli.main", "agent", *args]


def _env_without_database() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env.update(
        DOCKYARD_AGENT_MAX_CONTAINER_RESTART_PERIOD_SECONDS="2",
        DOCKYARD_AGENT_RELIST_PERIOD_SECONDS="0.5",
        DOCKYARD_AGENT_POD_POLL_SECONDS="0.2",
        DOCKYARD_AGENT_NODE_IP="127.0.0.1",
        DOCKYARD_DATA_DIR="/nonexistent/dockyard-agent-must-not-use-a-database",
    )
    return env


def test_cli_agent_with_server_and_token_file_needs_no_database(
    h: AgentHarness, server: Server, tmp_path: Path
) -> None:
    token_file = tmp_path / "node-token"
    token_file.write_text(NODE_TOKEN + "\n")
    log = tmp_path / "agent.log"
    command = _cli("--node", h.node, "--server", server.url, "--token-file", str(token_file),
                   "--certificate-authority", str(server.cert))  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=_env_without_database(), stdout=out, stderr=subprocess.STDOUT
        )
    try:
        h.create_pod("remote", [container("app", "sleep", "3600")],
                     terminationGracePeriodSeconds=1)  # fmt: skip
        try:
            wait_for(lambda: h.status("remote").get("phase") == "Running", timeout=90)
        except AssertionError:
            raise AssertionError(f"not Running; agent log:\n{log.read_text()}") from None
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    assert process.returncode == 0, log.read_text()


def test_cli_agent_rejects_incomplete_server_options(h: AgentHarness, tmp_path: Path) -> None:
    missing_token = subprocess.run(
        _cli("--node", h.node, "--server", "https://127.0.0.1:1"),
        env=_env_without_database(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert missing_token.returncode == 1
    assert "--server needs --token-file" in missing_token.stderr
    assert "Traceback" not in missing_token.stderr
    broken = tmp_path / "kubeconfig"
    broken.write_text("apiVersion: v1\nkind: Config\ncurrent-context: nowhere\n")
    bad_config = subprocess.run(
        _cli("--node", h.node, "--kubeconfig", str(broken)),
        env=_env_without_database(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad_config.returncode == 1
    assert "contexts: no entry named 'nowhere'" in bad_config.stderr
    assert "Traceback" not in bad_config.stderr
