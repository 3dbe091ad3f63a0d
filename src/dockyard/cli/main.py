"""Entry point of the `dockyard` command: parse, dispatch, and turn failures into one clear line."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from dockyard import __version__
from dockyard.settings import Settings

# The commands, grouped by the module that defines them (in --help order), with their one-line
# help. A command's module (and its heavy imports: SQLAlchemy, alembic, Docker, httpx) is imported
# only when that command runs; the others get a help-only placeholder parser, so `--help` and
# error messages read the same. tests/cli/test_lazy_main.py keeps these lines equal to the
# modules' own.
COMMANDS: tuple[tuple[str, dict[str, str]], ...] = (
    ("up", {
        "up": "run Dockyard on this host: database, API, controllers, agent, live view",
        "down": "remove the containers Dockyard runs on this host (its pods stop)",
    }),
    ("db", {"db": "manage the database schema"}),
    ("events", {
        "events": "list Kubernetes Events as kubectl does; `events tail` reads the event log",
    }),
    ("projections", {"projections": "inspect and rebuild read models"}),
    ("audit", {
        "audit": "who changed what and when (the audit_log view)",
        "history": "every version of an object, with diffs and actors",
    }),
    ("agent", {
        "agent": "run the node agent: the pods bound to a node, on this host's Docker engine",
    }),
    ("alerts", {
        "alerts": "list recent alerts and their Slack delivery state",
        "notifier": "run the alert notifier and its Slack senders until stopped",
    }),
    ("controllers", {"controllers": "run the controllers and the scheduler (leader-elected)"}),
    ("server", {
        "server": "serve the Kubernetes-style API (kubectl and Kubernetes clients work against it)",
        "kubeconfig": "print a kubeconfig for a user of the token file",
    }),
    ("kube_write", {
        "apply": "create or update objects from manifests (files, directories, - for stdin)",
        "delete": "delete objects by type and name, selector or manifest",
        "scale": "set the replicas of a Deployment, ReplicaSet or ReplicationController",
    }),
    ("kubectl_like", {
        "get": "list objects (pods, deployments, ...) as kubectl does",
        "describe": "show an object in detail, with its recent events",
        "logs": "print a container's log",
    }),
    ("rollout", {
        "rollout": "manage the rollout of a Deployment (status, history, undo, pause, resume)",
    }),
)  # fmt: skip

# Failures a user can act on: printed as one line, exit code 1, never a stack trace. Named by
# module so that checking for them imports nothing: an exception's class is loaded already.
USER_ERRORS = (
    ("dockyard.store.db", "DatabaseUnavailable"),
    ("dockyard.store.migrations", "SchemaOutOfDate"),
    ("dockyard.store.embedded", "EmbeddedPostgresError"),
    ("dockyard.store.projections", "UnknownProjection"),
    ("dockyard.cli.up", "UpError"),
    ("dockyard.cli.client", "ClientError"),
    ("dockyard.model.manifests", "ManifestError"),
    ("dockyard.store.apply", "ManifestRejected"),
    ("dockyard.server.tls", "TlsSetupError"),
    ("dockyard.audit.queries", "AuditInputError"),
    ("dockyard.audit.queries", "NotAtThatTime"),
)


def is_user_error(exc: BaseException) -> bool:
    for module_name, class_name in USER_ERRORS:
        module = sys.modules.get(module_name)
        if module is not None and isinstance(exc, getattr(module, class_name)):
            return True
    return False


def command_in(argv: Sequence[str]) -> str | None:
    """The command word of a command line (top-level options take no values)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(command: str | None = None, *, load_all: bool = True) -> argparse.ArgumentParser:
    """The parser, with the real sub-parser of ``command`` (of every command if ``load_all``)."""
    parser = argparse.ArgumentParser(
        prog="dockyard",
        description="Dockyard: containers with Kubernetes semantics and an event log in "
        "PostgreSQL. Settings come from DOCKYARD_* environment variables.",
    )
    parser.add_argument("--version", action="version", version=f"dockyard {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name, commands in COMMANDS:
        if load_all or command in commands:
            importlib.import_module(f"dockyard.cli.{module_name}").add_parser(subparsers)
        else:
            for name, help_text in commands.items():
                subparsers.add_parser(name, help=help_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    args = build_parser(command_in(words), load_all=False).parse_args(words)
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
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `dockyard events tail | head`
        return 0
    except Exception as exc:
        if not is_user_error(exc):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
