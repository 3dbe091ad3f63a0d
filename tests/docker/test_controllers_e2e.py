"""End to end on a real engine: controller manager + scheduler + a real node agent.

A Deployment of three busybox pods keeps its replica count when a container is killed (the
agent restarts it in place: restartCount goes up) and when a pod is deleted (the ReplicaSet
controller creates a replacement, the scheduler binds it, the agent runs it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from dockyard.agent.context import LABEL_NODE
from dockyard.agent.runtime import LABEL_CONTAINER_NAME, LABEL_POD_UID
from dockyard.controllers.manager import ControllerManager
from dockyard.store.events import EventStore
from dockyard.store.writer import ObjectKey
from tests.docker.agent_support import ADMIN, AgentHarness, container, wait_for
from tests.integration.controllers_harness import fast_settings

pytestmark = pytest.mark.docker
REPLICAS = 3


@pytest.fixture
def h(store: EventStore) -> Iterator[AgentHarness]:
    harness = AgentHarness(store, lease_seconds=0.5)
    try:
        yield harness
    finally:
        harness.stop_agent()
        # The controllers made the pods: remove every container of this test's node.
        client = docker.from_env(version="auto")
        try:
            for found in client.containers.list(
                all=True, filters={"label": f"{LABEL_NODE}={harness.node}"}
            ):
                with contextlib.suppress(docker.errors.APIError):
                    found.remove(force=True)
        finally:
            client.close()
        harness.cleanup()


@pytest.fixture
def manager(store: EventStore, database_url: str) -> Iterator[ControllerManager]:
    settings = fast_settings(database_url, node_monitor_grace_seconds=20.0)
    plane = ControllerManager(store, database_url, settings, identity="e2e").start()
    try:
        wait_for(lambda: plane.is_leader, what="leadership")
        yield plane
    finally:
        plane.stop()


def _pods(h: AgentHarness) -> list[dict[str, Any]]:
    with h.store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT body FROM objects WHERE kind = 'Pod' AND namespace = %s", (h.namespace,)
        ).all()
    return [dict(row[0]) for row in rows]


def _running(h: AgentHarness) -> dict[str, dict[str, Any]]:
    """Pods Running and Ready on the agent's node, not terminating, by name."""
    running = {}
    for pod in _pods(h):
        status = pod.get("status") or {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or ()
        )
        if (
            status.get("phase") == "Running"
            and ready
            and pod["spec"].get("nodeName") == h.node
            and not pod["metadata"].get("deletionTimestamp")
        ):
            running[pod["metadata"]["name"]] = pod
    return running


def _restart_count(pod: dict[str, Any]) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or ()
    return sum(int(s.get("restartCount", 0)) for s in statuses)


def _app_container(uid: str) -> Any:
    client = docker.from_env(version="auto")
    try:
        found = client.containers.list(
            filters={"label": [f"{LABEL_POD_UID}={uid}", f"{LABEL_CONTAINER_NAME}=app"]}
        )
        return found[0] if found else None
    finally:
        client.close()


def test_deployment_keeps_its_replicas_on_a_real_node(
    h: AgentHarness, manager: ControllerManager
) -> None:
    h.start_agent()
    wait_for(lambda: h.writer.get(ObjectKey("Node", "", h.node)), what="the Node registered")
    labels = {"app": "e2e"}
    h.writer.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": h.namespace},
            "spec": {
                "replicas": REPLICAS,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "terminationGracePeriodSeconds": 1,
                        "containers": [container("app", "sleep", "3600")],
                    },
                },
            },
        },
        actor=ADMIN,
    )
    first = wait_for(
        lambda: _running(h) if len(_running(h)) == REPLICAS else None,
        timeout=60,
        what="three pods running",
    )

    # A killed container is restarted in place: same pod, restartCount + 1.
    victim_name = sorted(first)[0]
    victim = first[victim_name]
    killed = wait_for(lambda: _app_container(victim["metadata"]["uid"]), what="app container")
    killed.kill()
    wait_for(
        lambda: (
            victim_name in (r := _running(h))
            and _restart_count(r[victim_name]) >= 1
            and len(r) == REPLICAS
        ),
        timeout=60,
        what="the killed container restarted",
    )
    restarted = _app_container(victim["metadata"]["uid"])
    assert restarted is not None and restarted.id != killed.id

    # A deleted pod is replaced by a new one (another name, another uid).
    doomed_name = sorted(first)[1]
    h.writer.delete(ObjectKey("Pod", h.namespace, doomed_name), actor=ADMIN, graceful=True)

    def replaced() -> dict[str, dict[str, Any]] | None:
        running = _running(h)
        if len(running) == REPLICAS and doomed_name not in running and len(_pods(h)) == REPLICAS:
            return running
        return None

    final = wait_for(replaced, timeout=60, what="a replacement pod running")
    assert victim_name in final
    assert len(set(final) - set(first)) == 1
    wait_for(
        lambda: (
            (d := h.writer.get(ObjectKey("Deployment", h.namespace, "web"))) is not None
            and (d.body.get("status") or {}).get("availableReplicas") == REPLICAS
        ),
        what="Deployment status availableReplicas == 3",
    )

    # Scale to zero: the controllers delete the pods, the agent stops their containers.
    def scale_to_zero() -> bool:
        stored = h.writer.get(ObjectKey("Deployment", h.namespace, "web"))
        assert stored is not None
        body = dict(stored.body)
        body["spec"] = {**body["spec"], "replicas": 0}
        try:
            h.writer.update(body, actor=ADMIN)
        except Exception:  # a controller wrote its status in between: read again
            return False
        return True

    wait_for(scale_to_zero, what="scaled to zero")
    wait_for(lambda: not _pods(h), timeout=60, what="every pod gone")
