"""The agent on a real engine: restart policy, crash-loop back-off, OOM, exit codes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

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
    # An `oom` event later than the agent's short hold corrects a first "Error" (agent/oom.py).
    terminated = wait_for(
        lambda: _terminated_if(h.container_status("hog", "app"), "OOMKilled"),
        what="terminated reason OOMKilled",
    )
    assert terminated["exitCode"] == 137
    exits = h.events(uid, "ContainerExited")
    assert {e.data["containerID"] for e in exits} == {terminated["containerID"][len("docker://") :]}
    assert exits[-1].data["reason"] == "OOMKilled" and exits[-1].data["oomKilled"] is True


def _terminated_if(status: dict[str, Any], reason: str) -> dict[str, Any] | None:
    terminated = (status.get("state") or {}).get("terminated") or {}
    return terminated if terminated.get("reason") == reason else None


def _published_states(h: AgentHarness, uid: str, name: str) -> list[dict[str, Any]]:
    """Every status the agent wrote for one container, in log order."""
    found = []
    for event in h.store.read_all(after=0, types=("ObjectStatusUpdated",), limit=100_000):
        pod = event.data.get("object") or {}
        if (pod.get("metadata") or {}).get("uid") != uid:
            continue
        for status in (pod.get("status") or {}).get("containerStatuses") or ():
            if status["name"] == name:
                found.append(status)
    return found


def test_every_death_is_published_as_terminated_before_crash_loop_back_off(
    h: AgentHarness,
) -> None:
    """A container that lives long enough to be seen running (``sleep 0.3``) used to go from
    running straight to CrashLoopBackOff: its death was only in ``lastState`` of a waiting
    status, so the notifier learnt of it one back-off later. Like the kubelet, the agent now
    writes the terminated state first (and, for the first, immediate restart, before it
    starts the next instance)."""
    h.start_agent()
    uid = h.create_pod("flaky", [container("app", "sh", "-c", "sleep 0.3; exit 3")])
    wait_for(
        lambda: h.container_status("flaky", "app").get("restartCount", 0) >= 3,
        timeout=40,
        what="three restarts",
    )
    h.stop_agent()
    statuses = _published_states(h, uid, "app")
    terminated_shown = [
        (s.get("state") or {}).get("terminated", {}).get("containerID") for s in statuses
    ]
    # The deaths that led to the three restarts waited for (a later one may race the stop).
    deaths = {
        e.data["containerID"]: e.data
        for e in h.events(uid, "ContainerExited")
        if e.data["restartCount"] < 3
    }
    assert len(deaths) == 3
    for container_id, death in deaths.items():
        shown = [i for i, c in enumerate(terminated_shown) if c == f"docker://{container_id}"]
        assert shown, f"death of restart {death['restartCount']} never published as terminated"
        terminated = statuses[shown[0]]["state"]["terminated"]
        assert (terminated["exitCode"], terminated["reason"]) == (3, "Error")
        assert statuses[shown[0]]["restartCount"] == death["restartCount"]
        # Published before anything else mentions that instance's death.
        mentioned = [
            i
            for i, s in enumerate(statuses)
            if (s.get("lastState") or {}).get("terminated", {}).get("containerID")
            == f"docker://{container_id}"
        ]
        assert not mentioned or shown[0] < mentioned[0], (death["restartCount"], statuses)
    reasons = [(s.get("state") or {}).get("waiting", {}).get("reason") for s in statuses]
    assert "CrashLoopBackOff" in reasons
