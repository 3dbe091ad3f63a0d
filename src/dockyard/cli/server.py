"""`dockyard server` (the Kubernetes-style API) and `dockyard kubeconfig` (a config for kubectl)."""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

import uvicorn
import yaml
from sqlalchemy import Engine
from starlette.applications import Starlette

from dockyard.cli.context import open_database, settle_heap
from dockyard.server.app import create_app
from dockyard.server.auth import TokenAuthenticator, TokenFileError, User, parse_token_file
from dockyard.server.context import ApiContext
from dockyard.server.metrics import Metrics
from dockyard.server.node_authz import NODE_USER_PREFIX, NODES_GROUP
from dockyard.server.tls import TlsSetupError, ensure_self_signed
from dockyard.settings import Settings
from dockyard.store.db import make_engine
from dockyard.store.events import EventStore
from dockyard.store.writer import ObjectWriter

# A Node's name is a DNS subdomain (and it must fit in a token-file line unquoted).
_NODE_NAME = re.compile(r"(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


def add_parser(subparsers: Any) -> None:
    server = subparsers.add_parser(
        "server",
        help="serve the Kubernetes-style API (kubectl and Kubernetes clients work against it)",
        description="Run the API server on the configured database. Clients authenticate with "
        "bearer tokens from the token file (DOCKYARD_API_TOKEN_FILE or --token-file).",
    )
    server.add_argument("--host", help="listen address (default DOCKYARD_API_HOST, 127.0.0.1)")
    server.add_argument("--port", type=int, help="listen port (default DOCKYARD_API_PORT, 6443)")
    server.add_argument("--token-file", type=Path, help='lines of token,user,uid,"groups"')
    server.add_argument(
        "--allow-anonymous",
        action="store_true",
        help="serve requests without a token (role: DOCKYARD_API_ANONYMOUS_ROLE)",
    )
    server.add_argument(
        "--workers",
        type=int,
        help="server processes sharing the port (default DOCKYARD_API_WORKERS, else the "
        "number of CPUs, at most 4); each has its own connections and watch hub, their writes "
        "are group-committed per process, and /metrics adds up all of them",
    )
    server.set_defaults(handler=server_command)

    kubeconfig = subparsers.add_parser(
        "kubeconfig",
        help="print a kubeconfig for a user of the token file",
        description="Print a kubeconfig that points kubectl at this Dockyard API server as the "
        "given user (the token comes from the token file). Save it and use KUBECONFIG=...",
    )
    who = kubeconfig.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="user name from the token file")
    who.add_argument(
        "--node",
        help="a node agent's identity: user system:node:NODE in group system:nodes (the node "
        "authorizer lets it read pods and write its own Node and its pods' status)",
    )
    kubeconfig.add_argument(
        "--issue",
        action="store_true",
        help="with --node: add a fresh token line for the node to the token file when it has "
        "none (restart the API server to load it)",
    )
    kubeconfig.add_argument("--server", help="API URL (default http://<api_host>:<api_port>)")
    kubeconfig.add_argument("--token-file", type=Path, help="token file (default from settings)")
    kubeconfig.add_argument("--namespace", default="default", help="the context's namespace")
    kubeconfig.set_defaults(handler=kubeconfig_command)


def _token_file(args: argparse.Namespace, settings: Settings) -> Path | None:
    path: Path | None = args.token_file or settings.api_token_file
    return path


def tls_files(settings: Settings) -> tuple[Path, Path]:
    """The configured certificate and key, or the self-signed pair in the data directory."""
    if settings.api_tls_cert_file and settings.api_tls_key_file:
        return settings.api_tls_cert_file, settings.api_tls_key_file
    return ensure_self_signed(settings.data_dir / "api-tls")


def server_command(args: argparse.Namespace, settings: Settings) -> int:
    token_file = _token_file(args, settings)
    allow_anonymous = args.allow_anonymous or settings.api_allow_anonymous
    if token_file is None and not allow_anonymous:
        print(
            "error: no token file: set DOCKYARD_API_TOKEN_FILE or --token-file (or allow "
            "anonymous access with --allow-anonymous)",
            file=sys.stderr,
        )
        return 1
    try:
        authenticator = (
            TokenAuthenticator.from_file(token_file) if token_file else TokenAuthenticator()
        )
    except TokenFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    host = args.host or settings.api_host
    port = args.port if args.port is not None else settings.api_port
    try:
        cert, key = tls_files(settings)
    except TlsSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    workers = args.workers if args.workers is not None else settings.api_workers
    if workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 1
    with open_database(settings) as db:
        print(f"Dockyard API on https://{host}:{port} (certificate {cert})", flush=True)
        options = uvicorn_options(host, port, cert, key)
        if workers == 1:
            app = build_app(settings, db.url, db.engine, db.store, authenticator, allow_anonymous)
            uvicorn.run(app, **options)
        else:
            # Each worker process builds its own app from these (the database stays open here:
            # an embedded one lives as long as this process). The workers add up their request
            # metrics through a directory they share (dockyard/server/metrics.py).
            with tempfile.TemporaryDirectory(prefix="dockyard-api-metrics-") as metrics_dir:
                os.environ[_WORKER_OPTIONS] = json.dumps(
                    {
                        "database_url": db.url,
                        "token_file": str(token_file) if token_file else None,
                        "allow_anonymous": allow_anonymous,
                        "metrics_dir": metrics_dir,
                    }
                )
                uvicorn.run(f"{__name__}:worker_app", factory=True, workers=workers, **options)
    return 0


_WORKER_OPTIONS = "DOCKYARD_API_WORKER_OPTIONS"


def uvicorn_options(host: str, port: int, cert: Path, key: Path) -> dict[str, Any]:
    """How every Dockyard API server runs uvicorn (``dockyard server`` and ``dockyard up``).

    - ``access_log`` off: request lines carry no tokens, but keep the log to our own messages.
    - ``proxy_headers`` off: uvicorn would otherwise take the client address from
      ``X-Forwarded-For`` whenever the peer is 127.0.0.1, so any local client could choose the
      address recorded in the event log's metadata. The audit trail records the peer.
    """
    return dict(
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
    )


def worker_app() -> Starlette:
    """One ``--workers`` process's app (a uvicorn factory)."""
    options = json.loads(os.environ[_WORKER_OPTIONS])
    settings = Settings()
    token_file = options["token_file"]
    authenticator = (
        TokenAuthenticator.from_file(Path(token_file)) if token_file else TokenAuthenticator()
    )
    engine = make_engine(options["database_url"])
    store = EventStore(engine)
    url = options["database_url"]
    metrics = Metrics(Path(options["metrics_dir"]))
    return build_app(
        settings, url, engine, store, authenticator, options["allow_anonymous"], metrics
    )


def build_app(
    settings: Settings,
    url: str,
    engine: Engine,
    store: EventStore,
    authenticator: TokenAuthenticator,
    allow_anonymous: bool,
    metrics: Metrics | None = None,
) -> Starlette:
    ctx = ApiContext(
        engine=engine,
        store=store,
        database_url=url,
        writer=ObjectWriter(store),
        max_body_bytes=settings.api_max_body_bytes,
        poll_interval=settings.poll_interval_seconds,
    )
    app = create_app(
        ctx,
        authenticator,
        allow_anonymous=allow_anonymous,
        anonymous_role=settings.api_anonymous_role,
        metrics=metrics,
    )
    settle_heap()
    return app


def kubeconfig_for(
    server: str, user: str, token: str, ca_pem: bytes, namespace: str = "default"
) -> str:
    cluster = {"server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "dockyard", "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {
                "name": f"{user}@dockyard",
                "context": {"cluster": "dockyard", "user": user, "namespace": namespace},
            }
        ],
        "current-context": f"{user}@dockyard",
        "preferences": {},
    }
    text: str = yaml.safe_dump(config, sort_keys=False)
    return text


def kubeconfig_command(args: argparse.Namespace, settings: Settings) -> int:
    token_file = _token_file(args, settings)
    if token_file is None:
        print("error: no token file: set DOCKYARD_API_TOKEN_FILE or --token-file", file=sys.stderr)
        return 1
    if args.issue and not args.node:
        print("error: --issue needs --node (only node identities are issued)", file=sys.stderr)
        return 1
    if args.node is not None and not _NODE_NAME.fullmatch(args.node):
        print(
            f"error: --node: {args.node!r} is not a valid node name (lower-case letters, digits, "
            "'-' and '.', starting and ending with a letter or digit, at most 253 characters)",
            file=sys.stderr,
        )
        return 1
    try:
        fresh = args.issue and not token_file.exists()
        entries = [] if fresh else parse_token_file(token_file.read_text(), str(token_file))
    except (OSError, TokenFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    name = f"{NODE_USER_PREFIX}{args.node}" if args.node else args.user
    found = next(((t, user) for t, user in entries if user.name == name), None)
    if found is None and args.issue:
        found = issue_node_token(token_file, args.node)
        print(f"added {name} to {token_file}; restart the API server to load it", file=sys.stderr)
    if found is None:
        hint = " (add it with --issue)" if args.node else ""
        print(f"error: no user {name!r} in {token_file}{hint}", file=sys.stderr)
        return 1
    token, user = found
    if args.node and NODES_GROUP not in user.groups:
        print(
            f"error: {name} in {token_file} is not in the group {NODES_GROUP}: add it to the "
            "line's groups, or the node authorizer will not recognise it",
            file=sys.stderr,
        )
        return 1
    try:
        cert, _key = tls_files(settings)
    except TlsSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    server = args.server or f"https://{settings.api_host}:{settings.api_port}"
    sys.stdout.write(kubeconfig_for(server, name, token, cert.read_bytes(), args.namespace))
    return 0


def node_token_line(token: str, node: str) -> str:
    """A token-file line for a node agent: ``token,system:node:<node>,,"system:nodes"``."""
    return f'{token},{NODE_USER_PREFIX}{node},,"{NODES_GROUP}"\n'


def issue_node_token(token_file: Path, node: str) -> tuple[str, User]:
    """Append a fresh node identity to ``token_file`` (made 0600) and return it."""
    token = secrets.token_urlsafe(32)
    existing = token_file.read_text() if token_file.exists() else ""
    if existing and not existing.endswith("\n"):
        existing += "\n"
    token_file.write_text(existing + node_token_line(token, node))
    token_file.chmod(0o600)
    return token, User(f"{NODE_USER_PREFIX}{node}", "", (NODES_GROUP,))
