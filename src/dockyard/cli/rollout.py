"""``dockyard rollout status | history | undo | pause | resume`` for Deployments.

Messages and exit codes are kubectl's (polymorphichelpers/rollout_status.go, history.go,
rollback.go): ``status`` follows the rollout until it completes (exit 0) or its progress deadline
is exceeded (exit 1); ``undo`` copies an earlier ReplicaSet's template into the Deployment.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping
from typing import Any

from dockyard.cli.client import (
    ApiClient,
    ClientError,
    JsonObject,
    add_connection_flags,
    connect,
    find_resource,
    kube_command,
)
from dockyard.settings import Settings

DEPLOYMENTS = find_resource("deployments")
REPLICASETS = find_resource("replicasets")
REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
MERGE_PATCH = "application/merge-patch+json"


def add_parser(subparsers: Any) -> None:
    rollout = subparsers.add_parser(
        "rollout",
        help="manage the rollout of a Deployment (status, history, undo, pause, resume)",
        description="Manage the rollout of a Deployment: dockyard rollout status deploy/web.",
    )
    sub = rollout.add_subparsers(dest="rollout_command", required=True, metavar="SUBCOMMAND")
    for name, helptext, handler in (
        ("status", "follow a rollout until it completes (exit 1 past its deadline)", status),
        ("history", "list the revisions of a Deployment", history),
        ("undo", "roll back to the previous (or a given) revision", undo),
        ("pause", "stop rolling out template changes", pause),
        ("resume", "roll out template changes again", resume),
    ):
        parser = sub.add_parser(name, help=helptext, description=helptext)
        parser.add_argument("target", help="deployment/NAME (or deploy/NAME)")
        add_connection_flags(parser)
        if name == "status":
            parser.add_argument("--timeout", type=float, default=0, help="seconds (0: forever)")
            parser.add_argument("--watch", default="true", choices=["true", "false"])
        if name in ("undo", "history"):
            parser.add_argument("--to-revision" if name == "undo" else "--revision", type=int,
                                default=0, dest="revision", help="a revision number")  # fmt: skip
        parser.set_defaults(handler=kube_command(handler))


def _name(target: str) -> str:
    kind, slash, name = target.partition("/")
    if not slash:
        raise ClientError("rollout needs TYPE/NAME, for example deployment/web")
    if find_resource(kind).kind != "Deployment":
        raise ClientError(f"rollout is not supported for {kind}: only deployments")
    return name


def status_message(deployment: Mapping[str, Any]) -> tuple[str, bool, bool]:
    """(message, done, failed) exactly as ``kubectl rollout status`` says it."""
    meta, spec = deployment.get("metadata") or {}, deployment.get("spec") or {}
    status = deployment.get("status") or {}
    name = meta.get("name", "")
    if int(meta.get("generation") or 0) > int(status.get("observedGeneration") or 0):
        return "Waiting for deployment spec update to be observed...", False, False
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and (
            condition.get("reason") == "ProgressDeadlineExceeded"
        ):
            return f'deployment "{name}" exceeded its progress deadline', False, True
    replicas = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    waiting = f'Waiting for deployment "{name}" rollout to finish: '
    if updated < replicas:
        return (
            f"{waiting}{updated} out of {replicas} new replicas have been updated...",
            False,
            False,
        )
    if total > updated:
        return f"{waiting}{total - updated} old replicas are pending termination...", False, False
    if available < updated:
        return f"{waiting}{available} of {updated} updated replicas are available...", False, False
    return f'deployment "{name}" successfully rolled out', True, False


def status(args: argparse.Namespace, settings: Settings) -> int:
    name = _name(args.target)
    deadline = time.monotonic() + args.timeout if args.timeout > 0 else None
    last = ""
    with connect(settings, args) as client:
        while True:
            message, done, failed = status_message(client.get(DEPLOYMENTS, client.namespace, name))
            if failed:
                print(f"error: {message}", file=sys.stderr)
                return 1
            if message != last:
                print(message, flush=True)
                last = message
            if done or args.watch == "false":
                return 0
            if deadline is not None and time.monotonic() > deadline:
                print("error: timed out waiting for the condition", file=sys.stderr)
                return 1
            time.sleep(0.3)


def owned_replicasets(client: ApiClient, deployment: Mapping[str, Any]) -> list[JsonObject]:
    uid = (deployment.get("metadata") or {}).get("uid")
    namespace = (deployment.get("metadata") or {}).get("namespace") or client.namespace
    items = client.list(REPLICASETS, namespace).get("items") or []
    owned = [
        rs
        for rs in items
        if any(ref.get("uid") == uid for ref in (rs["metadata"].get("ownerReferences") or []))
    ]
    return sorted(owned, key=revision_of)


def revision_of(obj: Mapping[str, Any]) -> int:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION, "0")
    try:
        return int(value)
    except ValueError:
        return 0


def history(args: argparse.Namespace, settings: Settings) -> int:
    name = _name(args.target)
    with connect(settings, args) as client:
        deployment = client.get(DEPLOYMENTS, client.namespace, name)
        owned = owned_replicasets(client, deployment)
        if args.revision:
            found = [rs for rs in owned if revision_of(rs) == args.revision]
            if not found:
                raise ClientError(f"unable to find the specified revision {args.revision}")
            print(f"deployment.apps/{name} with revision #{args.revision}")
            template = (found[0].get("spec") or {}).get("template") or {}
            import yaml

            sys.stdout.write(yaml.safe_dump({"Pod Template": template}, sort_keys=False))
            return 0
        print(f"deployment.apps/{name} ")
        rows = [("REVISION", "CHANGE-CAUSE")]
        for rs in owned:
            cause = ((rs["metadata"].get("annotations") or {}).get(CHANGE_CAUSE)) or "<none>"
            rows.append((str(revision_of(rs)), cause))
        width = max(len(r[0]) for r in rows)
        for revision, cause in rows:
            print(f"{revision.ljust(width)}  {cause}")
        print()
    return 0


def undo(args: argparse.Namespace, settings: Settings) -> int:
    name = _name(args.target)
    with connect(settings, args) as client:
        deployment = client.get(DEPLOYMENTS, client.namespace, name)
        owned = [rs for rs in owned_replicasets(client, deployment) if revision_of(rs) > 0]
        if not owned:
            raise ClientError(f'no rollout history found for deployment "{name}"')
        if args.revision:
            target = next((rs for rs in owned if revision_of(rs) == args.revision), None)
            if target is None:
                raise ClientError(f"unable to find specified revision {args.revision} in history")
        else:
            current = revision_of(deployment)
            previous = [rs for rs in owned if revision_of(rs) < current] or owned[:-1]
            if not previous:
                raise ClientError(f'no rollout history found for deployment "{name}"')
            target = previous[-1]
        template = dict((target.get("spec") or {}).get("template") or {})
        meta = dict(template.get("metadata") or {})
        labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != "pod-template-hash"}
        meta["labels"] = labels
        template["metadata"] = meta
        current_template = (deployment.get("spec") or {}).get("template") or {}
        if _same_template(current_template, template):
            print(
                f"deployment.apps/{name} skipped rollback (current template already matches "
                f"revision {revision_of(target)})"
            )
            return 0
        # kubectl checks this after finding the revision (rollback.go): same messages, same order
        if (deployment.get("spec") or {}).get("paused"):
            raise ClientError(
                "you cannot rollback a paused deployment; resume it first with 'kubectl rollout "
                "resume' and try again"
            )
        deployment["spec"]["template"] = template
        client.request("PUT", client.path(DEPLOYMENTS, client.namespace, name), body=deployment)
        print(f"deployment.apps/{name} rolled back")
    return 0


def _same_template(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    def strip(t: Mapping[str, Any]) -> Any:
        meta = dict(t.get("metadata") or {})
        meta.pop("creationTimestamp", None)
        labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != "pod-template-hash"}
        return {**t, "metadata": {**meta, "labels": labels}}

    return bool(strip(a) == strip(b))


def _set_paused(args: argparse.Namespace, settings: Settings, paused: bool) -> int:
    name = _name(args.target)
    with connect(settings, args) as client:
        path = client.path(DEPLOYMENTS, client.namespace, name)
        current = client.get(DEPLOYMENTS, client.namespace, name)
        if bool((current.get("spec") or {}).get("paused")) == paused:  # kubectl's objectpauser
            problem = "is already paused" if paused else "is not paused"
            raise ClientError(f'deployments.apps "{name}" {problem}')
        client.request("PATCH", path, body={"spec": {"paused": paused}}, content_type=MERGE_PATCH)
        print(f"deployment.apps/{name} {'paused' if paused else 'resumed'}")
    return 0


def pause(args: argparse.Namespace, settings: Settings) -> int:
    return _set_paused(args, settings, True)


def resume(args: argparse.Namespace, settings: Settings) -> int:
    return _set_paused(args, settings, False)
