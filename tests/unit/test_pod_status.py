"""Pod phase, container reasons, conditions and kubectl columns (k8s-semantics.md §2, §5, §12)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dockyard.agent.pod_conditions import PodCondition, pod_conditions, with_transition_times
from dockyard.agent.pod_print import (
    PodView,
    human_duration,
    kubectl_pod_row,
    print_pod,
    short_human_duration,
)
from dockyard.agent.runtime import ContainerIdentity, ContainerInfo, ContainerState
from dockyard.agent.status import (
    ContainerStatus,
    InitContainer,
    Running,
    Terminated,
    Waiting,
    container_status,
    pod_phase,
    terminated_reason,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


# --- reasons --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exit_code", "oom_killed", "started", "reason"),
    [
        (0, False, True, "Completed"),
        (1, False, True, "Error"),
        (3, False, True, "Error"),
        (137, True, True, "OOMKilled"),
        (0, True, True, "OOMKilled"),  # OOMKilled is checked first
        (137, False, True, "Error"),  # exit 137 alone is not an OOM kill
        (127, False, False, "ContainerCannotRun"),
        (0, False, False, None),  # created, never started
    ],
)
def test_terminated_reason(
    exit_code: int, oom_killed: bool, started: bool, reason: str | None
) -> None:
    assert terminated_reason(exit_code=exit_code, oom_killed=oom_killed, started=started) == reason


# --- phase ----------------------------------------------------------------------------------

RUN = Running(started_at=ago(60))
OK = Terminated(exit_code=0, reason="Completed")
FAIL = Terminated(exit_code=1, reason="Error")
CRASH = Waiting(reason="CrashLoopBackOff")
CREATING = Waiting(reason="ContainerCreating")


def cs(name: str, state: Any, last: Terminated | None = None, **kw: Any) -> ContainerStatus:
    return ContainerStatus(name=name, state=state, last_state=last, **kw)


@pytest.mark.parametrize(
    ("policy", "statuses", "terminal", "phase"),
    [
        ("Always", [], False, "Pending"),  # no status yet: unknown
        ("Always", [cs("a", CREATING)], False, "Pending"),
        ("Always", [cs("a", RUN)], False, "Running"),
        ("Always", [cs("a", RUN), cs("b", CREATING)], False, "Pending"),  # waiting wins
        ("Always", [cs("a", RUN), cs("b", CRASH, FAIL)], False, "Running"),
        ("Always", [cs("a", FAIL), cs("b", OK)], False, "Running"),  # all restarting
        ("Always", [cs("a", CRASH, FAIL), cs("b", CRASH, OK)], False, "Running"),
        ("OnFailure", [cs("a", OK), cs("b", OK)], False, "Succeeded"),
        ("OnFailure", [cs("a", OK), cs("b", FAIL)], False, "Running"),
        ("OnFailure", [cs("a", OK), cs("b", CRASH, FAIL)], False, "Running"),
        ("Never", [cs("a", OK), cs("b", FAIL)], False, "Failed"),
        ("Never", [cs("a", OK), cs("b", OK)], False, "Succeeded"),
        ("Never", [cs("a", RUN), cs("b", FAIL)], False, "Running"),
        ("Always", [cs("a", OK), cs("b", FAIL)], True, "Failed"),  # terminal pod
        ("Always", [cs("a", OK), cs("b", OK)], True, "Succeeded"),
        ("Always", [cs("a", RUN)], True, "Running"),
        ("Always", [cs("a", RUN), cs("b", None)], False, "Pending"),  # state unknown
    ],
)
def test_pod_phase_regular_containers(
    policy: str, statuses: list[ContainerStatus], terminal: bool, phase: str
) -> None:
    assert (
        pod_phase(
            restart_policy=policy,
            containers=["a", "b"] if len(statuses) != 1 else ["a"],
            statuses=statuses,
            pod_is_terminal=terminal,
        )
        == phase
    )


INIT = [InitContainer("init")]


@pytest.mark.parametrize(
    ("policy", "init_statuses", "statuses", "phase"),
    [
        ("Always", [], [], "Pending"),
        ("Always", [cs("init", RUN)], [cs("a", Waiting("PodInitializing"))], "Pending"),
        ("Never", [cs("init", FAIL)], [cs("a", Waiting("PodInitializing"))], "Failed"),
        ("Always", [cs("init", CRASH, FAIL)], [cs("a", Waiting("PodInitializing"))], "Pending"),
        ("OnFailure", [cs("init", CRASH, FAIL)], [], "Pending"),
        ("Never", [cs("init", CRASH, FAIL)], [], "Failed"),
        ("Always", [cs("init", OK)], [cs("a", RUN)], "Running"),
        ("Never", [cs("init", OK)], [cs("a", OK)], "Succeeded"),
    ],
)
def test_pod_phase_with_init_containers(
    policy: str,
    init_statuses: list[ContainerStatus],
    statuses: list[ContainerStatus],
    phase: str,
) -> None:
    got = pod_phase(
        restart_policy=policy,
        containers=["a"],
        statuses=statuses,
        init_containers=INIT,
        init_statuses=init_statuses,
    )
    assert got == phase


def test_pod_phase_sidecar_not_started_keeps_pod_pending_until_a_container_ran() -> None:
    sidecar = [InitContainer("proxy", restartable=True)]
    pending = pod_phase(
        restart_policy="Always",
        containers=["a"],
        statuses=[cs("a", Waiting("PodInitializing"))],
        init_containers=sidecar,
        init_statuses=[cs("proxy", RUN, started=False)],
    )
    running = pod_phase(
        restart_policy="Always",
        containers=["a"],
        statuses=[cs("a", RUN)],
        init_containers=sidecar,
        init_statuses=[cs("proxy", RUN, started=True)],
    )
    assert (pending, running) == ("Pending", "Running")


# --- container status from runtime instances -----------------------------------------------


def info(
    *,
    restart: int,
    state: ContainerState,
    exit_code: int = 0,
    oom: bool = False,
    finished: datetime | None = None,
) -> ContainerInfo:
    return ContainerInfo(
        id=f"c{restart}",
        name=f"dy_app_{restart}",
        labels={},
        identity=ContainerIdentity("u", "ns", "p", "app", "h", restart, False),
        state=state,
        exit_code=exit_code,
        oom_killed=oom,
        started_at=ago(100),
        finished_at=finished,
        created_at=ago(101),
        error="",
        image="busybox:latest",
        image_id="sha256:abc",
        ip="",
        docker_status="exited" if state == "exited" else state,
    )


def test_container_status_running_with_previous_instance() -> None:
    status = container_status(
        "app",
        [
            info(restart=2, state="running"),
            info(restart=1, state="exited", exit_code=137, oom=True, finished=ago(30)),
        ],
        image="busybox:latest",
        ready=True,
    )
    assert status.state == Running(started_at=ago(100))
    assert status.last_state is not None and status.last_state.reason == "OOMKilled"
    assert (status.restart_count, status.ready, status.started) == (2, True, True)
    assert status.container_id == "docker://c2"


def test_container_status_in_crash_loop_moves_terminated_to_last_state() -> None:
    backoff = Waiting("CrashLoopBackOff", "back-off 10s restarting failed container=app ...")
    status = container_status(
        "app",
        [info(restart=1, state="exited", exit_code=3, finished=ago(5))],
        image="busybox:latest",
        failed_sync=backoff,
    )
    assert status.state == backoff
    assert status.last_state is not None
    assert (status.last_state.reason, status.last_state.exit_code) == ("Error", 3)
    assert (status.restart_count, status.ready) == (1, False)


def test_container_status_without_instances_is_waiting() -> None:
    assert container_status("app", [], image="x").state == Waiting("ContainerCreating")
    assert container_status("app", [], image="x", has_init_containers=True).state == Waiting(
        "PodInitializing"
    )
    pull = Waiting("ImagePullBackOff", 'Back-off pulling image "x"')
    assert container_status("app", [], image="x", failed_sync=pull).state == pull


def test_container_status_start_failure_is_container_cannot_run() -> None:
    status = container_status(
        "app", [info(restart=0, state="exited", exit_code=127)], image="busybox:latest"
    )
    assert isinstance(status.state, Terminated)
    assert status.state.reason == "ContainerCannotRun"


def test_container_status_json_round_trip() -> None:
    status = cs("a", CRASH, Terminated(3, "Error", finished_at=ago(10)), restart_count=4)
    data = status.to_k8s()
    assert data["state"] == {"waiting": {"reason": "CrashLoopBackOff"}}
    assert data["lastState"]["terminated"]["exitCode"] == 3
    assert data["lastState"]["terminated"]["finishedAt"] == "2026-01-01T11:59:50Z"
    assert ContainerStatus.from_k8s(data) == status


# --- conditions -----------------------------------------------------------------------------


def conditions_by_type(conditions: list[PodCondition]) -> dict[str, tuple[str, str, str]]:
    return {c.type: (c.status, c.reason, c.message) for c in conditions}


def test_conditions_ready_pod() -> None:
    got = conditions_by_type(
        pod_conditions(
            phase="Running",
            scheduled=True,
            containers=["a"],
            statuses=[cs("a", RUN, ready=True)],
        )
    )
    assert got == {
        "Initialized": ("True", "", ""),
        "Ready": ("True", "", ""),
        "ContainersReady": ("True", "", ""),
        "PodScheduled": ("True", "", ""),
    }


def test_conditions_unready_and_unknown_containers() -> None:
    got = conditions_by_type(
        pod_conditions(
            phase="Pending",
            scheduled=True,
            containers=["a", "b", "c"],
            statuses=[cs("a", RUN, ready=False), cs("b", RUN, ready=True)],
        )
    )
    message = "containers with unknown status: [c], containers with unready status: [a]"
    assert got["ContainersReady"] == ("False", "ContainersNotReady", message)
    assert got["Ready"] == ("False", "ContainersNotReady", message)


def test_conditions_completed_and_failed_pods() -> None:
    done = conditions_by_type(
        pod_conditions(phase="Succeeded", scheduled=True, containers=["a"], statuses=[cs("a", OK)])
    )
    failed = conditions_by_type(
        pod_conditions(phase="Failed", scheduled=True, containers=["a"], statuses=[cs("a", FAIL)])
    )
    assert done["Ready"] == ("False", "PodCompleted", "")
    assert failed["ContainersReady"] == ("False", "PodFailed", "")


def test_conditions_init_incomplete() -> None:
    got = conditions_by_type(
        pod_conditions(
            phase="Pending",
            scheduled=True,
            containers=["a"],
            statuses=[cs("a", Waiting("PodInitializing"))],
            init_containers=[InitContainer("i1"), InitContainer("i2")],
            init_statuses=[cs("i1", OK)],
            sandbox_ready=True,
        )
    )
    assert got["Initialized"] == (
        "False",
        "ContainersNotInitialized",
        "containers with unknown status: [i2]",
    )
    assert got["PodReadyToStartContainers"] == ("True", "", "")


def test_transition_times_survive_unchanged_status() -> None:
    old = [PodCondition("Ready", "True", last_transition_time=ago(500))]
    new = with_transition_times(
        [PodCondition("Ready", "True"), PodCondition("PodScheduled", "True")], old, now=NOW
    )
    assert [c.last_transition_time for c in new] == [ago(500), NOW]
    flipped = with_transition_times([PodCondition("Ready", "False")], old, now=NOW)
    assert flipped[0].last_transition_time == NOW


# --- kubectl columns ------------------------------------------------------------------------

READY_CONDITION = (PodCondition("Ready", "True"),)


@pytest.mark.parametrize(
    ("pod", "status", "ready"),
    [
        (PodView("p", "Pending", containers=("a",)), "Pending", "0/1"),
        (
            PodView("p", "Running", containers=("a",), statuses=(cs("a", RUN, ready=True),)),
            "Running",
            "1/1",
        ),
        (
            PodView("p", "Running", containers=("a",), statuses=(cs("a", CRASH, FAIL),)),
            "CrashLoopBackOff",
            "0/1",
        ),
        (
            PodView("p", "Pending", containers=("a",), statuses=(cs("a", CREATING),)),
            "ContainerCreating",
            "0/1",
        ),
        (
            PodView(
                "p", "Pending", containers=("a",), statuses=(cs("a", Waiting("ImagePullBackOff")),)
            ),
            "ImagePullBackOff",
            "0/1",
        ),
        (PodView("p", "Succeeded", containers=("a",), statuses=(cs("a", OK),)), "Completed", "0/1"),
        (PodView("p", "Failed", containers=("a",), statuses=(cs("a", FAIL),)), "Error", "0/1"),
        (
            PodView(
                "p", "Running", containers=("a",), statuses=(cs("a", Terminated(137, "OOMKilled")),)
            ),
            "OOMKilled",
            "0/1",
        ),
        (
            PodView("p", "Failed", containers=("a",), statuses=(cs("a", Terminated(2)),)),
            "ExitCode:2",
            "0/1",
        ),
        (
            PodView(
                "p", "Failed", containers=("a",), statuses=(cs("a", Terminated(137, signal=9)),)
            ),
            "Signal:9",
            "0/1",
        ),
        # Containers are read last to first: the first container's reason wins.
        (
            PodView(
                "p",
                "Running",
                containers=("a", "b"),
                statuses=(cs("a", CRASH, FAIL), cs("b", RUN, ready=True)),
            ),
            "CrashLoopBackOff",
            "1/2",
        ),
        # Completed with another container running and ready: Running if the pod is Ready...
        (
            PodView(
                "p",
                "Running",
                containers=("a", "b"),
                statuses=(cs("a", OK), cs("b", RUN, ready=True)),
                conditions=READY_CONDITION,
            ),
            "Running",
            "1/2",
        ),
        # ... else NotReady.
        (
            PodView(
                "p",
                "Running",
                containers=("a", "b"),
                statuses=(cs("a", OK), cs("b", RUN, ready=True)),
            ),
            "NotReady",
            "1/2",
        ),
        (
            PodView(
                "p",
                "Running",
                containers=("a",),
                statuses=(cs("a", RUN, ready=True),),
                deletion_timestamp=ago(1),
            ),
            "Terminating",
            "1/1",
        ),
        (
            PodView(
                "p",
                "Succeeded",
                containers=("a",),
                statuses=(cs("a", OK),),
                deletion_timestamp=ago(1),
            ),
            "Completed",
            "0/1",
        ),
        (
            PodView(
                "p", "Running", reason="NodeLost", containers=("a",), deletion_timestamp=ago(1)
            ),
            "Unknown",
            "0/1",
        ),
        (PodView("p", "Failed", reason="Evicted", containers=("a",)), "Evicted", "0/1"),
        (
            PodView(
                "p",
                "Pending",
                containers=("a",),
                conditions=(PodCondition("PodScheduled", "False", reason="SchedulingGated"),),
            ),
            "SchedulingGated",
            "0/1",
        ),
        # Init containers.
        (
            PodView(
                "p",
                "Pending",
                containers=("a",),
                init_containers=(InitContainer("i1"), InitContainer("i2")),
                init_statuses=(cs("i1", OK), cs("i2", RUN)),
                statuses=(cs("a", Waiting("PodInitializing")),),
            ),
            "Init:1/2",
            "0/1",
        ),
        (
            PodView(
                "p",
                "Pending",
                containers=("a",),
                init_containers=(InitContainer("i1"),),
                init_statuses=(cs("i1", CRASH, FAIL),),
                statuses=(cs("a", Waiting("PodInitializing")),),
            ),
            "Init:CrashLoopBackOff",
            "0/1",
        ),
        (
            PodView(
                "p",
                "Failed",
                containers=("a",),
                init_containers=(InitContainer("i1"),),
                init_statuses=(cs("i1", FAIL),),
            ),
            "Init:Error",
            "0/1",
        ),
        (
            PodView(
                "p",
                "Failed",
                containers=("a",),
                init_containers=(InitContainer("i1"),),
                init_statuses=(cs("i1", Terminated(5)),),
            ),
            "Init:ExitCode:5",
            "0/1",
        ),
        # A started sidecar counts toward READY and does not block.
        (
            PodView(
                "p",
                "Running",
                containers=("a",),
                init_containers=(InitContainer("proxy", restartable=True),),
                init_statuses=(cs("proxy", RUN, ready=True, started=True),),
                statuses=(cs("a", RUN, ready=True),),
            ),
            "Running",
            "2/2",
        ),
    ],
)
def test_kubectl_status_and_ready(pod: PodView, status: str, ready: str) -> None:
    row = print_pod(pod, now=NOW)
    assert (row.status, row.ready) == (status, ready)


def test_kubectl_restarts_shows_the_latest_termination() -> None:
    pod = PodView(
        "p",
        "Running",
        containers=("a", "b"),
        statuses=(
            cs("a", RUN, Terminated(1, "Error", finished_at=ago(600)), ready=True, restart_count=1),
            cs("b", CRASH, Terminated(1, "Error", finished_at=ago(125)), restart_count=2),
        ),
        creation_timestamp=ago(3 * 3600 + 60),
    )
    row = print_pod(pod, now=NOW)
    assert (row.restarts, row.age) == ("3 (2m5s ago)", "3h1m")
    no_restart = print_pod(PodView("p", containers=("a",), statuses=(cs("a", RUN),)), now=NOW)
    assert (no_restart.restarts, no_restart.age) == ("0", "<unknown>")


def test_kubectl_pod_row_from_json() -> None:
    pod = {
        "metadata": {"name": "web-1", "creationTimestamp": "2026-01-01T11:55:00Z"},
        "spec": {"containers": [{"name": "app", "image": "busybox:latest"}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                {
                    "name": "app",
                    "ready": False,
                    "restartCount": 4,
                    "state": {
                        "waiting": {
                            "reason": "CrashLoopBackOff",
                            "message": "back-off 2m40s restarting failed container=app pod=x",
                        }
                    },
                    "lastState": {
                        "terminated": {
                            "exitCode": 1,
                            "reason": "Error",
                            "startedAt": "2026-01-01T11:59:00.123456789Z",
                            "finishedAt": "2026-01-01T11:59:15Z",
                        }
                    },
                }
            ],
        },
    }
    row = kubectl_pod_row(pod, now=NOW)
    assert row.__dict__ == {
        "name": "web-1",
        "ready": "0/1",
        "status": "CrashLoopBackOff",
        "restarts": "4 (45s ago)",
        "age": "5m",
    }


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-3, "<invalid>"),
        (-1.5, "0s"),
        (0, "0s"),
        (45, "45s"),
        (119, "119s"),
        (120, "2m"),
        (125, "2m5s"),
        (300, "5m"),
        (599, "9m59s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (4 * 3600 + 30 * 60, "4h30m"),
        (8 * 3600 + 59 * 60, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (3 * 86400 + 4 * 3600, "3d4h"),
        (8 * 86400, "8d"),
        (400 * 86400, "400d"),
        (2 * 365 * 86400, "2y"),
        (3 * 365 * 86400 + 5 * 86400, "3y5d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-2, "<invalid>"),
        (59, "59s"),
        (125, "2m"),
        (7200, "2h"),
        (3 * 86400, "3d"),
        (800 * 86400, "2y"),
    ],
)
def test_short_human_duration(seconds: float, text: str) -> None:
    assert short_human_duration(seconds) == text
