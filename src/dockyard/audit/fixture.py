"""A realistic audit log at size, for the benchmark: a simulated week of a small cluster.

10 namespaces x 5 deployments x 6 replicas on 10 nodes. Users scale, roll out new images and
annotate; controllers create ReplicaSets and replace pods; agents report container status,
including restarts (OOMKilled or Error) with the previous run in ``lastState``. Every event has
the shape the real write path gives it (whole object, Actor metadata) but is appended 500 at a
time with ``EventStore.append`` for speed: ObjectWriter's one-transaction-per-write would take
an hour for a million events.

The log is written in minutes, so ``recorded_at`` spans minutes, not a week; container start
times inside statuses follow the simulated clock. ``SIMULATED_SPAN`` lets a benchmark scale its
time windows so that they select as many events as they would in the simulated week.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dockyard.agent.status import ContainerStatus, Running, Terminated
from dockyard.store.catalogue import EventType
from dockyard.store.event_types import (
    ObjectCreated,
    ObjectDeleted,
    ObjectDeletionRequested,
    ObjectPayload,
    ObjectStatusUpdated,
    ObjectUpdated,
)
from dockyard.store.events import EventStore, NewEvent, new_event
from dockyard.store.writer import Actor

SIMULATED_SPAN = timedelta(days=7)
USERS = [Actor(f"user-{i}", ("devs",), request_id=None, user_agent="kubectl") for i in range(20)]
RS_CONTROLLER = Actor("system:controller:replicaset", source="controller")
DEPLOY_CONTROLLER = Actor("system:controller:deployment", source="controller")


@dataclass
class _Pod:
    uid: str
    body: dict[str, Any]
    restarts: int = 0
    started: datetime | None = None


@dataclass
class _Deployment:
    namespace: str
    name: str
    uid: str
    body: dict[str, Any]
    rs_name: str = ""
    rs_uid: str = ""
    generation: int = 0
    pods: list[_Pod] = field(default_factory=list)


class FixtureWriter:
    def __init__(self, store: EventStore, *, seed: int = 7) -> None:
        self.store = store
        self.rng = random.Random(seed)
        self.pending: list[NewEvent] = []
        self.written = 0
        self.now = datetime(2026, 11, 1, tzinfo=UTC)
        self.deployments: list[_Deployment] = []

    def emit(
        self, kind: EventType[ObjectPayload], uid: str, obj: dict[str, Any], actor: Actor, verb: str
    ) -> None:
        self.pending.append(
            new_event(kind, uid, ObjectPayload(object=obj), metadata=actor.metadata(verb))
        )
        if len(self.pending) >= 500:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.store.append(self.pending)
            self.written += len(self.pending)
            self.pending = []

    # -- objects --------------------------------------------------------------------------

    def _meta(self, name: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name, "uid": str(uuid.uuid4())}
        if namespace:
            meta["namespace"] = namespace
        meta["creationTimestamp"] = self.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        meta.update(extra)
        return meta

    def _template(self, app: str, image: str) -> dict[str, Any]:
        return {
            "metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "app", "image": image}]},
        }

    def create_world(self) -> None:
        for n in range(10):
            meta = self._meta(f"node-{n}")
            body = {"apiVersion": "v1", "kind": "Node", "metadata": meta, "spec": {}}
            self.emit(ObjectCreated, meta["uid"], body, Actor(f"system:node:node-{n}"), "create")
        for i in range(10):
            ns = f"ns-{i}"
            meta = self._meta(ns)
            ns_body = {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}
            self.emit(ObjectCreated, meta["uid"], ns_body, USERS[i], "create")
            for j in range(5):
                name = f"app-{i}-{j}"
                meta = self._meta(name, ns, generation=1)
                body = {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": meta,
                    "spec": {
                        "replicas": 6,
                        "selector": {"matchLabels": {"app": name}},
                        "template": self._template(name, "registry/app:1"),
                    },
                }
                self.emit(ObjectCreated, meta["uid"], body, USERS[(i + j) % 20], "apply")
                d = _Deployment(ns, name, meta["uid"], body)
                self.deployments.append(d)
                self.rollout_pods(d)

    def rollout_pods(self, d: _Deployment) -> None:
        """What the deployment and replicaset controllers and the agents do on a rollout."""
        d.generation += 1
        image = d.body["spec"]["template"]["spec"]["containers"][0]["image"]
        d.rs_name = f"{d.name}-{d.generation:05x}"
        meta = self._meta(
            d.rs_name,
            d.namespace,
            ownerReferences=[
                {"kind": "Deployment", "name": d.name, "uid": d.uid, "controller": True}
            ],
        )
        d.rs_uid = meta["uid"]
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": meta,
            "spec": {"replicas": 6, "template": self._template(d.name, image)},
        }
        self.emit(ObjectCreated, d.rs_uid, rs, DEPLOY_CONTROLLER, "create")
        for old in d.pods:
            node = old.body["spec"]["nodeName"]
            self.emit(ObjectDeletionRequested, old.uid, old.body, RS_CONTROLLER, "delete")
            self.stopped(old)
            self.emit(ObjectDeleted, old.uid, old.body, Actor(f"system:node:{node}"), "delete")
        d.pods = []
        for k in range(6):
            node = f"node-{self.rng.randrange(10)}"
            pmeta = self._meta(
                f"{d.rs_name}-{k}",
                d.namespace,
                ownerReferences=[
                    {"kind": "ReplicaSet", "name": d.rs_name, "uid": d.rs_uid, "controller": True}
                ],
            )
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": pmeta,
                "spec": {"nodeName": node, "containers": [{"name": "app", "image": image}]},
            }
            self.emit(ObjectCreated, pmeta["uid"], pod, RS_CONTROLLER, "create")
            d.pods.append(_Pod(pmeta["uid"], pod))

    def status(self, pod: _Pod, *, restart: bool) -> None:
        node = pod.body["spec"]["nodeName"]
        image = pod.body["spec"]["containers"][0]["image"]
        last = None
        if restart and pod.started is not None:
            pod.restarts += 1
            oom = self.rng.random() < 0.15
            last = Terminated(
                137 if oom else 1,
                "OOMKilled" if oom else "Error",
                started_at=pod.started,
                finished_at=self.now,
            )
        if last is not None or pod.started is None:
            pod.started = self.now
        ready = self.rng.random() < 0.9  # readiness flaps: a status transition, not a restart
        status = ContainerStatus(
            "app", Running(pod.started), last, ready, True, pod.restarts, image=image
        )
        body = dict(pod.body, status={"phase": "Running", "containerStatuses": [status.to_k8s()]})
        pod.body = body
        self.emit(ObjectStatusUpdated, pod.uid, body, Actor(f"system:node:{node}"), "update")

    def stopped(self, pod: _Pod) -> None:
        """The agent's report after graceful termination (SIGTERM: exit 143)."""
        node = pod.body["spec"]["nodeName"]
        image = pod.body["spec"]["containers"][0]["image"]
        state = Terminated(143, "Error", started_at=pod.started, finished_at=self.now)
        status = ContainerStatus("app", state, None, False, False, pod.restarts, image=image)
        body = dict(pod.body, status={"phase": "Failed", "containerStatuses": [status.to_k8s()]})
        pod.body = body
        self.emit(ObjectStatusUpdated, pod.uid, body, Actor(f"system:node:{node}"), "update")

    def user_change(self) -> None:
        d = self.rng.choice(self.deployments)
        user = self.rng.choice(USERS)
        spec = dict(d.body["spec"])
        roll = self.rng.random()
        if roll < 0.4:
            spec["replicas"] = self.rng.choice([0, 2, 4, 6, 8])
            verb = "scale"
        elif roll < 0.7:
            spec["template"] = self._template(d.name, f"registry/app:{self.rng.randrange(2, 99)}")
            verb = "apply"
        else:
            meta = dict(d.body["metadata"])
            meta["annotations"] = {"note": f"change {self.written}"}
            d.body = dict(d.body, metadata=meta)
            verb = "patch"
        d.body = dict(d.body, spec=spec)
        self.emit(ObjectUpdated, d.uid, d.body, user, verb)
        if verb == "apply":
            self.rollout_pods(d)


def generate(
    store: EventStore, events: int = 1_000_000, *, progress: Callable[[int], None] | None = None
) -> int:
    """Append about ``events`` events; returns how many were written."""
    w = FixtureWriter(store)
    start = w.now
    w.create_world()
    step = SIMULATED_SPAN / events
    while w.written + len(w.pending) < events:
        w.now = start + step * (w.written + len(w.pending))
        roll = w.rng.random()
        if roll < 0.01:
            w.user_change()
        else:
            d = w.rng.choice(w.deployments)
            w.status(w.rng.choice(d.pods), restart=w.rng.random() < 0.02)
        if progress and not w.pending:
            progress(w.written)
    w.flush()
    return w.written
