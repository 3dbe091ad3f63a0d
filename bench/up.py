"""How long `dockyard up` takes to get workloads Ready, beside a plain `docker run` loop.

Per run (fresh database, data dir and node name each time):

- up: seconds from starting `dockyard up -f examples/web.yaml -f examples/hooks.yaml` (the
  examples that become Ready; the crash-looping one never stays Ready) to all 4 pods Ready;
- deploy10: seconds from applying a 10-replica Deployment (busybox httpd, readiness probe) to
  all 10 Ready;
- floor: the same containers (4, then 10) started by a `docker run` loop and polled until each
  answers HTTP (what Ready means for the web pods).

Prints medians and ratios. Usage: python -m bench.up [--runs 3]. Needs Docker and busybox:latest;
uses DOCKYARD_DATABASE_URL's server or a throwaway embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import copy
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import httpx
import yaml

from bench._db import bench_database
from dockyard.cli.client import ApiClient, load_context
from dockyard.cli.kube_write import apply_one

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = [ROOT / "examples" / "web.yaml", ROOT / "examples" / "hooks.yaml"]
HTTPD = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _until(check: Callable[[], bool], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("not Ready in time")
        time.sleep(0.05)


def _ready_count(client: ApiClient, prefix: str) -> int:
    pods = client.request("GET", "/api/v1/namespaces/default/pods").get("items") or []
    return sum(
        1
        for p in pods
        if p["metadata"]["name"].startswith(prefix)
        and any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (p.get("status") or {}).get("conditions") or []
        )
    )


def _deployment(replicas: int) -> dict[str, Any]:
    web = yaml.safe_load((ROOT / "examples" / "web.yaml").read_text())
    body = copy.deepcopy(web)
    body["metadata"] = {"name": "bench10", "labels": {"app": "bench10"}}
    body["spec"]["replicas"] = replicas
    body["spec"]["selector"] = {"matchLabels": {"app": "bench10"}}
    body["spec"]["template"]["metadata"] = {"labels": {"app": "bench10"}}
    return dict(body)


def dockyard_run(database_url: str) -> tuple[float, float]:
    node = f"bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-up-") as tmp:
        env = {
            **os.environ,
            "DOCKYARD_DATABASE_URL": database_url,
            "DOCKYARD_DATA_DIR": f"{tmp}/data",
            "DOCKYARD_API_PORT": str(_free_port()),
            "DOCKYARD_AGENT_NODE_NAME": node,
        }
        args = [sys.executable, "-m", "dockyard.cli.main", "up", "--no-view"]
        for path in EXAMPLES:
            args += ["-f", str(path)]
        started = time.monotonic()
        process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, cwd=ROOT)
        try:
            kubeconfig = Path(tmp) / "data" / "kubeconfig"
            _until(lambda: kubeconfig.exists())
            _until(lambda: _probe_api(kubeconfig))
            with ApiClient(load_context(kubeconfig)) as client:
                _until(lambda: _ready_count(client, "") >= 4)
                up_seconds = time.monotonic() - started
                applied = time.monotonic()
                apply_one(client, _deployment(10))
                _until(lambda: _ready_count(client, "bench10-") >= 10)
                deploy_seconds = time.monotonic() - applied
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
            subprocess.run(
                [sys.executable, "-m", "dockyard.cli.main", "down", "--node", node],
                env=env,
                capture_output=True,
                check=False,
            )
    return up_seconds, deploy_seconds


def _probe_api(kubeconfig: Path) -> bool:
    try:
        with ApiClient(load_context(kubeconfig)) as client:
            client.request("GET", "/version")
        return True
    except Exception:
        return False


def docker_floor(count: int) -> float:
    """``docker run`` ``count`` httpd containers, then wait until each answers HTTP."""
    client = docker.from_env()
    label = f"dockyard-bench-floor-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    containers = []
    try:
        for _ in range(count):
            containers.append(
                client.containers.run(
                    "busybox:latest", ["sh", "-c", HTTPD], detach=True, labels={label: "1"}
                )
            )
        for container in containers:
            container.reload()
            ip = container.attrs["NetworkSettings"]["IPAddress"]
            _until(lambda ip=ip: _answers(ip))
        return time.monotonic() - started
    finally:
        for container in containers:
            container.remove(force=True)
        client.close()


def _answers(ip: str) -> bool:
    try:
        return httpx.get(f"http://{ip}:8080/", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ups, deploys, floors4, floors10 = [], [], [], []
    for run in range(args.runs):
        with bench_database() as url:
            up_seconds, deploy_seconds = dockyard_run(url)
        ups.append(up_seconds)
        deploys.append(deploy_seconds)
        floors4.append(docker_floor(4))
        floors10.append(docker_floor(10))
        print(
            f"run {run + 1}: up {up_seconds:.2f}s (floor {floors4[-1]:.2f}s), 10 replicas "
            f"{deploy_seconds:.2f}s (floor {floors10[-1]:.2f}s)",
            flush=True,
        )
    up, floor4 = statistics.median(ups), statistics.median(floors4)
    deploy, floor10 = statistics.median(deploys), statistics.median(floors10)
    print(f"median: dockyard up -f examples -> 4 pods Ready: {up:.2f}s; docker run loop: "
          f"{floor4:.2f}s; ratio {up / floor4:.1f}x")  # fmt: skip
    print(f"median: apply 10-replica Deployment -> 10 Ready: {deploy:.2f}s; docker run loop: "
          f"{floor10:.2f}s; ratio {deploy / floor10:.1f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
