"""The agent on a real engine: restart policy, crash-loop back-off, OOM, exit codes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from dockyard.store.events import EventStore
from tests.docker.agent_support import AgentHarness, container, harness, wait_for

pytestmark = pytest.mark.docker


@pytest.fixture
def h(store: EventStore) -> Iterator[AgentHarness]:
    yield from harness(store)


def test_crash_loop_restart_count_and_backoff(h: AgentHarness) -> None:
    h.start_agent()
    uid = h.create_pod("crasher", [container("app", "sh", "-c", "exit 3")])

    def restarts() -> int:
        return int(h.container_status("crasher", "app").get("restartCount", 0))

    wait_for(lambda: restarts() >= 3, timeout=30, what="three restarts")
    exits = h.events(uid, "ContainerExited")
    assert [e.data["exitCode"] for e in exits[:3]] == [3, 3, 3]
    assert {e.data["reason"] for e in exits} == {"Error"}
    assert [e.data["restartCount"] for e in exits[:3]] == [0, 1, 2]
    starts = h.events(uid, "ContainerStarted")
    started = [e.recorded_at.timestamp() for e in starts]
    # First restart at once; later ones wait the back-off (capped at 2 s in this test).
    exit_times = [e.recorded_at.timestamp() for e in exits]
    assert started[1] - exit_times[0] < 1.5
    assert started[2] - exit_times[1] >= 1.5
    waiting = wait_for(
        lambda: (h.container_status("crasher", "app").get("state") or {}).get("waiting"),
        what="CrashLoopBackOff",
    )
    assert waiting["reason"] == "CrashLoopBackOff"
    assert waiting["message"].startswith("back-off 2s restarting failed container=app pod=crasher_")
    status = h.status("crasher")
    assert status["phase"] == "Running"
    last = h.container_status("crasher", "app")["lastState"]["terminated"]
    assert last["exitCode"] == 3 and last["reason"] == "Error"
    assert h.events(uid, "ContainerBackOff")
    # Only the two newest instances are kept (state + lastState), plus the sandbox.
    wait_for(lambda: len(h.containers(uid)) <= 3, what="old instances removed")


def test_exit_zero_under_on_failure_completes(h: AgentHarness) -> None:
    h.start_agent()
    uid = h.create_pod(
        "job", [container("app", "sh", "-c", "echo done")], restartPolicy="OnFailure"
    )
    wait_for(lambda: h.status("job").get("phase") == "Succeeded", what="Succeeded")
    terminated = h.container_status("job", "app")["state"]["terminated"]
    assert terminated["reason"] == "Completed" and terminated["exitCode"] == 0
    time.sleep(1.0)  # a restart would have happened at once (the first one is immediate)
    assert h.container_status("job", "app")["restartCount"] == 0
    assert len(h.events(uid, "ContainerStarted")) == 1
    phases = [e.data["phase"] for e in h.events(uid, "PodPhaseChanged")]
    assert phases[-1] == "Succeeded"
    conditions = {c["type"]: c for c in h.status("job")["conditions"]}
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Ready"]["reason"] == "PodCompleted"


def test_oom_killed(h: AgentHarness) -> None:
    h.start_agent()
    uid = h.create_pod(
        "hog",
        [
            container(
                "app",
                "sh",
                "-c",
                "x=a; while :; do x=$x$x; done",
                resources={"limits": {"memory": "8Mi"}},
            )
        ],
        restartPolicy="Never",
    )
    wait_for(lambda: h.status("hog").get("phase") == "Failed", what="Failed", timeout=30)
    terminated = h.container_status("hog", "app")["state"]["terminated"]
    assert terminated["reason"] == "OOMKilled"
    (exited,) = h.events(uid, "ContainerExited")
    assert exited.data["reason"] == "OOMKilled" and exited.data["oomKilled"] is True
