"""The Docker engine goes away under the agent and comes back (simulated with a socket proxy the
test stops and starts: restarting the real daemon would disturb every other test). The agent
keeps running, records what happened while it could not look, and carries on."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import docker
import pytest

from dockyard.agent.docker_runtime import DockerRuntime
from dockyard.store.events import EventStore
from tests.docker.agent_support import AgentHarness, container, harness, wait_for
from tests.docker.docker_proxy import DockerSocketProxy

pytestmark = pytest.mark.docker


@pytest.fixture
def proxy() -> Iterator[DockerSocketProxy]:
    p = DockerSocketProxy()
    p.start()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
def h(store: EventStore, proxy: DockerSocketProxy) -> Iterator[AgentHarness]:
    for found in harness(store):
        found.runtime.close()
        found.runtime = DockerRuntime(base_url=proxy.url, api_timeout=5.0)
        yield found


def _relist_failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("relist")]


def test_engine_away_and_back(
    h: AgentHarness, proxy: DockerSocketProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="dockyard.agent.agent")
    agent = h.start_agent()
    uid = h.create_pod("steady", [container("app", "sleep", "3600")],
                       terminationGracePeriodSeconds=1)  # fmt: skip
    wait_for(lambda: h.status("steady").get("phase") == "Running", what="Running")
    wait_for(agent.observer.connected.is_set, what="events stream connected")
    first = h.container_status("steady", "app")["containerID"].removeprefix("docker://")

    proxy.stop()  # the engine is gone for the agent
    wait_for(lambda: not agent.observer.connected.is_set(), what="events stream lost")
    # What happens while the agent cannot look: its container is killed.
    direct = docker.from_env(version="auto")
    try:
        direct.containers.get(first).kill()
    finally:
        direct.close()
    # Relists fail for a while (each one logged): nothing is recorded, nothing crashes.
    wait_for(lambda: len(_relist_failures(caplog)) >= 3, what="relists failing")
    assert all("Docker engine" in r.getMessage() for r in _relist_failures(caplog))
    assert not [e for e in h.events(uid, "ContainerExited") if e.data["containerID"] == first]

    proxy.start()  # the engine is back, same address
    wait_for(agent.observer.connected.is_set, timeout=30, what="events stream reconnected")
    assert agent.observer.reconnects >= 1

    def replaced() -> bool:
        status = h.container_status("steady", "app")
        return status.get("restartCount") == 1 and "running" in status.get("state", {})

    wait_for(replaced, timeout=30, what="killed container recorded and replaced")
    exits = [e for e in h.events(uid, "ContainerExited") if e.data["containerID"] == first]
    assert len(exits) == 1
    assert (exits[0].data["exitCode"], exits[0].data["reason"]) == (137, "Error")
    last = h.container_status("steady", "app")["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (137, "Error")
    assert all(thread.is_alive() for thread in agent._threads)
