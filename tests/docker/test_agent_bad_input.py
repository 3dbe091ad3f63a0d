"""Bad input on a real engine: clear status on the pod, the agent keeps running."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dockyard.store.events import EventStore
from tests.docker.agent_support import AgentHarness, container, harness, wait_for

pytestmark = pytest.mark.docker


@pytest.fixture
def h(store: EventStore) -> Iterator[AgentHarness]:
    yield from harness(store)


def waiting_reason(h: AgentHarness, pod: str) -> str:
    state = h.container_status(pod, "app").get("state") or {}
    return str((state.get("waiting") or {}).get("reason", ""))


def test_command_that_does_not_exist(h: AgentHarness) -> None:
    h.start_agent()
    uid = h.create_pod("nocmd", [container("app", "/no/such/binary")], restartPolicy="Never")
    wait_for(lambda: h.events(uid, "ContainerStartFailed"), what="start failure recorded")
    failed = h.events(uid, "ContainerStartFailed")[0]
    assert failed.data["reason"] == "RunContainerError"
    assert "no/such/binary" in failed.data["message"]
    wait_for(lambda: h.status("nocmd").get("phase") == "Failed", what="Failed")
    terminated = h.container_status("nocmd", "app")["state"].get("terminated") or {}
    lasting = h.container_status("nocmd", "app")["lastState"].get("terminated") or {}
    assert "ContainerCannotRun" in (terminated.get("reason"), lasting.get("reason"))
    h.create_pod("fine", [container("app", "sleep", "3600")])
    wait_for(lambda: h.status("fine").get("phase") == "Running", what="agent still works")


def test_hanging_post_start_hook_is_bounded(h: AgentHarness) -> None:
    h.start_agent()
    hook = {"postStart": {"exec": {"command": ["sleep", "3600"]}}}
    uid = h.create_pod(
        "hang",
        [container("app", "sleep", "3600", lifecycle=hook)],
        terminationGracePeriodSeconds=2,
    )
    failed = wait_for(lambda: h.events(uid, "FailedPostStartHook"), what="hook timed out")
    assert "timed out" in failed[0].data["message"]


def test_http_readiness_and_tcp_liveness_against_a_closed_port(h: AgentHarness) -> None:
    h.start_agent()
    readiness = {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}
    liveness = {"tcpSocket": {"port": 9}, "periodSeconds": 1, "failureThreshold": 2}
    uid = h.create_pod(
        "web",
        [
            container("app", "sh", "-c",
                      "echo ok > /var/www/index.html; exec httpd -f -p 8080 -h /var/www",
                      readinessProbe=readiness),
            container("closed", "sleep", "3600", livenessProbe=liveness),
        ],
        terminationGracePeriodSeconds=1,
    )  # fmt: skip
    wait_for(lambda: h.container_status("web", "app").get("ready") is True, what="http ready")
    wait_for(
        lambda: h.container_status("web", "closed").get("restartCount", 0) >= 1,
        what="tcp liveness restart",
    )
    unhealthy = [e.data for e in h.events(uid, "ContainerUnhealthy")]
    assert any(e["probe"] == "Liveness" and e["container"] == "closed" for e in unhealthy)
    assert h.container_status("web", "app")["restartCount"] == 0


def test_host_network_and_limits(h: AgentHarness) -> None:
    h.start_agent()
    uid = h.create_pod(
        "hostnet",
        [container("app", "sleep", "3600",
                   resources={"limits": {"memory": "64Mi", "cpu": "250m"}})],
        hostNetwork=True,
        terminationGracePeriodSeconds=1,
    )  # fmt: skip
    wait_for(lambda: h.status("hostnet").get("phase") == "Running", what="Running")
    assert h.status("hostnet")["podIP"] == h.status("hostnet")["hostIP"]
    app = next(c for c in h.containers(uid) if c.labels.get("io.dockyard.sandbox") != "true")
    host_config = app.attrs["HostConfig"]
    assert host_config["NetworkMode"] == "host"
    assert host_config["Memory"] == 64 * 1024 * 1024
    assert host_config["NanoCpus"] == 250_000_000
