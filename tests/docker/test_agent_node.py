"""Node registration, the lease, pod IPs and pods/log."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dockyard.agent.agent import PodNotFound
from dockyard.store.events import EventStore
from dockyard.store.writer import ObjectKey
from tests.docker.agent_support import AgentHarness, container, harness, wait_for

pytestmark = pytest.mark.docker


@pytest.fixture
def h(store: EventStore) -> Iterator[AgentHarness]:
    yield from harness(store, lease_seconds=0.2)


def test_node_registers_with_capacity_and_renews_its_lease(h: AgentHarness) -> None:
    h.start_agent()
    node = h.writer.get(ObjectKey("Node", "", h.node))
    assert node is not None
    capacity = node.body["status"]["capacity"]
    assert int(capacity["cpu"]) >= 1 and capacity["memory"].endswith("Ki")
    (registered,) = h.store.read_stream(f"node-runtime:{h.node}")
    assert registered.type == "NodeRegistered"

    def renewed_at() -> object:
        with h.store.engine.connect() as conn:
            return conn.exec_driver_sql(
                "SELECT renewed_at FROM node_leases WHERE node_name = %s", (h.node,)
            ).scalar()

    first = renewed_at()
    assert first is not None
    wait_for(lambda: renewed_at() != first, what="lease renewed")


def test_pod_ip_host_ip_and_logs(h: AgentHarness) -> None:
    agent = h.start_agent()
    script = "echo run-$(cat /tmp/n 2>/dev/null || echo 0); exit 1"
    h.create_pod("talker", [container("app", "sh", "-c", script)],
                 terminationGracePeriodSeconds=1)  # fmt: skip
    wait_for(lambda: h.container_status("talker", "app").get("restartCount", 0) >= 1,
             what="a restart")  # fmt: skip
    status = h.status("talker")
    assert status["hostIP"] == "127.0.0.1"
    assert status.get("podIP", "").count(".") == 3
    current = agent.logs(h.namespace, "talker", "app")
    previous = agent.logs(h.namespace, "talker", "app", previous=True, tail=1)
    assert isinstance(current, bytes) and isinstance(previous, bytes)
    assert previous.strip() == b"run-0"
    with pytest.raises(PodNotFound):
        agent.logs(h.namespace, "nope")
    with pytest.raises(PodNotFound):
        agent.logs(h.namespace, "talker", "other")
