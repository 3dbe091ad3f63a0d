"""Kubernetes' reporting of containers removed behind the agent's back (ContainerStatusUnknown,
exit 137, restartCount + 1) and of deleted pods (a terminal phase before the object goes)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import docker
import pytest

from dockyard.store.events import EventStore
from dockyard.store.writer import ObjectKey
from tests.docker.agent_support import ADMIN, AgentHarness, container, harness, wait_for

pytestmark = pytest.mark.docker


@pytest.fixture
def h(store: EventStore) -> Iterator[AgentHarness]:
    yield from harness(store)


def _remove_behind_the_agents_back(container_id: str) -> None:
    client = docker.from_env(version="auto")
    try:
        client.containers.get(container_id).remove(force=True)  # docker rm -f
    finally:
        client.close()


def _running_id(h: AgentHarness, pod: str) -> str:
    status = h.container_status(pod, "app")
    assert "running" in status["state"], status
    return str(status["containerID"]).removeprefix("docker://")


def test_vanished_container_is_status_unknown_and_restarted(h: AgentHarness) -> None:
    h.start_agent()
    h.create_pod("victim", [container("app", "sleep", "3600")], terminationGracePeriodSeconds=1)
    wait_for(lambda: h.status("victim").get("phase") == "Running", what="Running")
    first = _running_id(h, "victim")
    _remove_behind_the_agents_back(first)

    def replaced() -> dict[str, Any] | None:
        status = h.container_status("victim", "app")
        running = "running" in status.get("state", {})
        return status if running and status.get("restartCount") == 1 else None

    status = wait_for(replaced, what="replacement running with restartCount 1")
    terminated = status["lastState"]["terminated"]
    assert terminated["reason"] == "ContainerStatusUnknown"
    assert terminated["exitCode"] == 137
    assert terminated["containerID"] == f"docker://{first}"
    assert "could not be located" in terminated["message"]
    assert h.status("victim")["phase"] == "Running"


def test_vanished_container_under_never_is_not_restarted(h: AgentHarness) -> None:
    h.start_agent()
    h.create_pod("once", [container("app", "sleep", "3600")],
                 restartPolicy="Never", terminationGracePeriodSeconds=1)  # fmt: skip
    wait_for(lambda: h.status("once").get("phase") == "Running", what="Running")
    first = _running_id(h, "once")
    _remove_behind_the_agents_back(first)
    wait_for(lambda: h.status("once").get("phase") == "Failed", what="Failed")
    status = h.container_status("once", "app")
    assert status["state"]["terminated"]["reason"] == "ContainerStatusUnknown"
    assert status["state"]["terminated"]["exitCode"] == 137
    assert status["restartCount"] == 0
    uid = h.uids[0]
    apps = [c for c in h.containers(uid) if c.labels.get("io.dockyard.sandbox") != "true"]
    assert apps == []  # nothing was started in its place


def _status_phases_before_removal(h: AgentHarness, uid: str) -> list[str]:
    events = list(h.store.read_stream(uid))
    assert events[-1].type == "ObjectDeleted", [e.type for e in events]
    return [
        str((e.data["object"].get("status") or {}).get("phase"))
        for e in events
        if e.type == "ObjectStatusUpdated"
    ]


@pytest.mark.parametrize(
    ("command", "phase"),
    [
        (["sleep", "3600"], "Failed"),  # killed by SIGTERM: exit 143
        (["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"], "Succeeded"),
    ],
)
def test_deleted_pod_gets_a_terminal_phase_before_it_goes(
    h: AgentHarness, command: list[str], phase: str
) -> None:
    h.start_agent()
    uid = h.create_pod("doomed", [container("app", *command)], terminationGracePeriodSeconds=5)
    wait_for(lambda: h.status("doomed").get("phase") == "Running", what="Running")
    h.writer.delete(ObjectKey("Pod", h.namespace, "doomed"), actor=ADMIN, graceful=True)
    wait_for(lambda: h.pod("doomed") is None, timeout=30, what="pod removed")
    phases = _status_phases_before_removal(h, uid)
    assert phases[-1] == phase, phases
    assert not h.containers(uid)
    changes = [e.data["phase"] for e in h.events(uid, "PodPhaseChanged")]
    assert changes[-1] == phase
