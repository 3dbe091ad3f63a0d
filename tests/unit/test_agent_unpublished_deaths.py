"""Which container deaths no written status has shown yet (agent/pod_status.py, pure).

The pod worker writes those as terminated states before CrashLoopBackOff or the next instance
replaces them; a status written from the agent's own view must then count them as shown.
"""

from __future__ import annotations

from typing import Any

from dockyard.agent.pod_status import compute_status, unpublished_deaths
from dockyard.agent.runtime import ContainerInfo
from dockyard.agent.status import Waiting
from tests.unit.test_agent_plan import SANDBOX, T0, info, pod


def _status(
    observed: list[ContainerInfo], failed_sync: dict[str, Waiting] | None = None
) -> dict[str, Any]:
    return compute_status(
        pod(), observed, previous=None, failed_sync=failed_sync or {},
        ready=lambda _: False, started=lambda _: False, host_ip="127.0.0.1", pod_ip="",
    )  # fmt: skip


RUNNING_1 = [
    SANDBOX,
    info("c0", "exited", exit_code=3, finished=T0 + 1),
    info("c1", "running", count=1),
]
DEAD_1 = [SANDBOX, info("c0", "exited", exit_code=3, finished=T0 + 1),
          info("c1", "exited", count=1, exit_code=3, finished=T0 + 5)]  # fmt: skip
BACK_OFF = {"app": Waiting("CrashLoopBackOff", "back-off 10s restarting failed container=app")}


def test_a_death_the_last_status_showed_running_is_unpublished() -> None:
    previous = _status(RUNNING_1)  # c1 running, c0's end in lastState
    assert unpublished_deaths(pod(), DEAD_1, previous) == {"app"}
    assert unpublished_deaths(pod(), RUNNING_1, previous) == set()


def test_shown_as_terminated_or_as_last_state_is_published() -> None:
    assert unpublished_deaths(pod(), DEAD_1, _status(DEAD_1)) == set()
    back_off = _status(DEAD_1, BACK_OFF)  # waiting CrashLoopBackOff, c1's end in lastState
    assert back_off["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert unpublished_deaths(pod(), DEAD_1, back_off) == set()


def test_nothing_written_yet_or_nothing_dead() -> None:
    assert unpublished_deaths(pod(), DEAD_1, None) == {"app"}
    assert unpublished_deaths(pod(), [SANDBOX], None) == set()
    assert unpublished_deaths(pod(), [SANDBOX, info("c0", "created", started=None)], None) == set()
