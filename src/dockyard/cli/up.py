"""`dockyard up`: everything on one host, in one process; `dockyard down`: remove its containers.

``up`` runs the database (an embedded PostgreSQL in the data directory unless
``DOCKYARD_DATABASE_URL`` is set), the migrations, the API server (HTTPS on loopback, an admin
token and a kubeconfig in the data directory), the controllers and scheduler, the alert notifier,
and a node agent for the local Docker engine; applies the given manifests; and shows a live view
until Ctrl-C. Stopping leaves the containers running, as stopping Kubernetes' control plane
leaves pods running: the next ``up`` adopts them.

Everything that can be wrong with the input is checked before anything starts or is written:
manifests, the Docker engine, the API port, the database.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from dockyard.agent.agent import Agent, AgentConfig
from dockyard.agent.client import StoreControlPlane
from dockyard.agent.context import LABEL_NODE
from dockyard.agent.docker_runtime import DockerRuntime
from dockyard.agent.runtime import ContainerRuntimeError
from dockyard.cli.client import ApiClient, ApiError, load_context
from dockyard.cli.context import open_database, settle_heap
from dockyard.cli.kube_write import apply_one
from dockyard.cli.live_view import first_screen, run_view
from dockyard.cli.server import kubeconfig_for, tls_files, uvicorn_options
from dockyard.controllers.manager import ControllerManager
from dockyard.model.manifests import Document, load_paths
from dockyard.server.app import create_app
from dockyard.server.auth import TokenAuthenticator, parse_token_file
from dockyard.server.context import ApiContext
from dockyard.server.logs_agent import AgentLogSource
from dockyard.settings import Settings
from dockyard.store import migrations
from dockyard.store.apply import validate_documents
from dockyard.store.db import redacted
from dockyard.store.follower import LogFollower
from dockyard.store.projections import ProjectionRunner
from dockyard.store.registry import all_projections
from dockyard.store.writer import ObjectWriter

log = logging.getLogger(__name__)
ADMIN = "admin"


class UpError(Exception):
    """Something `dockyard up` cannot start with; the message says what to do."""


def add_parser(subparsers: Any) -> None:
    up = subparsers.add_parser(
        "up",
        help="run Dockyard on this host: database, API, controllers, agent, live view",
        description="Start Dockyard in one process: the database (an embedded PostgreSQL kept "
        "in the data directory when DOCKYARD_DATABASE_URL is unset), migrations, the API server, "
        "the controllers and scheduler, the alert notifier and a node agent for the local Docker "
        "engine; apply the given manifests; show pods and events until Ctrl-C. Containers keep "
        "running when it stops; the next `dockyard up` adopts them.",
    )
    up.add_argument(
        "-f", "--filename", action="append", default=[], help="manifest file or directory"
    )
    up.add_argument("-R", "--recursive", action="store_true", help="walk directories")
    up.add_argument("--node", help="node name of the local agent (default: the host name)")
    up.add_argument("--port", type=int, help="API port (default DOCKYARD_API_PORT, 6443)")
    up.add_argument("--no-view", action="store_true", help="print the first screen only")
    up.set_defaults(handler=up_command)

    down = subparsers.add_parser(
        "down",
        help="remove the containers Dockyard runs on this host (its pods stop)",
        description="Remove every container Dockyard created for this node (labelled "
        "io.dockyard.managed=true and io.dockyard.node=NODE). The objects stay in the database: "
        "the next `dockyard up` starts the pods again. Stop `dockyard up` first.",
    )
    down.add_argument("--node", help="node name (default: DOCKYARD_AGENT_NODE_NAME or hostname)")
    down.set_defaults(handler=down_command)


# --- checks before anything starts -------------------------------------------------------------


def load_manifests(paths: list[str], recursive: bool) -> list[Document]:
    documents = load_paths(list(paths), recursive=recursive)
    validate_documents(documents)
    return documents


def check_docker(runtime: DockerRuntime, url: str) -> None:
    try:
        runtime.capacity()
    except ContainerRuntimeError as exc:
        raise UpError(
            f"cannot reach the Docker engine at {url} ({exc}); start Docker (or set "
            "DOCKYARD_DOCKER_URL to where it listens) and run dockyard up again"
        ) from None


def check_port(host: str, port: int) -> None:
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UpError(
                    f"port {port} on {host} is already in use (is another dockyard up running?); "
                    "stop that process or choose another port with --port or DOCKYARD_API_PORT"
                ) from None
            raise UpError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def admin_token(data_dir: Path) -> tuple[Path, str]:
    """The local admin's token, from ``data_dir/api-tokens.csv`` (made on first use)."""
    path = data_dir / "api-tokens.csv"
    if path.exists():
        for token, user in parse_token_file(path.read_text(), str(path)):
            if user.name == ADMIN:
                return path, token
    token = secrets.token_urlsafe(32)
    data_dir.mkdir(parents=True, exist_ok=True)
    existing = path.read_text() if path.exists() else ""
    path.write_text(existing + f'{token},{ADMIN},{ADMIN},"system:masters"\n')
    path.chmod(0o600)
    return path, token


# --- the running parts -------------------------------------------------------------------------


class Stack:
    """Stop callbacks, run in reverse order; each failure is logged, the rest still run."""

    def __init__(self) -> None:
        self._stops: list[tuple[str, Callable[[], None]]] = []

    def push(self, name: str, stop: Callable[[], None]) -> None:
        self._stops.append((name, stop))

    def close(self) -> None:
        while self._stops:
            name, stop = self._stops.pop()
            try:
                stop()
            except Exception:
                log.exception("stopping %s failed", name)


def start_api(
    app: Any, host: str, port: int, cert: Path, key: Path
) -> tuple[Callable[[], None], int]:
    config = uvicorn.Config(app, log_config=None, **uvicorn_options(host, port, cert, key))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="api-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise UpError(
                f"the API server could not listen on {host}:{port} (see the log); choose another "
                "port with --port or DOCKYARD_API_PORT"
            )
        time.sleep(0.02)
    bound = int(server.servers[0].sockets[0].getsockname()[1])

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    return stop, bound


def log_to_file(path: Path) -> None:
    """The live view owns the terminal: the components' log goes to a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # probes and the view: one line each


def up_command(args: argparse.Namespace, settings: Settings) -> int:
    documents = load_manifests(args.filename, args.recursive)
    node = args.node or settings.agent_node_name or socket.gethostname()
    host = settings.api_host
    port = args.port if args.port is not None else settings.api_port
    runtime = DockerRuntime(base_url=settings.docker_url, pause_image=settings.agent_pause_image)
    check_docker(runtime, settings.docker_url)
    check_port(host, port)
    cert, key = tls_files(settings)
    token_file, token = admin_token(settings.data_dir)
    log_path = settings.data_dir / "dockyard.log"

    stop = threading.Event()
    stack = Stack()
    with open_database(settings, require_schema=False, keep_embedded_running=True) as db:
        log_to_file(log_path)
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        if db.embedded is not None:
            stack.push("embedded PostgreSQL", db.embedded.stop)
        try:
            migrations.upgrade(db.engine)
            runner = ProjectionRunner(
                db.engine, db.store, all_projections(), batch_size=settings.projection_batch_size
            )
            follower = LogFollower(db.store, db.url, poll_interval=settings.poll_interval_seconds)
            projections = threading.Thread(
                target=runner.follow, args=(follower,), name="projections", daemon=True
            )
            projections.start()

            def stop_projections() -> None:
                follower.stop()
                projections.join(timeout=10)

            stack.push("projections", stop_projections)

            agent = Agent(
                AgentConfig(
                    node=node,
                    lease_seconds=settings.agent_lease_interval_seconds,
                    lease_duration_seconds=settings.agent_lease_duration_seconds,
                    relist_seconds=settings.agent_relist_period_seconds,
                    pod_poll_seconds=settings.agent_pod_poll_seconds,
                    max_container_restart_period=(
                        settings.agent_max_container_restart_period_seconds
                    ),
                    host_ip=settings.agent_node_ip,
                ),
                runtime=runtime,
                client=StoreControlPlane(db.store, node),
            )
            ctx = ApiContext(
                engine=db.engine,
                store=db.store,
                database_url=db.url,
                writer=ObjectWriter(db.store),
                max_body_bytes=settings.api_max_body_bytes,
                poll_interval=settings.poll_interval_seconds,
                log_source=AgentLogSource(agent),
            )
            authenticator = TokenAuthenticator.from_file(token_file)
            app = create_app(ctx, authenticator)
            stop_api, bound = start_api(app, host, port, cert, key)
            stack.push("API server", stop_api)
            local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
            api_url = f"https://{local}:{bound}"
            kubeconfig = settings.data_dir / "kubeconfig"
            kubeconfig.write_text(kubeconfig_for(api_url, ADMIN, token, cert.read_bytes()))
            kubeconfig.chmod(0o600)

            manager = ControllerManager(db.store, db.url, settings).start()
            stack.push("controllers", manager.stop)
            notes = _start_notifier(db, settings, stack)
            try:
                agent.start()
            except ContainerRuntimeError as exc:
                raise UpError(f"the node agent could not start: {exc}") from None
            stack.push("Docker client", runtime.close)
            stack.push("node agent", agent.stop)
            settle_heap()

            context = load_context(kubeconfig)
            with ApiClient(context) as client:
                applied = _apply(client, documents)
            where = (
                f"embedded PostgreSQL in {db.embedded.pgdata}"
                if db.embedded
                else f"{redacted(db.url)} (DOCKYARD_DATABASE_URL)"
            )
            header = first_screen(
                api_url=api_url,
                kubeconfig=str(kubeconfig),
                data=str(settings.data_dir),
                database=where,
                node=node,
                applied=applied,
                notes=[f"log:        {log_path}", *notes],
            )
            if args.no_view:
                print(header, flush=True)
                stop.wait()
            else:
                run_view(lambda: ApiClient(context), header, stop)
            print("\nstopping Dockyard (containers keep running)", flush=True)
        finally:
            stack.close()
    return 0


def _start_notifier(db: Any, settings: Settings, stack: Stack) -> list[str]:
    try:
        from dockyard.notify.service import NotifierService
    except ImportError:
        return []
    try:
        service = NotifierService(db.engine, db.store, db.url, settings)
        service.start()
    except Exception:
        log.exception("the alert notifier did not start")
        return ["alerts:     the notifier did not start (see the log)"]
    stack.push("notifier", service.stop)
    if settings.slack_token is None and settings.slack_token_file is None:
        return ["alerts:     recorded (dockyard alerts list); set DOCKYARD_SLACK_TOKEN to post"]
    return ["alerts:     posted to Slack by AlertRoutes"]


def _apply(client: ApiClient, documents: list[Document]) -> list[str]:
    """Apply as ``dockyard apply`` does (against the last applied configuration), so running
    ``up -f`` again leaves scaled replicas and scheduled pods alone."""
    try:
        return [apply_one(client, document.data) for document in documents]
    except ApiError as exc:
        raise UpError(f"applying the manifests failed: {exc.kubectl_text()}") from None


def down_command(args: argparse.Namespace, settings: Settings) -> int:
    node = args.node or settings.agent_node_name or socket.gethostname()
    runtime = DockerRuntime(base_url=settings.docker_url, pause_image=settings.agent_pause_image)
    check_docker(runtime, settings.docker_url)
    try:
        containers = runtime.container_states(labels={LABEL_NODE: node})
        for container_id in containers:
            with contextlib.suppress(ContainerRuntimeError):
                runtime.remove_container(container_id, force=True)
    finally:
        runtime.close()
    print(f"removed {len(containers)} Dockyard container(s) of node {node}")
    return 0
