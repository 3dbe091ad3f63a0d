"""``dockyard apply | delete | scale``: changing the cluster through the HTTP API.

``apply`` is kubectl's client-side apply: every document is validated locally first (a broken
file sends nothing), then each object is created, or patched with a JSON merge patch computed
from the last applied configuration (so fields removed from the manifest are removed from the
object), and reported ``created``, ``configured`` or ``unchanged``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from typing import Any

from dockyard.cli.client import (
    ApiClient,
    ApiError,
    ClientError,
    JsonObject,
    add_connection_flags,
    connect,
    find_resource,
    kube_command,
    resource_of,
    type_name,
)
from dockyard.cli.kubectl_like import split_target
from dockyard.model.manifests import Document, load_paths
from dockyard.server.discovery import Resource
from dockyard.server.patch import merge_patch as apply_merge_patch
from dockyard.settings import Settings
from dockyard.store.apply import validate_documents

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MERGE_PATCH = "application/merge-patch+json"


def add_parser(subparsers: Any) -> None:
    apply = subparsers.add_parser(
        "apply",
        help="create or update objects from manifests (files, directories, - for stdin)",
        description="Apply a configuration to objects by file name or stdin. Every document is "
        "validated before anything is sent. Prints created / configured / unchanged.",
    )
    apply.add_argument("-f", "--filename", action="append", required=True, help="file, dir, -")
    apply.add_argument("-R", "--recursive", action="store_true", help="walk directories")
    add_connection_flags(apply)
    apply.set_defaults(handler=kube_command(apply_command))

    delete = subparsers.add_parser(
        "delete",
        help="delete objects by type and name, selector or manifest",
        description="Delete objects: dockyard delete pod web-1, dockyard delete deploy -l app=x, "
        "dockyard delete -f web.yaml. Waits until they are gone unless --wait=false.",
    )
    delete.add_argument("type", nargs="?", help="resource type or TYPE/NAME")
    delete.add_argument("names", nargs="*", help="object names")
    delete.add_argument("-f", "--filename", action="append", help="objects from manifests")
    delete.add_argument("-l", "--selector", default="", help="label selector")
    delete.add_argument("--grace-period", type=int, default=-1, help="seconds (-1: the pod's)")
    delete.add_argument("--now", action="store_true", help="grace period of 1 second")
    delete.add_argument("--wait", default="true", choices=["true", "false"], help="wait for gone")
    delete.add_argument("--ignore-not-found", action="store_true")
    add_connection_flags(delete)
    delete.set_defaults(handler=kube_command(delete_command))

    scale = subparsers.add_parser(
        "scale",
        help="set the replicas of a Deployment, ReplicaSet or ReplicationController",
        description="Set a new size: dockyard scale deploy/web --replicas=5.",
    )
    scale.add_argument("type", help="resource type or TYPE/NAME")
    scale.add_argument("names", nargs="*", help="object names")
    scale.add_argument("--replicas", type=int, required=True, help="the new number of replicas")
    add_connection_flags(scale)
    scale.set_defaults(handler=kube_command(scale_command))


# --- apply -------------------------------------------------------------------------------------


def merge_patch(last: Any, wanted: Any) -> Any:
    """RFC 7386 patch turning ``last`` (the previous manifest) into ``wanted``."""
    if not isinstance(last, Mapping) or not isinstance(wanted, Mapping):
        return wanted
    patch: JsonObject = {}
    for key, value in wanted.items():
        if key not in last:
            patch[key] = value
        elif last[key] != value:
            patch[key] = merge_patch(last[key], value)
    for key in last:
        if key not in wanted:
            patch[key] = None
    return patch


def with_last_applied(data: Mapping[str, Any]) -> JsonObject:
    body: JsonObject = json.loads(json.dumps(data))
    annotations = body.setdefault("metadata", {}).setdefault("annotations", {}) or {}
    annotations.pop(LAST_APPLIED, None)
    recorded = json.dumps(body, sort_keys=True, separators=(",", ":"))
    annotations[LAST_APPLIED] = recorded
    body["metadata"]["annotations"] = annotations
    return body


def apply_one(client: ApiClient, data: Mapping[str, Any]) -> str:
    resource = resource_of(str(data.get("apiVersion", "")), str(data.get("kind", "")))
    name = str((data.get("metadata") or {}).get("name", ""))
    namespace = (data.get("metadata") or {}).get("namespace") or client.namespace
    if not resource.namespaced:
        namespace = None
    label = f"{type_name(resource)}/{name}"
    body = with_last_applied(data)
    if resource.namespaced:
        body["metadata"]["namespace"] = namespace
    current = client.get_or_none(resource, namespace, name)
    if current is None:
        client.request("POST", client.path(resource, namespace), body=body)
        return f"{label} created"
    annotations = (current.get("metadata") or {}).get("annotations") or {}
    last: JsonObject = {}
    if annotations.get(LAST_APPLIED):
        try:
            last = json.loads(annotations[LAST_APPLIED])
        except ValueError:
            last = {}
    patch = merge_patch(last, body) if last else body
    # Decided before sending, on what the patch would change: comparing resourceVersions would
    # count a controller's concurrent status write as "configured".
    if not patch or _desired_part(apply_merge_patch(current, patch)) == _desired_part(current):
        return f"{label} unchanged"
    client.request(
        "PATCH", client.path(resource, namespace, name), body=patch, content_type=MERGE_PATCH
    )
    return f"{label} configured"


def _desired_part(obj: Mapping[str, Any]) -> Any:
    meta = obj.get("metadata") or {}
    rest = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    return rest, meta.get("labels"), meta.get("annotations"), meta.get("ownerReferences")


def apply_command(args: argparse.Namespace, settings: Settings) -> int:
    documents: list[Document] = load_paths(list(args.filename), recursive=args.recursive)
    validate_documents(documents)  # everything checked before anything is sent
    if not documents:
        raise ClientError("no objects passed to apply")
    failed = False
    with connect(settings, args) as client:
        for document in documents:
            try:
                print(apply_one(client, document.data), flush=True)
            except ApiError as exc:
                print(exc.kubectl_text(), file=sys.stderr)
                failed = True
    return 1 if failed else 0


# --- delete ------------------------------------------------------------------------------------


def _targets(args: argparse.Namespace, client: ApiClient) -> list[tuple[Resource, str | None, str]]:
    if args.filename:
        documents = load_paths(list(args.filename))
        targets = []
        for document in documents:
            resource = resource_of(
                str(document.data.get("apiVersion", "")), str(document.data.get("kind", ""))
            )
            meta = document.data.get("metadata") or {}
            namespace = (meta.get("namespace") or client.namespace) if resource.namespaced else None
            targets.append((resource, namespace, str(meta.get("name", ""))))
        return targets
    if not args.type:
        raise ClientError("You must provide one or more resources by argument or filename.")
    resource, names = split_target(args.type, args.names)
    namespace = client.namespace if resource.namespaced else None
    if not names:
        if not args.selector:
            raise ClientError(
                "resource(s) were provided, but no name was specified (use -l to select by label)"
            )
        listed = client.list(resource, namespace, labelSelector=args.selector)
        names = [str(item["metadata"]["name"]) for item in listed.get("items") or []]
        if not names:
            print(f"No resources found in {namespace or 'the cluster'} namespace.", file=sys.stderr)
    return [(resource, namespace, name) for name in names]


def delete_command(args: argparse.Namespace, settings: Settings) -> int:
    failed = False
    with connect(settings, args) as client:
        grace = 1 if args.now else args.grace_period
        options: JsonObject = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace >= 0:
            options["gracePeriodSeconds"] = grace
        deleted: list[tuple[Resource, str | None, str]] = []
        for resource, namespace, name in _targets(args, client):
            try:
                client.request("DELETE", client.path(resource, namespace, name), body=options)
            except ApiError as exc:
                if not (exc.code == 404 and args.ignore_not_found):
                    print(exc.kubectl_text(), file=sys.stderr)
                    failed = True
                continue
            print(f'{type_name(resource)} "{name}" deleted', flush=True)
            deleted.append((resource, namespace, name))
        if args.wait == "true":
            deadline = time.monotonic() + 300
            for resource, namespace, name in deleted:
                while client.get_or_none(resource, namespace, name) is not None:
                    if time.monotonic() > deadline:
                        raise ClientError(f"timed out waiting for {name} to be deleted")
                    time.sleep(0.2)
    return 1 if failed else 0


# --- scale -------------------------------------------------------------------------------------


def scale_command(args: argparse.Namespace, settings: Settings) -> int:
    resource, names = split_target(args.type, args.names)
    if resource.kind not in ("Deployment", "ReplicaSet", "ReplicationController"):
        raise ClientError(f"cannot scale {resource.plural}: no scale subresource")
    if not names:
        raise ClientError("resource(s) were provided, but no name was specified")
    if args.replicas < 0:
        raise ClientError("The --replicas=COUNT flag is required, and COUNT must be >= 0")
    with connect(settings, args) as client:
        for name in names:
            client.request(
                "PATCH",
                client.path(resource, client.namespace, name, "scale"),
                body={"spec": {"replicas": args.replicas}},
                content_type=MERGE_PATCH,
            )
            print(f"{type_name(resource)}/{name} scaled", flush=True)
    return 0


__all__ = ["apply_one", "find_resource", "merge_patch", "with_last_applied"]
