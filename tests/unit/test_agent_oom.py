"""Late OOM kills (agent/oom.py) and their correction in the recorded facts (agent/facts.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from dockyard.agent.facts import PodRef, RecordedContainer, container_transitions, recorded_states
from dockyard.agent.oom import may_await_oom, oom_hold_deadline, with_known_oom
from dockyard.agent.runtime import ContainerIdentity, ContainerInfo, ContainerState
from dockyard.agent.status import Terminated, state_from_runtime
from dockyard.store.events import RecordedEvent

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
REF = PodRef("ns", "p", "u", "node-a")


def info(
    *,
    container_id: str = "c1",
    state: ContainerState = "exited",
    exit_code: int = 137,
    oom: bool = False,
    memory: int = 8 << 20,
    finished: datetime | None = NOW,
) -> ContainerInfo:
    return ContainerInfo(
        id=container_id,
        name="dy_app",
        labels={},
        identity=ContainerIdentity("u", "ns", "p", "app", "h", 0, False),
        state=state,
        exit_code=exit_code,
        oom_killed=oom,
        started_at=NOW - timedelta(seconds=5),
        finished_at=finished,
        created_at=NOW - timedelta(seconds=6),
        error="",
        image="busybox:latest",
        image_id="sha256:abc",
        ip="",
        docker_status=state,
        memory_limit_bytes=memory,
    )


def test_only_an_unexplained_sigkill_of_a_memory_limited_container_awaits_an_oom() -> None:
    waits = {"known_oom": set[str](), "killed_by_agent": set[str]()}
    assert may_await_oom(info(), **waits)
    assert not may_await_oom(info(oom=True), **waits)  # the engine said so already
    assert not may_await_oom(info(exit_code=1), **waits)
    assert not may_await_oom(info(memory=0), **waits)  # no limit: no cgroup OOM to wait for
    assert not may_await_oom(info(state="running", finished=None), **waits)
    assert not may_await_oom(info(), known_oom={"c1"}, killed_by_agent=set())
    assert not may_await_oom(info(), known_oom=set(), killed_by_agent={"c1"})


def test_the_hold_is_bounded_from_the_death_not_from_when_the_agent_looks() -> None:
    died = NOW.timestamp()

    def deadline(deaths: list[ContainerInfo], now: float) -> float | None:
        return oom_hold_deadline(
            deaths, known_oom=set(), killed_by_agent=set(), hold_seconds=0.5, now=now
        )

    assert deadline([info()], died + 0.1) == died + 0.5
    assert deadline([info()], died + 0.6) is None
    assert deadline([info(exit_code=1)], died) is None
    later = info(container_id="c2", finished=NOW + timedelta(seconds=0.2))
    assert deadline([info(), later], died) == died + 0.7


def test_a_known_oom_kill_overrides_the_engines_flag_of_an_exited_container_only() -> None:
    observed = [info(), info(container_id="c2", state="running", finished=None, exit_code=0)]
    marked = with_known_oom(observed, {"c1", "c2"})
    assert [c.oom_killed for c in marked] == [True, False]
    state = state_from_runtime(marked[0])
    assert isinstance(state, Terminated) and (state.reason, state.exit_code) == ("OOMKilled", 137)
    error = state_from_runtime(observed[0])  # exit 137 alone is not an OOM kill
    assert isinstance(error, Terminated) and error.reason == "Error"


def test_an_oom_known_after_the_exit_was_recorded_records_the_exit_again_as_oom_killed() -> None:
    recorded = {"c1": RecordedContainer("exited", "app", 0, None, "h", oom_killed=False)}
    (correction,) = container_transitions(REF, recorded, [info(oom=True)], complete=False)
    assert correction.event_type.name == "ContainerExited"
    payload = correction.payload.model_dump(by_alias=True)
    assert (payload["reason"], payload["oomKilled"], payload["exitCode"]) == (
        "OOMKilled",
        True,
        137,
    )
    # Once corrected (or recorded right the first time) nothing more is recorded.
    recorded["c1"] = RecordedContainer("exited", "app", 0, None, "h", oom_killed=True)
    assert container_transitions(REF, recorded, [info(oom=True)]) == []
    recorded["c1"] = RecordedContainer("exited", "app", 0, None, "h", oom_killed=False)
    assert container_transitions(REF, recorded, [info(oom=False)]) == []


def _event(position: int, type_: str, **data: object) -> RecordedEvent:
    base = {"container": "app", "containerID": "c1", "restartCount": 0, "specHash": "h"}
    return RecordedEvent(
        position=position,
        event_id=uuid.uuid4(),
        stream_id="pod-runtime:u",
        version=position,
        type=type_,
        schema_version=1,
        data={**base, **data},
        metadata={},
        recorded_at=NOW,
    )


def test_the_latest_exit_of_a_container_wins_when_the_log_is_read_back() -> None:
    events = [
        _event(1, "ContainerCreated"),
        _event(2, "ContainerStarted"),
        _event(3, "ContainerExited", exitCode=137, reason="Error", oomKilled=False),
        _event(4, "ContainerExited", exitCode=137, reason="OOMKilled", oomKilled=True),
    ]
    assert recorded_states(events)["c1"].oom_killed
    assert not recorded_states(events[:3])["c1"].oom_killed
