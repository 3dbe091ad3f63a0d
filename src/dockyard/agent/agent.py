"""The node agent: Dockyard's kubelet for one Docker engine.

Start-up: register the Node (capacity from ``docker info``), relist every Dockyard container
and reconcile with the log: each pod bound here gets a worker that adopts its containers and
records what changed while the agent was down (from its runtime stream, see
``event_types_agent``); containers of pods that are not bound here any more are torn down.
Then four loops run: the Docker events stream (a hint that wakes one pod's worker), a relist
every ``relist_seconds`` (the truth: a pod whose containers changed is woken), the pod list
from the control plane every ``pod_poll_seconds``, and the lease every ``lease_seconds``.
"""

from __future__ import annotations

import logging
import platform
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dockyard import __version__
from dockyard.agent.backoff import Backoff, BackoffPolicy
from dockyard.agent.client import ControlPlaneClient
from dockyard.agent.context import LABEL_NODE, AgentContext
from dockyard.agent.desired import DesiredPod
from dockyard.agent.observer import EventObserver
from dockyard.agent.oom import OOM_HOLD_SECONDS
from dockyard.agent.probes import ProbeManager, ProbeTarget
from dockyard.agent.runtime import (
    ContainerRuntimeError,
    LogStream,
    NodeRuntime,
    RuntimeEvent,
    instances_of,
)
from dockyard.agent.status import format_time
from dockyard.agent.worker import PodWorker
from dockyard.store.event_types_agent import (
    ContainerProbeSucceeded,
    ContainerUnhealthy,
    NodeRegistered,
    NodeRegisteredPayload,
    ProbePayload,
    node_stream,
    pod_runtime_stream,
)
from dockyard.store.events import new_event

__all__ = ["Agent", "AgentConfig", "PodNotFound", "default_host_ip"]

log = logging.getLogger(__name__)


class PodNotFound(LookupError):
    pass


@dataclass(frozen=True)
class AgentConfig:
    node: str
    lease_seconds: float = 10.0
    lease_duration_seconds: int = 40
    relist_seconds: float = 2.0
    pod_poll_seconds: float = 1.0
    resync_seconds: float = 60.0
    max_container_restart_period: float | None = None
    host_ip: str | None = None
    oom_hold_seconds: float = OOM_HOLD_SECONDS  # wait for an `oom` after `die` (agent/oom.py)


def default_host_ip() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


class Agent:
    def __init__(
        self, config: AgentConfig, *, runtime: NodeRuntime, client: ControlPlaneClient
    ) -> None:
        self.config = config
        self.runtime = runtime
        self.client = client
        self.ctx = AgentContext(
            node=config.node,
            runtime=runtime,
            client=client,
            crash_backoff=Backoff(BackoffPolicy.crash_loop(config.max_container_restart_period)),
            image_backoff=Backoff(BackoffPolicy.image_pull()),
            probes=ProbeManager(runtime, self._on_probe_transition),
            host_ip=config.host_ip or default_host_ip(),
            resync_seconds=config.resync_seconds,
            oom_hold_seconds=config.oom_hold_seconds,
        )
        self.workers: dict[str, PodWorker] = {}
        self._versions: dict[str, str] = {}
        self._last_states: dict[str, tuple[str, str]] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.observer = EventObserver(
            runtime, on_pod_event=self._on_docker_event, on_gap=self.relist
        )

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        self.register_node()
        self.renew_lease()
        self.sync_pods()
        self.relist()
        self.observer.start()
        for name, period, step in (
            ("lease", self.config.lease_seconds, self.renew_lease),
            ("pods", self.config.pod_poll_seconds, self.sync_pods),
            ("relist", self.config.relist_seconds, self.relist),
        ):
            thread = threading.Thread(
                target=self._every, args=(period, step), name=f"agent-{name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop the agent; containers keep running (a restarted agent adopts them)."""
        self._stop.set()
        self.observer.stop()
        with self._lock:
            workers = list(self.workers.values())
        for worker in workers:
            worker.stop()
        for worker in workers:  # let in-flight work (a create, a hook) finish
            worker.thread.join(timeout=30)
        self.ctx.probes.stop_all()
        for thread in self._threads:
            thread.join(timeout=5)

    def wait(self) -> None:
        self._stop.wait()

    def _every(self, period: float, step: Any) -> None:
        while not self._stop.wait(period):
            try:
                step()
            except ContainerRuntimeError as exc:
                log.warning("%s: Docker engine: %s", step.__name__, exc)
            except Exception:  # the loop must survive a database blip
                log.exception("%s failed", step.__name__)

    # --- node -------------------------------------------------------------------------------

    def register_node(self) -> None:
        capacity = self.runtime.capacity()
        resources = {
            "cpu": str(capacity.cpus),
            "memory": f"{capacity.memory_bytes // 1024}Ki",
            "pods": "110",
        }
        now = format_time(datetime.now().astimezone())
        status = {
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
            "addresses": [
                {"type": "InternalIP", "address": self.ctx.host_ip},
                {"type": "Hostname", "address": capacity.hostname or self.config.node},
            ],
            "nodeInfo": {
                "kernelVersion": capacity.kernel_version,
                "osImage": capacity.operating_system,
                "containerRuntimeVersion": f"docker://{capacity.engine_version}",
                "kubeletVersion": f"dockyard-{__version__}",
                "operatingSystem": "linux",
                "architecture": platform.machine(),
            },
        }
        labels = {
            "kubernetes.io/hostname": self.config.node,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": platform.machine(),
        }
        self.client.register_node(self.config.node, labels=labels, status=status)
        payload = NodeRegisteredPayload(
            node=self.config.node, capacity=resources, node_info=status["nodeInfo"]
        )
        event = new_event(NodeRegistered, node_stream(self.config.node), payload)
        self.client.append([self.ctx.stamp(event)])

    def renew_lease(self) -> None:
        self.client.renew_lease(
            self.config.node,
            holder=f"{self.config.node}@{socket.gethostname()}",
            duration_seconds=self.config.lease_duration_seconds,
        )

    # --- pods -------------------------------------------------------------------------------

    def sync_pods(self) -> None:
        """Hand every worker its latest pod; start workers for new pods, tear down gone ones.

        Polls uids and resourceVersions only; bodies are read for the pods that changed."""
        versions = self.client.pod_versions(self.config.node)
        with self._lock:
            for uid, existing in list(self.workers.items()):
                if existing.done.is_set():
                    del self.workers[uid]
                    self._versions.pop(uid, None)
            changed = [uid for uid, v in versions.items() if self._versions.get(uid) != v]
        bodies = self.client.pods_by_uid(changed)
        with self._lock:
            if self._stop.is_set():
                return  # stop() has taken its list of workers: start no new ones
            for body in bodies:
                uid = str(body["metadata"]["uid"])
                version = str(body["metadata"].get("resourceVersion", ""))
                current = self.workers.get(uid)
                self._versions[uid] = version
                if current is None:
                    fresh = PodWorker(self.ctx, body=body)
                    self.workers[uid] = fresh
                    fresh.start()
                    fresh.wake()
                else:
                    current.update(body)
            for uid, worker in self.workers.items():
                if uid not in versions and worker.body is not None:
                    worker.update(None)

    def relist(self) -> None:
        """The truth: wake the workers whose containers changed; tear down orphans."""
        states = self.runtime.container_states(labels={LABEL_NODE: self.config.node})
        changed: set[str] = set()
        for container_id, (uid, state) in states.items():
            if self._last_states.get(container_id) != (uid, state):
                changed.add(uid)
        for container_id, (uid, _) in self._last_states.items():
            if container_id not in states:
                changed.add(uid)
        self._last_states = states
        with self._lock:
            for uid in changed:
                worker = self.workers.get(uid)
                if worker is not None:
                    worker.wake()
                elif uid:
                    self._adopt_orphan(uid)

    def _adopt_orphan(self, uid: str) -> None:
        """Containers of a pod not bound here (deleted while the agent was down): remove."""
        containers = self.runtime.list_containers(pod_uid=uid)
        identity = next((c.identity for c in containers if c.identity is not None), None)
        if identity is None or self._stop.is_set():
            return
        orphan = DesiredPod(
            uid=uid,
            namespace=identity.namespace,
            name=identity.pod_name,
            restart_policy="Never",
            grace_seconds=2.0,
            host_network=False,
            hostname=None,
            deleting=True,
            containers=(),
        )
        worker = PodWorker(self.ctx, body=None, orphan=orphan)
        self.workers[uid] = worker
        worker.start()
        worker.wake()

    def _on_docker_event(self, pod_uid: str, event: RuntimeEvent) -> None:
        with self._lock:
            worker = self.workers.get(pod_uid)
        if worker is not None:
            worker.hint(event)

    def _on_probe_transition(self, target: ProbeTarget, kind: str, ok: bool, text: str) -> None:
        with self._lock:
            found = self.workers.get(target.pod_uid)
        if found is None or found.desired is None:
            return
        worker, pod = found, found.desired
        payload = ProbePayload(
            namespace=pod.namespace,
            pod=pod.name,
            pod_uid=pod.uid,
            node=self.config.node,
            container=target.container,
            container_id=target.container_id,
            probe=kind,
            reason="ProbeSucceeded" if ok else "Unhealthy",
            message=text,
        )
        event_type = ContainerProbeSucceeded if ok else ContainerUnhealthy
        stream = pod_runtime_stream(pod.uid)
        self.client.append([self.ctx.stamp(new_event(event_type, stream, payload))])
        worker.wake()

    # --- logs -------------------------------------------------------------------------------

    def logs(
        self,
        namespace: str,
        pod: str,
        container: str | None = None,
        *,
        previous: bool = False,
        tail: int | None = None,
        since: datetime | None = None,
        follow: bool = False,
        timestamps: bool = False,
    ) -> bytes | LogStream:
        """``pods/log``: the current (or, with ``previous``, the last terminated) instance."""
        with self._lock:
            worker = next(
                (
                    w
                    for w in self.workers.values()
                    if w.desired is not None
                    and (w.desired.namespace, w.desired.name) == (namespace, pod)
                ),
                None,
            )
        if worker is None or worker.desired is None:
            raise PodNotFound(f'pods "{pod}" not found')
        desired = worker.desired
        names = [c.name for c in desired.containers]
        name = container or (names[0] if names else "")
        if name not in names:
            raise PodNotFound(f"container {name} is not valid for pod {pod}")
        found = instances_of(
            self.runtime.list_containers(pod_uid=desired.uid),
            pod_uid=desired.uid,
            container_name=name,
        )
        index = 1 if previous else 0
        if len(found) <= index:
            which = "previous terminated" if previous else "current"
            raise PodNotFound(f'{which} container "{name}" in pod "{pod}" not found')
        target = found[index].id
        if follow:
            return self.runtime.follow_logs(target, tail=tail, since=since, timestamps=timestamps)
        return self.runtime.logs(target, tail=tail, since=since, timestamps=timestamps)

    def pod_worker(self, uid: str) -> PodWorker | None:
        with self._lock:
            return self.workers.get(uid)

    @property
    def pod_uids(self) -> Mapping[str, PodWorker]:
        with self._lock:
            return dict(self.workers)

    def now(self) -> float:
        return time.time()
