"""Node authorization over real HTTP: a node identity (``system:node:<n>`` in ``system:nodes``)
reads cluster-wide, writes its own Node and its own pods' status, deletes its own pods, and is
refused (403 naming user, verb, resource and reason) everything else."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from dockyard.cli.server import issue_node_token, kubeconfig_command, node_token_line
from dockyard.server.auth import User, parse_token_file
from dockyard.server.context import ApiContext
from dockyard.server.node_authz import Decision, NodeRequest, decide, node_name
from tests.api.conftest import running_server

ADMIN = "admin-token-node-authz"
NODE_A = "node-a-token-0123456789"
NODE_A_ADMIN = "node-a-admin-token-0123456789"
TOKENS = [
    (ADMIN, User("admin", "", ("system:masters",))),
    (NODE_A, User("system:node:node-a", "", ("system:nodes",))),
    # A node identity that also holds cluster-admin: NodeRestriction still applies to it.
    (NODE_A_ADMIN, User("system:node:node-a", "", ("system:nodes", "dockyard:cluster-admin"))),
]
PODS = "/api/v1/namespaces/default/pods"
NODES = "/api/v1/nodes"


class Server:
    def __init__(self, url: str, cert: Path, ctx: ApiContext) -> None:
        self.url, self.cert, self.ctx = url, cert, ctx

    def client(self, token: str) -> httpx.Client:
        verify = ssl.create_default_context(cafile=str(self.cert))
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=self.url, headers=headers, verify=verify, timeout=30)


@pytest.fixture
def server(api_context: ApiContext, tls: tuple[Path, Path]) -> Iterator[Server]:
    with running_server(api_context, tls, TOKENS) as url:
        yield Server(url, tls[0], api_context)


def pod(name: str, node: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox:latest"}]},
    }


def node(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": {}}


def forbidden(response: httpx.Response, *words: str) -> str:
    assert response.status_code == 403, response.text
    body = response.json()
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "Forbidden", 403)
    message = str(body["message"])
    assert 'User "system:node:node-a"' in message, message
    for word in words:
        assert word in message, message
    return message


@pytest.fixture
def seeded(server: Server) -> Server:
    with server.client(ADMIN) as admin:
        for body, path in (
            (node("node-b"), NODES),
            (pod("mine", "node-a"), PODS),
            (pod("theirs", "node-b"), PODS),
        ):
            assert admin.post(path, json=body).status_code == 201
    return server


def test_node_writes_its_own_node_and_its_own_pods_status(seeded: Server) -> None:
    with seeded.client(NODE_A) as c:
        created = c.post(NODES, json=node("node-a"))
        assert created.status_code == 201, created.text
        current = c.get(f"{NODES}/node-a").json()
        current["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
        written = c.put(f"{NODES}/node-a/status", json=current)
        assert written.status_code == 200, written.text
        assert written.json()["status"]["conditions"][0]["type"] == "Ready"
        patched = c.patch(
            f"{NODES}/node-a",
            json={"metadata": {"labels": {"zone": "a"}}},
            headers={"content-type": "application/merge-patch+json"},
        )
        assert patched.status_code == 200, patched.text

        mine = c.get(f"{PODS}/mine").json()
        mine["status"] = {"phase": "Running"}
        put = c.put(f"{PODS}/mine/status", json=mine)
        assert put.status_code == 200, put.text
        merge = {"status": {"phase": "Succeeded"}}
        patch = c.patch(
            f"{PODS}/mine/status",
            json=merge,
            headers={"content-type": "application/merge-patch+json"},
        )
        assert patch.status_code == 200 and patch.json()["status"]["phase"] == "Succeeded"
        deleted = c.delete(f"{PODS}/mine", params={"gracePeriodSeconds": "0"})
        assert deleted.status_code == 200, deleted.text
        assert c.get(f"{PODS}/mine").status_code == 404
        # Deleting an already-gone pod is the ordinary 404 (the agent's removal tolerates it).
        assert c.delete(f"{PODS}/mine").status_code == 404


def test_node_reads_cluster_wide(seeded: Server) -> None:
    with seeded.client(NODE_A) as c:
        for path in (
            "/api/v1/pods",
            f"{PODS}/theirs",
            "/api/v1/services",
            f"{NODES}/node-b",
            "/api/v1/namespaces",
            "/api/v1/namespaces/default",
            "/api/v1/events",
            "/apis/events.k8s.io/v1/events",
        ):
            assert c.get(path).status_code == 200, path
        listed = c.get("/api/v1/pods", params={"fieldSelector": "spec.nodeName=node-a"})
        assert [p["metadata"]["name"] for p in listed.json()["items"]] == ["mine"]
        with c.stream("GET", "/api/v1/pods", params={"watch": "1", "timeoutSeconds": "1"}) as w:
            assert w.status_code == 200


def test_node_is_refused_everything_else(seeded: Server) -> None:
    before = seeded.ctx.store.head_position()
    with seeded.client(NODE_A) as c:
        other = c.get(f"{NODES}/node-b").json()
        other["status"] = {"conditions": [{"type": "Ready", "status": "False"}]}
        forbidden(
            c.put(f"{NODES}/node-b/status", json=other),
            'cannot update resource "nodes/status"',
            'node "node-a" is not allowed to modify node "node-b"',
        )
        forbidden(
            c.put(f"{NODES}/node-b", json=other),
            'nodes "node-b" is forbidden',
            "not allowed to modify",
        )
        forbidden(c.post(NODES, json=node("node-c")), "cannot create", 'modify node "node-c"')
        forbidden(c.delete(f"{NODES}/node-b"), 'cannot delete resource "nodes"')
        theirs = c.get(f"{PODS}/theirs").json()
        theirs["status"] = {"phase": "Failed"}
        forbidden(
            c.put(f"{PODS}/theirs/status", json=theirs),
            'pods "theirs" is forbidden',
            'cannot update resource "pods/status"',
            "can only update pod status for pods with spec.nodeName set to itself",
        )
        forbidden(
            c.delete(f"{PODS}/theirs"),
            'cannot delete resource "pods"',
            "can only delete pods with spec.nodeName set to itself",
        )
        # Its own pod's spec is not the node's to change: only the status subresource is.
        forbidden(
            c.patch(
                f"{PODS}/mine",
                json={"metadata": {"labels": {"x": "y"}}},
                headers={"content-type": "application/merge-patch+json"},
            ),
            'cannot patch resource "pods"',
        )
        forbidden(c.post(PODS, json=pod("new", "node-a")), 'cannot create resource "pods"')
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox:latest"}]},
                },
            },
        }
        forbidden(
            c.post("/apis/apps/v1/namespaces/default/deployments", json=deployment),
            'cannot create resource "deployments" in API group "apps"',
            "no relationship found between node 'node-a' and this object",
        )
        forbidden(c.get("/apis/apps/v1/deployments"), 'cannot list resource "deployments"')
        forbidden(c.get("/api/v1/replicationcontrollers"), "replicationcontrollers")
        forbidden(c.get("/apis/dockyard.io/v1/alertroutes"), "alertroutes")
        forbidden(c.get("/metrics"), "metrics")
    assert seeded.ctx.store.head_position() == before  # nothing written by any of them


def test_node_restriction_holds_even_with_an_admin_role(seeded: Server) -> None:
    with seeded.client(NODE_A_ADMIN) as c:
        theirs = c.get(f"{PODS}/theirs").json()
        theirs["status"] = {"phase": "Failed"}
        forbidden(c.put(f"{PODS}/theirs/status", json=theirs), "spec.nodeName set to itself")
        forbidden(c.delete(f"{NODES}/node-b"), "may not delete nodes")
        # What only the role allows (not a Node or Pod write) still works.
        created = c.post("/api/v1/namespaces", json={"metadata": {"name": "extra"}})
        assert created.status_code == 201, created.text


def test_node_writes_are_recorded_with_the_node_as_actor(seeded: Server) -> None:
    with seeded.client(NODE_A) as c:
        mine = c.get(f"{PODS}/mine").json()
        mine["status"] = {"phase": "Running"}
        assert c.put(f"{PODS}/mine/status", json=mine).status_code == 200
    last = seeded.ctx.store.read_all(after=seeded.ctx.store.head_position() - 1)
    metadata = next(iter(last)).metadata
    assert metadata["actor"] == "system:node:node-a"
    assert metadata["groups"] == ["system:nodes"]


@pytest.mark.parametrize(
    ("request_", "bound_to", "allowed"),
    [
        (NodeRequest("get", "", "Pod", None, "default", "p"), None, True),
        (NodeRequest("get", "", "Pod", "log", "default", "p"), None, False),
        (NodeRequest("watch", "", "Service", None, "", None), None, True),
        (NodeRequest("list", "", "Secret", None, "default", None), None, False),
        (NodeRequest("update", "", "Node", "status", "", "a"), None, True),
        (NodeRequest("patch", "", "Node", None, "", "b"), None, False),
        (NodeRequest("update", "", "Pod", "status", "default", "p"), "a", True),
        (NodeRequest("update", "", "Pod", "status", "default", "p"), "b", False),
        (NodeRequest("update", "", "Pod", "status", "default", "p"), "", False),
        (NodeRequest("delete", "", "Pod", None, "default", "p"), "a", True),
        (NodeRequest("update", "", "Pod", None, "default", "p"), "a", False),
        (NodeRequest("create", "", "Event", None, "default", None), None, True),
        (NodeRequest("create", "apps", "Deployment", None, "default", None), None, False),
    ],
)
def test_decide(request_: NodeRequest, bound_to: str | None, allowed: bool) -> None:
    decision = decide("a", request_, bound_to)
    assert decision.allowed is allowed
    assert allowed or decision.reason


def test_a_pod_write_asks_for_the_binding_first() -> None:
    request = NodeRequest("delete", "", "Pod", None, "default", "p")
    assert decide("a", request) == Decision(False, needs_pod_binding=True)


def test_node_name() -> None:
    assert node_name(User("system:node:a", "", ("system:nodes",))) == "a"
    assert node_name(User("system:node:a")) is None  # not in the group: no node identity
    assert node_name(User("kubelet", "", ("system:nodes",))) is None
    assert node_name(User("system:node:", "", ("system:nodes",))) is None


def test_issued_node_token_line_parses_as_a_node(tmp_path: Path) -> None:
    token_file = tmp_path / "tokens.csv"
    token_file.write_text('admin-token,admin,admin,"system:masters"')  # no trailing newline
    token, user = issue_node_token(token_file, "worker-1")
    entries = parse_token_file(token_file.read_text())
    assert entries[-1] == (token, user)
    assert node_name(user) == "worker-1"
    assert entries[0][1].name == "admin"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert node_token_line("t", "n") == 't,system:node:n,,"system:nodes"\n'


def test_kubeconfig_issues_a_node_identity_that_the_server_authorizes(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from dockyard.settings import Settings

    token_file = tmp_path / "tokens.csv"
    settings = Settings(data_dir=tmp_path / "data")
    args = argparse.Namespace(
        token_file=token_file,
        user=None,
        node="node-a",
        issue=True,
        server=server.url,
        namespace="default",
    )
    assert kubeconfig_command(args, settings) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["users"][0]["name"] == "system:node:node-a"
    token = config["users"][0]["user"]["token"]
    # A server loading that file authorizes the token as node-a.
    entries = parse_token_file(token_file.read_text())
    assert [u for t, u in entries if t == token] == [
        User("system:node:node-a", "", ("system:nodes",))
    ]
    # Asking again finds the same identity instead of issuing another.
    assert kubeconfig_command(args, settings) == 0
    assert yaml.safe_load(capsys.readouterr().out)["users"][0]["user"]["token"] == token
    assert len(parse_token_file(token_file.read_text())) == 1
    bad = argparse.Namespace(**{**vars(args), "node": "Bad,Name"})
    assert kubeconfig_command(bad, settings) == 1
    assert "not a valid node name" in capsys.readouterr().err
    no_issue = argparse.Namespace(**{**vars(args), "node": "node-z", "issue": False})
    assert kubeconfig_command(no_issue, settings) == 1
    assert "add it with --issue" in capsys.readouterr().err
