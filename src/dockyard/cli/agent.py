"""`dockyard agent --node NAME`: run the node agent for one Docker engine."""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

from dockyard.agent.agent import Agent, AgentConfig
from dockyard.agent.client import ControlPlaneClient, StoreControlPlane
from dockyard.agent.docker_runtime import DockerRuntime
from dockyard.agent.http_client import ControlPlaneError, HttpControlPlane, KubeconfigError
from dockyard.agent.runtime import RuntimeUnavailable
from dockyard.cli.context import open_database
from dockyard.settings import Settings


def add_parser(subparsers: Any) -> None:
    agent = subparsers.add_parser(
        "agent",
        help="run the node agent: the pods bound to a node, on this host's Docker engine",
        description="Run Dockyard's node agent (its kubelet): register the node, renew its "
        "lease, run the pods bound to it as Docker containers and record what happens to them "
        "in the event log. Containers keep running when the agent stops; a restarted agent "
        "adopts them.",
    )
    agent.add_argument("--node", help="node name (default: DOCKYARD_AGENT_NODE_NAME or hostname)")
    agent.add_argument("--docker-url", help="Docker engine URL (default: DOCKYARD_DOCKER_URL)")
    agent.add_argument(
        "--max-container-restart-period",
        type=float,
        help="crash-loop back-off cap in seconds (1-300; default 300)",
    )
    agent.add_argument("--lease-interval", type=float, help="seconds between lease renewals")
    agent.add_argument("--relist-period", type=float, help="seconds between container relists")
    agent.add_argument("--node-ip", help="the node's IP address (hostIP of its pods)")
    remote = agent.add_argument_group(
        "control plane over HTTPS",
        "With --server (or --kubeconfig) the agent talks to the Dockyard API server and needs "
        "no database credentials; without, it uses the store (DOCKYARD_DATABASE_URL).",
    )
    remote.add_argument("--server", help="API server URL, e.g. https://10.0.0.1:6443")
    remote.add_argument("--token-file", type=Path, help="file holding the node's bearer token")
    remote.add_argument(
        "--certificate-authority", type=Path, help="CA certificate (PEM) of the API server"
    )
    remote.add_argument("--kubeconfig", type=Path, help="kubeconfig with server, CA and token")
    agent.set_defaults(handler=agent_command)


def agent_command(args: argparse.Namespace, settings: Settings) -> int:
    node = args.node or settings.agent_node_name or socket.gethostname()
    cap = args.max_container_restart_period or settings.agent_max_container_restart_period_seconds
    if not 0.1 <= cap <= 300:
        print("error: --max-container-restart-period must be between 0.1 and 300", file=sys.stderr)
        return 1
    config = AgentConfig(
        node=node,
        lease_seconds=args.lease_interval or settings.agent_lease_interval_seconds,
        lease_duration_seconds=settings.agent_lease_duration_seconds,
        relist_seconds=args.relist_period or settings.agent_relist_period_seconds,
        pod_poll_seconds=settings.agent_pod_poll_seconds,
        max_container_restart_period=cap,
        host_ip=args.node_ip or settings.agent_node_ip,
    )
    runtime = DockerRuntime(
        base_url=args.docker_url or settings.docker_url, pause_image=settings.agent_pause_image
    )
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(runtime.close)
        try:
            client = control_plane(args, settings, node, cleanup)
        except (KubeconfigError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        agent = Agent(config, runtime=runtime, client=client)
        try:
            agent.start()
        except RuntimeUnavailable as exc:
            print(f"error: cannot reach the Docker engine: {exc}", file=sys.stderr)
            return 1
        except (ControlPlaneError, httpx.HTTPError) as exc:
            print(f"error: cannot reach the API server: {exc}", file=sys.stderr)
            return 1
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        print(f"dockyard agent: node {node} is up", flush=True)
        try:
            stopped.wait()
        except KeyboardInterrupt:
            pass
        finally:
            agent.stop()
    return 0


def control_plane(
    args: argparse.Namespace, settings: Settings, node: str, cleanup: contextlib.ExitStack
) -> ControlPlaneClient:
    """HTTP with --server/--kubeconfig (no database credentials needed), else the store."""
    if args.kubeconfig is not None and args.server is not None:
        raise ValueError("--server and --kubeconfig are alternatives: give one")
    if args.kubeconfig is not None:
        http = HttpControlPlane.from_kubeconfig(args.kubeconfig, node)
    elif args.server is not None:
        if args.token_file is None:
            raise ValueError("--server needs --token-file (the node's bearer token)")
        http = HttpControlPlane.from_token_file(
            args.server, args.token_file, node, ca_file=args.certificate_authority
        )
    else:
        db = cleanup.enter_context(open_database(settings))
        return StoreControlPlane(db.store, node)
    cleanup.callback(http.close)
    return http
