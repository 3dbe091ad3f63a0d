"""Restart latency: Dockyard's agent beside Docker's own ``--restart=always``, same engine.

Run: .venv/bin/python -m bench.restart_latency [--containers N] [--idle-pods P]
[--idle-seconds S] (uses DOCKYARD_DATABASE_URL or a throwaway PostgreSQL, and the local Docker
engine with the offline ``busybox:latest`` image).

Each of N Dockyard pods and N plain Docker containers (``--restart=always``) crashes once: its
main process is SIGKILLed from the host (``docker kill`` would count as a manual stop, which
Docker does not restart). A first crash: Kubernetes restarts at once, Docker after 100 ms.
Latency is measured on the engine's own clock, from the ``die`` event to the replacement's
``start`` event (for Dockyard a new container of the same pod, for Docker the same container).
"Death in the log" is the time from ``die`` to the ``ContainerExited`` row's ``recorded_at``.
Then, optionally, the agent's CPU with P idle pods (this process's CPU time: the agent runs
in-process, PostgreSQL does not).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import signal
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import docker

from bench._db import bench_database
from dockyard.agent.agent import Agent, AgentConfig
from dockyard.agent.client import StoreControlPlane
from dockyard.agent.docker_runtime import DockerRuntime
from dockyard.agent.runtime import LABEL_POD_UID, LABEL_SANDBOX
from dockyard.model.meta import to_dict
from dockyard.model.validation import parse_object
from dockyard.store import migrations
from dockyard.store.db import make_engine
from dockyard.store.events import EventStore
from dockyard.store.writer import Actor, ObjectKey, ObjectWriter

IMAGE = "busybox:latest"
BENCH_LABEL = "io.dockyard.bench"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary(name: str, values: list[float]) -> str:
    if not values:
        return f"{name:<34} no samples"
    return (
        f"{name:<34} median {statistics.median(values) * 1000:7.1f} ms   "
        f"p95 {percentile(values, 0.95) * 1000:7.1f} ms   (n={len(values)})"
    )


class EventTap:
    """Collects die/start events of containers carrying ``label`` (our own subscription)."""

    def __init__(self, client: Any, label: str) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._stream = client.api.events(
            decode=True, filters={"type": "container", "event": ["die", "start"], "label": [label]}
        )
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(Exception):
            for message in self._stream:
                self.events.put(message)

    def close(self) -> None:
        self._stream.close()

    def drain(self) -> list[dict[str, Any]]:
        found = []
        while True:
            try:
                found.append(self.events.get_nowait())
            except queue.Empty:
                return found


def pod_manifest(name: str, namespace: str, node: str) -> dict[str, Any]:
    return to_dict(
        parse_object(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    "nodeName": node,
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {"name": "app", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                         "command": ["sleep", "3600"]}
                    ],
                },
            }
        )
    )  # fmt: skip


def wait_until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextlib.contextmanager
def agent_on(url: str, node: str) -> Iterator[tuple[Agent, EventStore]]:
    engine = make_engine(url)
    migrations.upgrade(engine)
    store = EventStore(engine)
    runtime = DockerRuntime()
    agent = Agent(
        AgentConfig(node=node, host_ip="127.0.0.1"),
        runtime=runtime,
        client=StoreControlPlane(store, node),
    )
    agent.start()
    try:
        yield agent, store
    finally:
        agent.stop()
        runtime.close()
        store.dispose()
        engine.dispose()


def running_app(client: Any, uid: str) -> Any:
    for found in client.containers.list(filters={"label": f"{LABEL_POD_UID}={uid}"}):
        if found.labels.get(LABEL_SANDBOX) != "true":
            return found
    return None


def crash_and_wait(
    tap: EventTap, target: Any, is_start: Any, timeout: float = 15.0
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """SIGKILL ``target``'s main process; return its ``die`` and the matching ``start``."""
    tap.drain()
    target.reload()
    os.kill(int(target.attrs["State"]["Pid"]), signal.SIGKILL)
    die = start = None
    deadline = time.monotonic() + timeout
    while start is None and time.monotonic() < deadline:
        try:
            event = tap.events.get(timeout=0.1)
        except queue.Empty:
            continue
        if event["Action"] == "die" and event["Actor"]["ID"] == target.id:
            die = event
        elif event["Action"] == "start" and die is not None and is_start(event):
            start = event
    return die, start


def is_app_start_of(event: dict[str, Any], uid: str) -> bool:
    attributes = event["Actor"]["Attributes"]
    return attributes.get(LABEL_POD_UID) == uid and attributes.get(LABEL_SANDBOX) != "true"


def exited_row(store: EventStore, uid: str, container_id: str) -> Any:
    for event in store.read_stream(f"pod-runtime:{uid}"):
        if event.type == "ContainerExited" and event.data["containerID"] == container_id:
            return event
    return None


def run(count: int, idle_pods: int, idle_seconds: float) -> None:
    client = docker.from_env(version="auto")
    node = f"bench-{uuid.uuid4().hex[:6]}"
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    writer_actor = Actor(name="bench", source="bench")
    plain: list[Any] = []
    uids: list[str] = []
    try:
        with bench_database() as url, agent_on(url, node) as (agent, store):
            writer = ObjectWriter(store)
            for i in range(count):
                created = writer.create(pod_manifest(f"p{i}", namespace, node), actor=writer_actor)
                uids.append(created["metadata"]["uid"])
                plain.append(
                    client.containers.run(
                        IMAGE, ["sleep", "3600"], detach=True, labels={BENCH_LABEL: node},
                        restart_policy={"Name": "always"},
                    )
                )  # fmt: skip
            wait_until(lambda: all(running_app(client, uid) for uid in uids), 60, "pods running")
            tap = EventTap(client, "io.dockyard.managed")
            tap_docker = EventTap(client, f"{BENCH_LABEL}={node}")
            time.sleep(0.5)
            dy_latency, log_latency = [], []
            docker_latency: list[float] = []
            # One crash at a time, alternating: concurrent starts would measure the engine's
            # queue, not the restart path.
            for uid, container in zip(uids, plain, strict=True):
                victim = running_app(client, uid)
                die, start = crash_and_wait(tap, victim, lambda e, uid=uid: is_app_start_of(e, uid))
                if die is not None and start is not None:
                    dy_latency.append((start["timeNano"] - die["timeNano"]) / 1e9)
                    wait_until(
                        lambda uid=uid, victim=victim: exited_row(store, uid, victim.id),
                        10,
                        "ContainerExited in the log",
                    )
                    row = exited_row(store, uid, victim.id)
                    assert row is not None
                    log_latency.append(row.recorded_at.timestamp() - die["timeNano"] / 1e9)
                die, start = crash_and_wait(
                    tap_docker, container, lambda e, cid=container.id: e["Actor"]["ID"] == cid
                )
                if die is not None and start is not None:
                    docker_latency.append((start["timeNano"] - die["timeNano"]) / 1e9)
            tap.close()
            tap_docker.close()
            print(f"restart latency, first crash, {count} containers each (die -> start):")
            print(summary("dockyard (agent)", dy_latency))
            print(summary("docker --restart=always", docker_latency))
            if dy_latency and docker_latency:
                ratio = statistics.median(dy_latency) / statistics.median(docker_latency)
                print(f"{'median ratio dockyard/docker':<34} {ratio:.2f}x (target <= 1.0x)")
            print(summary("death in the event log", log_latency) + "   (target < 50 ms)")

            if idle_pods:
                for i in range(idle_pods):
                    created = writer.create(
                        pod_manifest(f"idle{i}", namespace, node), actor=writer_actor
                    )
                    uids.append(created["metadata"]["uid"])
                wait_until(
                    lambda: all(
                        ((writer.get(ObjectKey("Pod", namespace, f"idle{i}")) or Any).body
                         .get("status", {}).get("phase") == "Running")
                        for i in range(idle_pods)
                    ),
                    300,
                    "idle pods running",
                )  # fmt: skip
                time.sleep(3.0)
                cpu0, wall0 = time.process_time(), time.monotonic()
                time.sleep(idle_seconds)
                cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0)
                print(
                    f"{'agent CPU, ' + str(idle_pods) + ' idle pods':<34} {cpu * 100:6.2f}% of "
                    f"one core over {idle_seconds:.0f} s (target < 2%)"
                )
    finally:
        for container in plain:
            with contextlib.suppress(Exception):
                container.remove(force=True)
        for uid in uids:
            for found in client.containers.list(
                all=True, filters={"label": f"{LABEL_POD_UID}={uid}"}
            ):
                with contextlib.suppress(Exception):
                    found.remove(force=True)
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=20)
    parser.add_argument("--idle-pods", type=int, default=0)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    args = parser.parse_args()
    run(args.containers, args.idle_pods, args.idle_seconds)


if __name__ == "__main__":
    main()
