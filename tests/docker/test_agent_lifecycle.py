"""Hooks, graceful deletion, probes and images, on a real engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dockyard.store.events import EventStore
from dockyard.store.writer import ObjectKey
from tests.docker.agent_support import ADMIN, AgentHarness, container, harness, wait_for

pytestmark = pytest.mark.docker


@pytest.fixture
def h(store: EventStore) -> Iterator[AgentHarness]:
    yield from harness(store)


def test_failing_post_start_hook_kills_and_restarts(h: AgentHarness) -> None:
    h.start_agent()
    hook = {"postStart": {"exec": {"command": ["sh", "-c", "echo hook-broke; exit 7"]}}}
    uid = h.create_pod(
        "hooked",
        [container("app", "sleep", "3600", lifecycle=hook)],
        terminationGracePeriodSeconds=1,
    )
    failed = wait_for(lambda: h.events(uid, "FailedPostStartHook"), what="FailedPostStartHook")
    assert "hook-broke" in failed[0].data["output"]
    assert "exited with 7" in failed[0].data["message"]
    killed = wait_for(lambda: h.events(uid, "ContainerKilled"), what="Killing")
    assert killed[0].data["reason"] == "FailedPostStartHook"
    wait_for(
        lambda: h.container_status("hooked", "app").get("restartCount", 0) >= 1,
        what="restart after the failed hook",
    )


def test_notify_hook_records_an_event(h: AgentHarness) -> None:
    h.start_agent()
    hook = {"postStart": {"notify": {"route": "ops", "channel": "#alerts"}}}
    uid = h.create_pod("notified", [container("app", "sleep", "3600", lifecycle=hook)])
    (event,) = wait_for(lambda: h.events(uid, "LifecycleHookNotify"), what="notify event")
    assert event.data["route"] == "ops" and event.data["channel"] == "#alerts"
    assert event.data["node"] == h.node and event.data["restartCount"] == 0


def test_delete_runs_pre_stop_then_term_then_kill(h: AgentHarness) -> None:
    h.start_agent()
    # The app ignores TERM, so only SIGKILL after the grace period stops it.
    pre_stop = {"preStop": {"exec": {"command": ["sh", "-c", "echo prestop > /tmp/p; sleep 1"]}}}
    uid = h.create_pod(
        "graceful",
        [
            container(
                "app", "sh", "-c", "trap '' TERM; while :; do sleep 1; done", lifecycle=pre_stop
            )
        ],
        terminationGracePeriodSeconds=3,
    )
    wait_for(lambda: h.status("graceful").get("phase") == "Running", what="Running")
    h.writer.delete(ObjectKey("Pod", h.namespace, "graceful"), actor=ADMIN, graceful=True)
    wait_for(lambda: h.pod("graceful") is None, timeout=30, what="pod object removed")
    killed = h.events(uid, "ContainerKilled")
    exited = h.events(uid, "ContainerExited")
    assert killed and exited
    assert killed[0].position < exited[-1].position
    assert not h.events(uid, "FailedPreStopHook")
    # preStop (1 s) then TERM ignored, SIGKILL when the remaining grace (>= 2 s) ran out.
    assert exited[-1].data["exitCode"] == 137
    elapsed = exited[-1].recorded_at - killed[0].recorded_at
    assert elapsed.total_seconds() >= 2.5
    assert not h.containers(uid)


def test_liveness_failure_restarts(h: AgentHarness) -> None:
    h.start_agent()
    probe = {"exec": {"command": ["test", "-f", "/tmp/healthy"]}, "periodSeconds": 1,
             "failureThreshold": 2}  # fmt: skip
    uid = h.create_pod(
        "live",
        [container("app", "sh", "-c", "sleep 3600", livenessProbe=probe)],
        terminationGracePeriodSeconds=1,
    )
    unhealthy = wait_for(lambda: h.events(uid, "ContainerUnhealthy"), what="Unhealthy")
    assert unhealthy[0].data["probe"] == "Liveness"
    wait_for(
        lambda: h.container_status("live", "app").get("restartCount", 0) >= 1,
        what="liveness restart",
    )
    assert h.events(uid, "ContainerKilled")[0].data["reason"] == "Unhealthy"


def test_readiness_flips_ready(h: AgentHarness) -> None:
    h.start_agent()
    probe = {"exec": {"command": ["test", "-f", "/tmp/ready"]}, "periodSeconds": 1}
    uid = h.create_pod("ready", [container("app", "sleep", "3600", readinessProbe=probe)])

    def ready() -> str:
        conditions = {c["type"]: c["status"] for c in h.status("ready").get("conditions") or ()}
        return conditions.get("Ready", "")

    wait_for(lambda: h.status("ready").get("phase") == "Running", what="Running")
    assert ready() == "False"
    container_id = h.container_status("ready", "app")["containerID"].removeprefix("docker://")
    h.runtime.exec(container_id, ["touch", "/tmp/ready"], timeout=5)
    wait_for(lambda: ready() == "True", what="Ready")
    assert h.container_status("ready", "app")["ready"] is True
    h.runtime.exec(container_id, ["rm", "/tmp/ready"], timeout=5)
    wait_for(lambda: ready() == "False", what="not Ready again")
    assert h.events(uid, "ContainerUnhealthy")[0].data["probe"] == "Readiness"
    assert h.container_status("ready", "app")["restartCount"] == 0


def test_unknown_image_backs_off_and_agent_survives(h: AgentHarness) -> None:
    h.start_agent()
    uid = h.create_pod(
        "noimage",
        [{"name": "app", "image": "dockyard-test/does-not-exist:1", "imagePullPolicy": "Always"}],
    )
    first = wait_for(lambda: h.events(uid, "ImagePullFailed"), what="ErrImagePull")
    assert first[0].data["reason"] == "ErrImagePull"
    wait_for(
        lambda: (
            (h.container_status("noimage", "app").get("state") or {})
            .get("waiting", {})
            .get("reason")
            == "ImagePullBackOff"
        ),
        what="ImagePullBackOff",
    )
    # The agent is still running other pods.
    h.create_pod("fine", [container("app", "sleep", "3600")])
    wait_for(lambda: h.status("fine").get("phase") == "Running", what="other pod runs")
    assert h.status("noimage")["phase"] == "Pending"


def test_startup_probe_holds_started_and_ready(h: AgentHarness) -> None:
    h.start_agent()
    startup = {"exec": {"command": ["test", "-f", "/tmp/up"]}, "periodSeconds": 1,
               "failureThreshold": 60}  # fmt: skip
    uid = h.create_pod("slow", [container("app", "sleep", "3600", startupProbe=startup)])
    wait_for(lambda: "running" in (h.container_status("slow", "app").get("state") or {}),
             what="running")  # fmt: skip
    status = h.container_status("slow", "app")
    assert status["started"] is False and status["ready"] is False
    container_id = status["containerID"].removeprefix("docker://")
    h.runtime.exec(container_id, ["touch", "/tmp/up"], timeout=5)
    wait_for(lambda: h.container_status("slow", "app").get("started") is True, what="started")
    assert h.container_status("slow", "app")["ready"] is True
    assert [e.data["probe"] for e in h.events(uid, "ContainerProbeSucceeded")] == ["Startup"]
