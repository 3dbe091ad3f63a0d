"""The real Docker daemon is restarted under a running agent.

Disruptive: stopping dockerd stops every container on the host (live-restore is off), so this
runs in ``scripts/test``'s serial phase, never beside other tests. The daemon is started again
exactly as it was (its own argv, its output appended to the same log, detached like
``nohup dockerd &``), and a ``finally`` brings it back even when the test fails.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from dockyard.store.events import EventStore
from tests.docker.agent_support import AgentHarness, container, harness, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.disruptive]

FALLBACK_LOG = "/var/log/dockyard-test-dockerd.log"
SANDBOX_LABEL = "io.dockyard.sandbox"
NAME_LABEL = "io.dockyard.container.name"


@dataclass(frozen=True)
class Dockerd:
    pid: int
    argv: list[str]
    log: str


def _running_dockerd() -> Dockerd:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() == "dockerd" and not _is_zombie(entry):
                found.append(entry)
        except OSError:  # gone meanwhile
            continue
    assert len(found) == 1, f"expected exactly one running dockerd, found {len(found)}"
    proc = found[0]
    argv = [a for a in (proc / "cmdline").read_bytes().decode().split("\0") if a]
    out = os.readlink(proc / "fd" / "1")
    return Dockerd(pid=int(proc.name), argv=argv, log=out if out.startswith("/") else FALLBACK_LOG)


def _is_zombie(proc: Path) -> bool:
    stat = (proc / "stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _gone(pid: int) -> bool:
    try:
        return _is_zombie(Path(f"/proc/{pid}"))
    except OSError:
        return True


def _engine_answers() -> bool:
    try:
        client = docker.from_env(version="auto", timeout=2)
    except docker.errors.DockerException:
        return False
    try:
        return bool(client.ping())
    except (docker.errors.DockerException, OSError):
        return False
    finally:
        client.close()


def _start_dockerd(daemon: Dockerd) -> None:
    """As it was started by hand (and by .ci/run): detached, output appended to its log."""
    subprocess.run(
        ["sh", "-c", 'nohup "$@" >>"$DOCKERD_LOG" 2>&1 </dev/null &', "sh", *daemon.argv],
        env={**os.environ, "DOCKERD_LOG": daemon.log},
        check=True,
        timeout=10,
        # Its own session: the daemon must outlive this test's process group.
        start_new_session=True,
    )


def _stop_dockerd(daemon: Dockerd) -> None:
    os.kill(daemon.pid, signal.SIGTERM)
    wait_for(lambda: _gone(daemon.pid), timeout=60, what=f"dockerd {daemon.pid} to exit")


def _ensure_dockerd(daemon: Dockerd) -> None:
    """Whatever happened in the test: a daemon answers afterwards."""
    if _engine_answers():
        return
    if not _gone(daemon.pid):  # stuck half-way: let it finish shutting down first
        wait_for(lambda: _gone(daemon.pid), timeout=60, what="old dockerd to exit")
    if not _engine_answers():
        _start_dockerd(daemon)
    wait_for(_engine_answers, timeout=60, what=f"dockerd to answer again (log: {daemon.log})")


@pytest.fixture
def daemon() -> Dockerd:
    return _running_dockerd()


@pytest.fixture
def h(store: EventStore, daemon: Dockerd) -> Iterator[AgentHarness]:
    for found in harness(store):
        try:
            yield found
        finally:  # before the harness removes the test's containers: that needs the engine
            _ensure_dockerd(daemon)


def _running_apps(h: AgentHarness, uid: str) -> Counter[str]:
    return Counter(
        c.labels[NAME_LABEL]
        for c in h.containers(uid)
        if c.labels.get(SANDBOX_LABEL) != "true" and c.status == "running"
    )


def test_daemon_restarted_under_the_agent(
    h: AgentHarness, daemon: Dockerd, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="dockyard.agent")
    agent = h.start_agent()
    steady = h.create_pod("steady", [container("app", "sleep", "3600")],
                          restartPolicy="Always", terminationGracePeriodSeconds=1)  # fmt: skip
    looping = h.create_pod("looping", [container("app", "sh", "-c", "sleep 1; exit 1")],
                           restartPolicy="Always", terminationGracePeriodSeconds=1)  # fmt: skip
    wait_for(lambda: h.status("steady").get("phase") == "Running", timeout=30, what="Running")
    wait_for(
        lambda: h.container_status("looping", "app").get("restartCount", 0) >= 1,
        timeout=30,
        what="crash loop under way",
    )
    wait_for(agent.observer.connected.is_set, what="events stream connected")
    first = h.container_status("steady", "app")["containerID"].removeprefix("docker://")
    sandboxes_before = {c.id for c in h.containers(steady) if c.labels.get(SANDBOX_LABEL)}
    reconnects_before = agent.observer.reconnects

    _stop_dockerd(daemon)  # stops every container: live-restore is off
    wait_for(lambda: not agent.observer.connected.is_set(), what="events stream lost")
    looping_restarts = h.container_status("looping", "app").get("restartCount", 0)
    _start_dockerd(daemon)
    wait_for(_engine_answers, timeout=60, what=f"dockerd to answer (log: {daemon.log})")

    wait_for(agent.observer.connected.is_set, timeout=30, what="events stream reconnected")
    assert agent.observer.reconnects > reconnects_before

    def steady_replaced() -> bool:
        status = h.container_status("steady", "app")
        return (
            status.get("restartCount") == 1
            and "running" in status.get("state", {})
            and status.get("containerID") != f"docker://{first}"
        )

    wait_for(steady_replaced, timeout=40, what="steady pod's container recorded and replaced")
    wait_for(lambda: h.status("steady").get("phase") == "Running", what="steady Running again")
    wait_for(
        lambda: h.container_status("looping", "app").get("restartCount", 0) > looping_restarts,
        timeout=30,
        what="crash-looping pod restarted after the daemon came back",
    )

    # What happened while the engine was away is recorded exactly once.
    exits = [e for e in h.events(steady, "ContainerExited") if e.data["containerID"] == first]
    assert len(exits) == 1, exits
    assert exits[0].data["exitCode"] != 0 and exits[0].data["reason"] == "Error"
    last = h.container_status("steady", "app")["lastState"]["terminated"]
    assert last["containerID"] == f"docker://{first}" and last["reason"] == "Error"
    for uid in (steady, looping):
        exited = Counter(e.data["containerID"] for e in h.events(uid, "ContainerExited"))
        assert all(n == 1 for n in exited.values()), exited
        created = Counter(e.data["containerID"] for e in h.events(uid, "ContainerCreated"))
        assert all(n == 1 for n in created.values()), created
        started = Counter(e.data["containerID"] for e in h.events(uid, "ContainerStarted"))
        assert all(n == 1 for n in started.values()), started

    # No duplicates: one running app container and one running sandbox for the steady pod.
    assert _running_apps(h, steady) == Counter({"app": 1})
    live_sandboxes = [
        c for c in h.containers(steady) if c.labels.get(SANDBOX_LABEL) and c.status == "running"
    ]
    assert len(live_sandboxes) == 1 and live_sandboxes[0].id not in sandboxes_before
    assert sum(_running_apps(h, looping).values()) <= 1

    # Nothing lost: the agent's loops and workers are alive, and it said what went wrong.
    assert all(thread.is_alive() for thread in agent._threads)
    assert agent.observer.thread.is_alive()
    assert all(w.thread.is_alive() for w in agent.pod_uids.values())
    messages = [r.getMessage() for r in caplog.records]
    assert any("Docker events stream lost" in m or "cannot subscribe" in m for m in messages)
