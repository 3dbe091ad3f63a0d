"""Two control planes on one database: the leader is killed mid-rollout, the other finishes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from dockyard.controllers.hollow import HollowNodes
from dockyard.store.events import EventStore
from tests.integration.controllers_harness import (
    Cluster,
    deployment,
    fast_settings,
    running,
    wait_for,
)


def _start(name: str, database_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DOCKYARD_DATABASE_URL": database_url,
        "DOCKYARD_LEADER_RETRY_SECONDS": "0.3",
        "DOCKYARD_POLL_INTERVAL_SECONDS": "0.2",
        "DOCKYARD_CONTROLLER_RESYNC_SECONDS": "2",
        "DOCKYARD_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "dockyard.cli.main", "controllers", "--identity", name],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _leading(log: Path) -> bool:
    lines = log.read_text().splitlines() if log.exists() else []
    states = [line for line in lines if line.endswith(("leading", "standing by"))]
    return bool(states) and states[-1].endswith("leading")


def test_leader_killed_mid_rollout_another_takes_over(
    store: EventStore, database_url: str, tmp_path: Path
) -> None:
    cluster = Cluster(store, database_url, fast_settings(database_url))
    hollow = HollowNodes(
        store, database_url, [f"node-{i}" for i in range(3)], renew_interval=0.3
    ).start()
    logs = {name: tmp_path / f"{name}.log" for name in ("cp-a", "cp-b")}
    procs = {name: _start(name, database_url, log) for name, log in logs.items()}
    try:
        leader = wait_for(
            lambda: next((n for n, log in logs.items() if _leading(log)), None), what="a leader"
        )
        standby = next(n for n in logs if n != leader)
        strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
        cluster.create(deployment("web", 12, strategy=strategy))
        wait_for(lambda: len(running(cluster.pods())) == 12, what="v1 running")

        def new_image(body: dict[str, Any]) -> None:
            body["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:2"

        cluster.patch("Deployment", "web", new_image)
        wait_for(
            lambda: any(
                p["spec"]["containers"][0]["image"] == "busybox:2" for p in running(cluster.pods())
            ),
            what="rollout under way",
        )
        killed_at = time.monotonic()
        procs[leader].send_signal(signal.SIGKILL)
        procs[leader].wait(10)
        wait_for(lambda: _leading(logs[standby]), timeout=15, what="standby takes over")
        takeover = time.monotonic() - killed_at
        assert takeover < 10, f"takeover took {takeover:.1f}s"

        def done() -> bool:
            pods = cluster.pods()
            return len(running(pods)) == 12 and all(
                p["spec"]["containers"][0]["image"] == "busybox:2" for p in pods
            )

        wait_for(done, timeout=60, what="rollout finished by the new leader")
        created = [
            e
            for e in store.read_all(after=0, limit=100_000, types=["ObjectCreated"])
            if e.data["object"]["kind"] == "Pod"
        ]
        assert len(created) == 24, "12 pods per template, none duplicated"
        actors = {e.metadata["actor"] for e in created}
        assert actors == {"system:controller:replicaset-controller"}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        hollow.stop()
