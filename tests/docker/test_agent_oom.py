"""OOM kills through the real agent: the published reason is OOMKilled even when the engine
reports the OOM after the death (cgroup v2: `oom` after `die`, State.OOMKilled left false),
and exit 137 alone never is (agent/oom.py)."""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import docker
import pytest

from dockyard.agent.oom import OOM_HOLD_SECONDS
from dockyard.agent.runtime import LABEL_POD_UID, RuntimeEvent
from dockyard.store.events import EventStore
from tests.docker.agent_support import AgentHarness, container, harness, wait_for

pytestmark = pytest.mark.docker

HOG = "x=a; while :; do x=$x$x; done"  # doubles a shell string until the 8Mi limit kills it
LIMIT = {"limits": {"memory": "8Mi"}}


@pytest.fixture
def h(store: EventStore) -> Iterator[AgentHarness]:
    yield from harness(store)


def _terminated(status: dict[str, Any], field: str = "state") -> dict[str, Any]:
    return dict((status.get(field) or {}).get("terminated") or {})


def _published(h: AgentHarness, uid: str) -> list[dict[str, Any]]:
    """Every terminated state (state or lastState) the agent published for a pod, in order."""
    found = []
    for event in h.store.read_all(after=0, types=("ObjectStatusUpdated",), limit=100_000):
        pod = event.data.get("object") or {}
        if (pod.get("metadata") or {}).get("uid") != uid:
            continue
        for status in (pod.get("status") or {}).get("containerStatuses") or ():
            for field in ("state", "lastState"):
                if terminated := _terminated(status, field):
                    found.append(terminated)
    return found


def _docker_finished_at(container_id: str) -> float:
    client = docker.from_env(version="auto")
    try:
        raw = client.api.inspect_container(container_id)["State"]["FinishedAt"]
    finally:
        client.close()
    seconds, _, fraction = raw.rstrip("Z").partition(".")
    whole = datetime.fromisoformat(seconds + "+00:00").timestamp()
    return whole + float("0." + (fraction or "0"))


class EngineOoms:
    """The OOM kills the engine reports for Dockyard's containers (an ``oom`` event, or
    ``State.OOMKilled``), watched by the test itself: the engine sometimes never reports one
    (agent/oom.py), and a kill nobody reports cannot be published as one."""

    def __init__(self) -> None:
        self._client = docker.from_env(version="auto")
        self._stream = self._client.events(
            decode=True, filters={"event": "oom", "label": LABEL_POD_UID}
        )
        self._ids: set[str] = set()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        with contextlib.suppress(Exception):  # the stream ends when close() closes it
            for event in self._stream:
                self._ids.add(str(event.get("id") or (event.get("Actor") or {}).get("ID")))

    def reported(self, container_id: str) -> bool:
        if container_id in self._ids:
            return True
        try:
            state = self._client.api.inspect_container(container_id)["State"]
        except docker.errors.NotFound:  # removed since: only its event could have told
            return False
        return bool(state.get("OOMKilled"))

    def close(self) -> None:
        self._stream.close()
        self._client.close()


def _container_id(terminated: dict[str, Any]) -> str:
    return str(terminated.get("containerID", "")).removeprefix("docker://")


def _published_death(
    h: AgentHarness, engine: EngineOoms, pod: str, field: str = "state"
) -> dict[str, Any] | None:
    """The pod's published termination once it is final: OOMKilled, or Error for a death the
    engine has not reported as an OOM kill 10 s after it (late ``oom`` events come within about
    2 s and correct the reason; oom.py)."""
    terminated = _terminated(h.container_status(pod, "app"), field)
    if terminated.get("reason") == "OOMKilled":
        return terminated
    finished = terminated.get("finishedAt")
    if terminated.get("reason") != "Error" or not finished:
        return None
    age = time.time() - datetime.fromisoformat(str(finished).replace("Z", "+00:00")).timestamp()
    if age > 10 and not engine.reported(_container_id(terminated)):
        return terminated
    return None


def test_oom_killed_pods_publish_oom_killed_even_several_at_once(h: AgentHarness) -> None:
    engine = EngineOoms()  # watching before anything can die
    try:
        _several_oom_kills_at_once(h, engine)
    finally:
        engine.close()


def _several_oom_kills_at_once(h: AgentHarness, engine: EngineOoms) -> None:
    h.start_agent()
    names = [f"hog-{i}" for i in range(4)]
    uids = {
        name: h.create_pod(
            name, [container("app", "sh", "-c", HOG, resources=LIMIT)], restartPolicy="Never"
        )
        for name in names
    }
    # A crash-looping one too: its OOM-killed instance must say so in lastState after restart.
    looping = h.create_pod("hog-loop", [container("app", "sh", "-c", HOG, resources=LIMIT)])

    for name in names:
        terminated = wait_for(
            functools.partial(_published_death, h, engine, name),
            timeout=40,
            what=f"{name}'s death published as OOMKilled (or as Error, unreported by the engine)",
        )
        reported = engine.reported(_container_id(terminated))
        assert (terminated["exitCode"], terminated["reason"]) == (
            137,
            "OOMKilled" if reported else "Error",
        ), (name, reported, terminated)
        exits = h.events(uids[name], "ContainerExited")
        assert exits and exits[-1].data["reason"] == terminated["reason"], [e.data for e in exits]
    last = wait_for(
        lambda: (
            _terminated(h.container_status("hog-loop", "app"), "lastState").get("reason")
            == "OOMKilled"
            and h.container_status("hog-loop", "app")
        ),
        timeout=30,
        what="the looping pod's lastState OOMKilled",
    )
    assert last["restartCount"] >= 1
    # No instance of any of them ends up published as anything but OOMKilled, unless the engine
    # never reported its OOM kill: every death was an OOM kill, and a reason once corrected is
    # never published wrong again.
    for uid in [*uids.values(), looping]:
        final: dict[str, str] = {}
        for terminated in _published(h, uid):
            final[_container_id(terminated)] = terminated["reason"]
        assert final, uid
        for container_id, reason in final.items():
            wanted = "OOMKilled" if engine.reported(container_id) else "Error"
            assert reason == wanted, (uid, container_id, final)


def test_exit_137_without_an_oom_waits_the_short_hold_then_is_an_error(h: AgentHarness) -> None:
    agent = h.start_agent()
    uid = h.create_pod(
        "killed",
        [container("app", "sleep", "3600", resources=LIMIT)],
        restartPolicy="Never",
    )
    running = wait_for(
        lambda: (
            (h.container_status("killed", "app").get("state") or {}).get("running")
            and h.container_status("killed", "app")
        ),
        what="running",
    )
    container_id = running["containerID"][len("docker://") :]
    client = docker.from_env(version="auto")
    try:
        client.api.kill(container_id, "SIGKILL")  # exit 137, but no OOM: not OOMKilled
    finally:
        client.close()
    terminated = wait_for(
        lambda: _terminated(h.container_status("killed", "app")), what="terminated"
    )
    assert (terminated["exitCode"], terminated["reason"]) == (137, "Error")
    (exited,) = h.events(uid, "ContainerExited")
    assert exited.data["reason"] == "Error" and exited.data["oomKilled"] is False
    # Held for its `oom` event, but only briefly after the death.
    held = exited.recorded_at.timestamp() - _docker_finished_at(container_id)
    assert agent.ctx.oom_hold_seconds == OOM_HOLD_SECONDS
    assert OOM_HOLD_SECONDS * 0.9 <= held < OOM_HOLD_SECONDS + 2.0, held


def test_an_oom_event_after_the_death_corrects_the_recorded_and_published_reason(
    h: AgentHarness,
) -> None:
    """What Engine 20.10 on cgroup v2 does under load: `die` (exit 137, State.OOMKilled false
    for good), the hold passes, then `oom`. The `oom` is delivered here as the events stream
    would; everything else is the real engine and agent."""
    agent = h.start_agent()
    uid = h.create_pod(
        "late", [container("app", "sleep", "3600", resources=LIMIT)], restartPolicy="Never"
    )
    running = wait_for(
        lambda: (
            (h.container_status("late", "app").get("state") or {}).get("running")
            and h.container_status("late", "app")
        ),
        what="running",
    )
    container_id = running["containerID"][len("docker://") :]
    client = docker.from_env(version="auto")
    try:
        client.api.kill(container_id, "SIGKILL")
        labels = client.api.inspect_container(container_id)["Config"]["Labels"]
    finally:
        client.close()
    first = wait_for(lambda: _terminated(h.container_status("late", "app")), what="terminated")
    assert first["reason"] == "Error"

    late_oom = RuntimeEvent(
        container_id=container_id,
        action="oom",
        time_nano=time.time_ns(),
        attributes={**labels, "name": "late", "image": "busybox:latest"},
    )
    agent._on_docker_event(uid, late_oom)
    corrected = wait_for(
        lambda: (
            _terminated(h.container_status("late", "app")).get("reason") == "OOMKilled"
            and _terminated(h.container_status("late", "app"))
        ),
        what="the published reason corrected to OOMKilled",
    )
    assert corrected["exitCode"] == 137 and corrected["containerID"] == first["containerID"]
    exits = h.events(uid, "ContainerExited")
    assert [(e.data["reason"], e.data["oomKilled"]) for e in exits] == [
        ("Error", False),
        ("OOMKilled", True),
    ]
    assert {e.data["containerID"] for e in exits} == {container_id}

    # A restarted agent reads the correction back from the log, since the engine still says
    # false (recorded_states: tests/unit/test_agent_oom.py).
    h.stop_agent()
    restarted = h.start_agent()
    wait_for(
        lambda: uid in restarted.workers and container_id in restarted.workers[uid].known_oom,
        what="the restarted agent knows the OOM kill from the log",
    )
