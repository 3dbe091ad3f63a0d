"""Entry point of the `dockyard` command: parse, dispatch, and turn failures into one clear line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from dockyard import __version__
from dockyard.audit.queries import AuditInputError, NotAtThatTime
from dockyard.cli import (
    agent,
    alerts,
    audit,
    controllers,
    db,
    events,
    kube_write,
    kubectl_like,
    projections,
    rollout,
    server,
    up,
)
from dockyard.cli.client import ClientError
from dockyard.cli.up import UpError
from dockyard.model.manifests import ManifestError
from dockyard.server.tls import TlsSetupError
from dockyard.settings import Settings
from dockyard.store.apply import ManifestRejected
from dockyard.store.db import DatabaseUnavailable
from dockyard.store.embedded import EmbeddedPostgresError
from dockyard.store.migrations import SchemaOutOfDate
from dockyard.store.projections import UnknownProjection

# Failures a user can act on: printed as one line, exit code 1, never a stack trace.
USER_ERRORS = (
    DatabaseUnavailable,
    SchemaOutOfDate,
    EmbeddedPostgresError,
    UnknownProjection,
    UpError,
    ClientError,
    ManifestError,
    ManifestRejected,
    TlsSetupError,
    AuditInputError,
    NotAtThatTime,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dockyard",
        description="Dockyard: containers with Kubernetes semantics and an event log in "
        "PostgreSQL. Settings come from DOCKYARD_* environment variables.",
    )
    parser.add_argument("--version", action="version", version=f"dockyard {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (up, db, events, projections, audit, agent, alerts, controllers, server,
                   kube_write, kubectl_like, rollout):  # fmt: skip
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"DOCKYARD_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        print(f"error: invalid settings: {problems}", file=sys.stderr)
        return 1
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.handler(args, settings))
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `dockyard events tail | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
