"""Containers gone behind the agent's back become ContainerStatusUnknown stand-ins (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dockyard.agent.facts import PodRef, RecordedContainer
from dockyard.agent.status import Terminated, state_from_runtime
from dockyard.agent.vanished import VANISHED_MESSAGE, vanished_instances

POD = PodRef("ns", "web", "uid-1", "node-a")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
RECORDED = {
    "gone": RecordedContainer("running", "app", 2, "2025-12-31T23:00:00Z", "hash1"),
    "mine": RecordedContainer("exited", "app", 1, "2025-12-31T22:00:00Z", "hash1"),
    "half": RecordedContainer("created", "app", 3),
}


def test_recorded_container_missing_from_a_relist_is_a_stand_in() -> None:
    found = vanished_instances(POD, deleting=False, recorded=RECORDED, observed=[],
                               removed_by_agent={"mine"}, known={}, now=NOW)  # fmt: skip
    assert set(found) == {"gone"}  # removed by the agent, or never started: not vanished
    info = found["gone"]
    assert info.identity is not None
    assert (info.identity.container_name, info.identity.restart_count) == ("app", 2)
    assert info.identity.spec_hash == "hash1"
    state = state_from_runtime(info)
    assert isinstance(state, Terminated)
    assert (state.reason, state.exit_code, state.message) == (
        "ContainerStatusUnknown", 137, VANISHED_MESSAGE,
    )  # fmt: skip
    assert state.container_id == "docker://gone"


def test_stand_in_keeps_its_time_and_none_while_deleting() -> None:
    first = vanished_instances(POD, deleting=False, recorded=RECORDED, observed=[],
                               removed_by_agent=(), known={}, now=NOW)  # fmt: skip
    later = vanished_instances(POD, deleting=False, recorded=RECORDED, observed=[],
                               removed_by_agent=(), known=first,
                               now=NOW + timedelta(seconds=30))  # fmt: skip
    assert later["gone"].finished_at == NOW
    deleting = vanished_instances(POD, deleting=True, recorded=RECORDED, observed=[],
                                  removed_by_agent=(), known=first, now=NOW)  # fmt: skip
    assert deleting == {}
