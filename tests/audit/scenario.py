"""A small, realistic history written through the real write path (ObjectWriter with actors),
with container status reported the way the node agent reports it (agent.status models).

Users: alice creates, bob rolls out a new image, carol scales to zero and deletes a pod, dave
deletes the deployment. Controllers create the ReplicaSet and pods; agents report restarts
(one OOMKilled, two Error) and the node lifecycle controller marks node-2 NotReady.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dockyard.agent.status import ContainerStatus, Running, Terminated
from dockyard.store.writer import Actor, ObjectKey, ObjectWriter

ALICE = Actor(
    "alice", ("devs",), request_id="req-1", client_address="10.0.0.7", user_agent="kubectl"
)
BOB = Actor("bob", ("devs",), request_id="req-2", user_agent="kubectl")
CAROL = Actor("carol", ("ops",), request_id="req-3", client_address="10.0.0.9")
DAVE = Actor("dave", ("ops",), request_id="req-4")
DEPLOYMENT_CONTROLLER = Actor("system:controller:deployment", source="controller")
REPLICASET_CONTROLLER = Actor("system:controller:replicaset", source="controller")
NODE_LIFECYCLE = Actor("system:controller:node-lifecycle", source="controller")


def agent(node: str) -> Actor:
    return Actor(f"system:node:{node}", ("system:nodes",), source="agent")


def deployment(image: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "payments", "labels": {"app": "api"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def node(name: str, ready: str, reason: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "spec": {},
        "status": {"conditions": [{"type": "Ready", "status": ready, "reason": reason}]},
    }


@dataclass
class Scenario:
    writer: ObjectWriter
    marks: dict[str, datetime] = field(default_factory=dict)
    gets: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)  # deployment
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)

    def mark(self, name: str) -> None:
        with self.writer.store.engine.connect() as conn:
            self.marks[name] = conn.exec_driver_sql("SELECT clock_timestamp()").scalar_one()

    def record_get(self) -> None:
        """What a `get` of the deployment returned, and when."""
        current = self.writer.get(ObjectKey("Deployment", "payments", "api"))
        assert current is not None
        body = copy.deepcopy(current.body)
        self.mark("get")
        self.gets.append((self.marks["get"], body))

    def pod_status(self, name: str, statuses: list[ContainerStatus], by: Actor) -> None:
        current = self.writer.get(ObjectKey("Pod", "payments", name))
        assert current is not None
        body = copy.deepcopy(current.body)
        body["status"] = {"phase": "Running", "containerStatuses": [s.to_k8s() for s in statuses]}
        self.writer.update(body, actor=by, status_only=True)


def build(writer: ObjectWriter) -> Scenario:
    s = Scenario(writer)
    t = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # container start times reported by agents
    s.mark("start")
    writer.create(node("node-1", "True", "KubeletReady"), actor=agent("node-1"))
    writer.create(node("node-2", "True", "KubeletReady"), actor=agent("node-2"))
    writer.create(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments"}}, actor=ALICE
    )
    dep = writer.create(deployment("busybox:1", 2), actor=ALICE)
    s.record_get()
    rs = writer.create(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": "api-7d9f",
                "namespace": "payments",
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": "api",
                        "uid": dep["metadata"]["uid"],
                        "controller": True,
                    }
                ],
            },
            "spec": {"replicas": 2, "template": deployment("busybox:1", 2)["spec"]["template"]},
        },
        actor=DEPLOYMENT_CONTROLLER,
    )
    for pod_name, node_name in (("api-7d9f-a", "node-1"), ("api-7d9f-b", "node-2")):
        s.pods[pod_name] = writer.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": pod_name,
                    "namespace": "payments",
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "ReplicaSet",
                            "name": "api-7d9f",
                            "uid": rs["metadata"]["uid"],
                            "controller": True,
                        }
                    ],
                },
                "spec": {
                    "nodeName": node_name,
                    "containers": [{"name": "app", "image": "busybox:1"}],
                },
            },
            actor=REPLICASET_CONTROLLER,
        )
        s.pod_status(
            pod_name,
            [ContainerStatus("app", Running(t), ready=True, image="busybox:1")],
            agent(node_name),
        )
    s.mark("before_rollout")
    rollout = deployment("busybox:2", 2)
    writer.update(rollout, actor=BOB, verb="apply")
    s.mark("rollout")
    s.record_get()
    # api-7d9f-a: OOMKilled, restarted; then Error, restarted again.
    oom = Terminated(137, "OOMKilled", started_at=t, finished_at=t + timedelta(minutes=5))
    s.pod_status(
        "api-7d9f-a",
        [
            ContainerStatus(
                "app",
                Running(t + timedelta(minutes=5, seconds=10)),
                last_state=oom,
                restart_count=1,
                image="busybox:1",
            )
        ],
        agent("node-1"),
    )
    s.mark("first_restart")
    error = Terminated(
        1,
        "Error",
        started_at=t + timedelta(minutes=5, seconds=10),
        finished_at=t + timedelta(minutes=8),
    )
    s.pod_status(
        "api-7d9f-a",
        [
            ContainerStatus(
                "app",
                Running(t + timedelta(minutes=8, seconds=20)),
                last_state=error,
                restart_count=2,
                image="busybox:1",
            )
        ],
        agent("node-1"),
    )
    s.pod_status(
        "api-7d9f-b",
        [
            ContainerStatus(
                "app",
                Running(t + timedelta(minutes=3)),
                last_state=Terminated(
                    2, "Error", started_at=t, finished_at=t + timedelta(minutes=2)
                ),
                restart_count=1,
                image="busybox:1",
            )
        ],
        agent("node-2"),
    )
    writer.update(
        node("node-2", "False", "NodeStatusUnknown"), actor=NODE_LIFECYCLE, status_only=True
    )
    s.mark("before_scale")
    writer.update(deployment("busybox:2", 0), actor=CAROL, verb="scale")
    s.record_get()
    key_b = ObjectKey("Pod", "payments", "api-7d9f-b")
    writer.delete(key_b, actor=CAROL, graceful=True)
    writer.delete(key_b, actor=agent("node-2"))
    s.mark("before_delete")
    writer.delete(ObjectKey("Deployment", "payments", "api"), actor=DAVE)
    s.mark("end")
    return s
