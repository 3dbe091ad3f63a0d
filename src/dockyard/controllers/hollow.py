"""Hollow nodes: an in-process stand-in for node agents, for integration and scale tests.

Like Kubernetes' kubemark, a hollow node registers a Node, renews its lease, reports the pods
bound to it Running and Ready at once (no containers), and finishes their graceful deletion.
It replaces a *node*, never the store: every write goes through ``ObjectWriter`` as a real agent's
would. ``kill(name)`` makes a node fall silent (no lease renewals, no pod handling) to simulate
node loss.

Leases live in ``node_leases(node_name, holder, renewed_at, duration_seconds)``, the table the
node agent's migration (0003_nodes) creates and the agent renews; hollow nodes renew theirs
there the same way, so the node lifecycle controller reads one table for both. Pod status is
written in batches (``update_many_in``), one append per batch of log events, as a kubelet's
status manager would coalesce them.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection

from dockyard.controllers import convert
from dockyard.store.event_types import OBJECT_EVENT_TYPES, ObjectDeleted
from dockyard.store.events import EventStore
from dockyard.store.follower import LogFollower
from dockyard.store.writer import Actor, ObjectError, ObjectKey, ObjectWriter


def renew_leases(conn: Connection, names: Iterable[str], duration: int = 40) -> None:
    """Renew every named node's lease in one statement (as the agent's ``renew_lease`` does
    for one node)."""
    names = list(names)
    if not names:
        return
    conn.exec_driver_sql(
        "INSERT INTO node_leases (node_name, holder, renewed_at, duration_seconds) "
        "SELECT name, name || '@hollow', now(), %s FROM unnest(%s::text[]) AS name "
        "ON CONFLICT (node_name) DO UPDATE SET renewed_at = EXCLUDED.renewed_at, "
        "holder = EXCLUDED.holder, duration_seconds = EXCLUDED.duration_seconds",
        (duration, names),
    )


def node_body(
    name: str, *, cpu: str, memory: str, pods: int, labels: Mapping[str, str]
) -> dict[str, Any]:
    now = convert.format_time(convert.now_utc())
    resources = {"cpu": cpu, "memory": memory, "pods": str(pods)}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}},
        "spec": {},
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
            ],
            "nodeInfo": {"kubeletVersion": "hollow"},
        },
    }


def running_status(body: Mapping[str, Any], node_name: str) -> dict[str, Any]:
    now = convert.format_time(convert.now_utc())
    containers = convert.spec(body).get("containers") or []
    return {
        "phase": "Running",
        "hostIP": "127.0.0.1",
        "podIP": "127.0.0.1",
        "startTime": now,
        "conditions": [
            {"type": t, "status": "True", "lastTransitionTime": now}
            for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ],
        "containerStatuses": [
            {
                "name": c.get("name", ""),
                "ready": True,
                "restartCount": 0,
                "image": c.get("image", ""),
                "started": True,
                "state": {"running": {"startedAt": now}},
            }
            for c in containers
        ],
    }


class HollowNodes:
    """A set of hollow nodes served by two threads (log follower, lease renewer)."""

    def __init__(
        self,
        store: EventStore,
        database_url: str,
        names: Iterable[str],
        *,
        cpu: str = "4",
        memory: str = "16Gi",
        pods: int = 110,
        labels: Mapping[str, str] | None = None,
        renew_interval: float = 1.0,
    ) -> None:
        self.store, self.writer = store, ObjectWriter(store)
        self._url = database_url
        self.names = list(names)
        self.alive = set(self.names)
        self._cpu, self._memory, self._pods = cpu, memory, pods
        self._labels = dict(labels or {})
        self._renew_interval = renew_interval
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._follower: LogFollower | None = None

    def actor(self, name: str) -> Actor:
        return Actor(name=f"system:node:{name}", groups=("system:nodes",), source="agent")

    def start(self) -> HollowNodes:
        with self.store.engine.begin() as conn:
            for name in self.names:
                if self.writer.get(ObjectKey("Node", "", name), conn=conn) is None:
                    body = node_body(
                        name,
                        cpu=self._cpu,
                        memory=self._memory,
                        pods=self._pods,
                        labels=self._labels,
                    )
                    self.writer.create_in(conn, body, actor=self.actor(name))
            renew_leases(conn, self.names)
        head = self.store.head_position()
        self._follower = LogFollower(
            self.store, self._url, after=head, poll_interval=0.2, types=sorted(OBJECT_EVENT_TYPES)
        )
        self._handle_existing()
        for target in (self._follow, self._renew):
            thread = threading.Thread(target=target, daemon=True, name=f"hollow-{target.__name__}")
            thread.start()
            self._threads.append(thread)
        return self

    def kill(self, name: str) -> None:
        """The node falls silent: no lease renewals, bound pods left as they are."""
        self.alive.discard(name)

    def stop(self) -> None:
        self._stop.set()
        if self._follower is not None:
            self._follower.stop()
        for thread in self._threads:
            thread.join(timeout=5)

    def _renew(self) -> None:
        while not self._stop.wait(self._renew_interval):
            try:
                with self.store.engine.begin() as conn:
                    renew_leases(conn, sorted(self.alive))
            except Exception:  # the database is going away with the test
                if self._stop.is_set():
                    return

    def _handle_existing(self) -> None:
        with self.store.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT body FROM objects WHERE kind = 'Pod'").all()
        self._handle({str(r[0]["metadata"]["uid"]): r[0] for r in rows})

    def _follow(self) -> None:
        assert self._follower is not None
        try:
            for batch in self._follower.batches():
                latest: dict[str, Any] = {}
                for event in batch:
                    body = event.data.get("object") or {}
                    if body.get("kind") != "Pod":
                        continue
                    latest[event.stream_id] = None if event.type == ObjectDeleted.name else body
                self._handle({uid: b for uid, b in latest.items() if b is not None})
        except Exception:
            if not self._stop.is_set():
                raise

    def _handle(self, pods: Mapping[str, Any]) -> None:
        todo = []
        for body in pods.values():
            node = str(convert.spec(body).get("nodeName") or "")
            if node not in self.alive:
                continue
            if convert.meta(body).get("deletionTimestamp"):
                todo.append(("delete", node, body))
            elif convert.status(body).get("phase") != "Running":
                todo.append(("run", node, body))
        if not todo:
            return
        runs: dict[str, list[dict[str, Any]]] = {}
        for action, node, body in todo:
            if action == "run":
                new = copy.deepcopy(dict(body))
                new["metadata"].pop("resourceVersion", None)
                new["status"] = running_status(body, node)
                runs.setdefault(node, []).append(new)
        # One short transaction per node (each node writes as itself): the append lock is held
        # from its append to its commit only, never across another node's work.
        for node, bodies in runs.items():
            self._report(node, bodies)
        deletes = [(node, body) for action, node, body in todo if action == "delete"]
        if not deletes:
            return
        with self.store.engine.begin() as conn:
            for node, body in deletes:
                try:
                    with conn.begin_nested():
                        self.writer.delete_in(conn, ObjectKey.of(body), actor=self.actor(node))
                except ObjectError:
                    continue

    def _report(self, node: str, bodies: list[dict[str, Any]]) -> None:
        """Write the pods' statuses in one append; if one pod vanished meanwhile, pod by pod."""
        actor = self.actor(node)
        with self.store.engine.begin() as conn:
            try:
                self.writer.update_many_in(conn, bodies, actor=actor, status_only=True)
                return
            except ObjectError:
                pass  # nothing was written: the checks run before the append
            for body in bodies:
                try:
                    self.writer.update_in(conn, body, actor=actor, status_only=True)
                except ObjectError:
                    continue
