"""The agent survives what goes wrong around it: its own SIGKILL, containers removed behind its
back, the Docker events stream dropping (a daemon restart, simulated: restarting the shared
engine would disturb every other test on this host)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from dockyard.store.events import EventStore
from tests.docker.agent_support import AgentHarness, container, harness, wait_for

pytestmark = pytest.mark.docker


@pytest.fixture
def h(store: EventStore) -> Iterator[AgentHarness]:
    yield from harness(store)


def _agent_process(h: AgentHarness, database_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DOCKYARD_DATABASE_URL": database_url,
        "DOCKYARD_AGENT_MAX_CONTAINER_RESTART_PERIOD_SECONDS": "2",
        "DOCKYARD_AGENT_RELIST_PERIOD_SECONDS": "0.5",
        "DOCKYARD_AGENT_POD_POLL_SECONDS": "0.2",
        "DOCKYARD_AGENT_NODE_IP": "127.0.0.1",
    }
    command = [sys.executable, "-m", "dockyard.cli.main", "agent", "--node", h.node]
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_agent_killed_while_starting_and_restarted(
    h: AgentHarness, database_url: str, tmp_path: Path
) -> None:
    names = [f"c{i}" for i in range(4)]
    uid = h.create_pod("many", [container(n, "sleep", "3600") for n in names],
                       terminationGracePeriodSeconds=1)  # fmt: skip
    log = tmp_path / "agent.log"
    first = _agent_process(h, database_url, log)
    try:
        # Kill it as soon as it has created the first app container, mid-way through the pod.
        wait_for(lambda: h.events(uid, "ContainerCreated"), timeout=30, what="first create")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    second = _agent_process(h, database_url, log)
    try:

        def all_running() -> bool:
            statuses = h.status("many").get("containerStatuses") or ()
            return (
                h.status("many").get("phase") == "Running"
                and all("running" in (s.get("state") or {}) for s in statuses)
                and len(statuses) == len(names)
            )

        wait_for(all_running, timeout=40, what=f"all containers running; log: {log.read_text()}")
        apps = [c for c in h.containers(uid) if c.labels.get("io.dockyard.sandbox") != "true"]
        per_name = Counter(c.labels["io.dockyard.container.name"] for c in apps)
        assert per_name == Counter(names), per_name  # one instance each: no duplicates
        sandboxes = [c for c in h.containers(uid) if c.labels.get("io.dockyard.sandbox") == "true"]
        assert len(sandboxes) == 1
        created = Counter(e.data["containerID"] for e in h.events(uid, "ContainerCreated"))
        started = Counter(e.data["containerID"] for e in h.events(uid, "ContainerStarted"))
        for app in apps:  # every container recorded exactly once, none lost
            assert created[app.id] == 1 and started[app.id] == 1
        assert all(count == 1 for count in created.values())
        assert {s["restartCount"] for s in h.status("many")["containerStatuses"]} == {0}
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(timeout=15)
        except subprocess.TimeoutExpired:
            second.kill()


def test_container_removed_behind_the_agents_back(h: AgentHarness) -> None:
    h.start_agent()
    uid = h.create_pod("victim", [container("app", "sleep", "3600")],
                       terminationGracePeriodSeconds=1)  # fmt: skip
    wait_for(lambda: h.status("victim").get("phase") == "Running", what="Running")
    first_id = h.container_status("victim", "app")["containerID"].removeprefix("docker://")
    client = docker.from_env(version="auto")
    try:
        client.containers.get(first_id).remove(force=True)
    finally:
        client.close()
    wait_for(
        lambda: (
            h.container_status("victim", "app").get("restartCount") == 1
            and "running" in h.container_status("victim", "app")["state"]
        ),
        what="replacement running",
    )
    exits = [e for e in h.events(uid, "ContainerExited") if e.data["containerID"] == first_id]
    assert len(exits) == 1
    assert exits[0].data["reason"] in ("ContainerStatusUnknown", "Error")


def test_events_stream_drop_is_survived(h: AgentHarness) -> None:
    agent = h.start_agent()
    uid = h.create_pod("steady", [container("app", "sh", "-c", "sleep 1; exit 1")],
                       terminationGracePeriodSeconds=1)  # fmt: skip
    wait_for(lambda: h.events(uid, "ContainerStarted"), what="started")
    wait_for(agent.observer.connected.is_set, what="events stream connected")
    agent.observer.drop()  # as if the daemon restarted: the stream ends
    wait_for(lambda: agent.observer.reconnects >= 1, what="events stream reconnected")
    assert agent.observer.since is not None  # resumed from the last event's sec.nanos
    wait_for(
        lambda: h.container_status("steady", "app").get("restartCount", 0) >= 2,
        what="restarts keep happening after the drop",
    )
