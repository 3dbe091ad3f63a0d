"""``dockyard get | describe | logs``: reading the cluster through the HTTP API.

Tables come from the server (``as=Table``, the columns kubectl prints); this module lays them
out as kubectl does (upper-case headers, columns separated by three spaces).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import yaml

from dockyard.cli.client import (
    TABLE_ACCEPT,
    ApiClient,
    ClientError,
    JsonObject,
    add_connection_flags,
    connect,
    find_resource,
    kube_command,
    type_name,
)
from dockyard.server.discovery import Resource
from dockyard.server.tables import age
from dockyard.settings import Settings

EVENTS = find_resource("events")


def add_parser(subparsers: Any) -> None:
    get = subparsers.add_parser(
        "get",
        help="list objects (pods, deployments, ...) as kubectl does",
        description="Display one or many objects: dockyard get pods, dockyard get deploy web, "
        "dockyard get pod/web-1 -o yaml.",
    )
    get.add_argument("type", help="resource type (pods, deploy, ...) or TYPE/NAME")
    get.add_argument("names", nargs="*", help="object names")
    get.add_argument("-o", "--output", choices=["wide", "yaml", "json", "name"])
    get.add_argument("-l", "--selector", default="", help="label selector (app=web,tier!=db)")
    get.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    get.add_argument("-w", "--watch", action="store_true", help="after listing, print changes")
    get.add_argument(
        "--at",
        metavar="TIME",
        help="the object as it was at TIME (RFC 3339, or a duration ago like 2h): from the "
        "event log; prints YAML unless -o json",
    )
    add_connection_flags(get)
    get.set_defaults(handler=kube_command(get_command))

    describe = subparsers.add_parser(
        "describe",
        help="show an object in detail, with its recent events",
        description="Show details of an object and the events about it.",
    )
    describe.add_argument("type", help="resource type or TYPE/NAME")
    describe.add_argument("names", nargs="*", help="object names")
    add_connection_flags(describe)
    describe.set_defaults(handler=kube_command(describe_command))

    logs = subparsers.add_parser(
        "logs",
        help="print a container's log",
        description="Print the log of a container in a pod (the pod's first container unless "
        "-c is given).",
    )
    logs.add_argument("pod", help="pod name (or pod/NAME)")
    logs.add_argument("-c", "--container", help="container name")
    logs.add_argument("-f", "--follow", action="store_true", help="keep streaming")
    logs.add_argument("-p", "--previous", action="store_true", help="the previous instance")
    logs.add_argument("--tail", type=int, default=-1, help="lines from the end (-1: all)")
    logs.add_argument("--timestamps", action="store_true", help="prefix each line with its time")
    add_connection_flags(logs)
    logs.set_defaults(handler=kube_command(logs_command))


# --- helpers -----------------------------------------------------------------------------------


def split_target(type_arg: str, names: Sequence[str]) -> tuple[Resource, list[str]]:
    """``pods a b`` or ``pod/a`` -> (resource, names)."""
    if "/" in type_arg:
        kind, _, name = type_arg.partition("/")
        if names:
            raise ClientError("there is no need to specify a resource type as a separate argument")
        return find_resource(kind), [name]
    return find_resource(type_arg), list(names)


def format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    text_rows = [[str(c) for c in headers]] + [[_cell(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in text_rows) for i in range(len(headers))]
    lines = []
    for row in text_rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "<none>" if value is None else ""
    return str(value)


def table_rows(
    table: Mapping[str, Any], *, wide: bool, with_namespace: bool
) -> tuple[list[str], list[list[Any]]]:
    columns = table.get("columnDefinitions") or []
    keep = [i for i, c in enumerate(columns) if wide or int(c.get("priority", 0)) == 0]
    headers = [str(columns[i]["name"]).upper() for i in keep]
    rows = []
    for row in table.get("rows") or []:
        cells = [row["cells"][i] for i in keep]
        if with_namespace:
            namespace = ((row.get("object") or {}).get("metadata") or {}).get("namespace", "")
            cells = [namespace, *cells]
        rows.append(cells)
    if with_namespace:
        headers = ["NAMESPACE", *headers]
    return headers, rows


def _print_objects(
    objects: list[JsonObject], output: str, resource: Resource, single: bool
) -> None:
    if output == "name":
        for obj in objects:
            print(f"{type_name(resource)}/{obj['metadata']['name']}")
        return
    document: Any = (
        objects[0]
        if single and len(objects) == 1
        else {
            "apiVersion": "v1",
            "kind": "List",
            "items": objects,
            "metadata": {"resourceVersion": ""},
        }
    )
    if output == "json":
        print(json.dumps(document, indent=4))
    else:
        sys.stdout.write(yaml.safe_dump(document, sort_keys=False))


def _no_resources(namespace: str | None) -> None:
    where = f" in {namespace} namespace" if namespace else ""
    print(f"No resources found{where}.", file=sys.stderr)


# --- get ---------------------------------------------------------------------------------------


def get_command(args: argparse.Namespace, settings: Settings) -> int:
    resource, names = split_target(args.type, args.names)
    if args.at is not None:
        return _get_at(args, settings, resource, names)
    with connect(settings, args) as client:
        namespace = None if args.all_namespaces or not resource.namespaced else client.namespace
        if args.output in ("yaml", "json", "name"):
            if names:
                objects = [client.get(resource, namespace, name) for name in names]
            else:
                listed = client.list(resource, namespace, labelSelector=args.selector)
                objects = listed.get("items") or []
                for obj in objects:
                    obj.setdefault("apiVersion", resource.api_version)
                    obj.setdefault("kind", resource.kind)
            _print_objects(objects, args.output, resource, single=bool(names))
            return 0
        wide = args.output == "wide"
        with_ns = namespace is None and resource.namespaced
        if names:
            tables = [
                client.request("GET", client.path(resource, namespace, n), accept=TABLE_ACCEPT)
                for n in names
            ]
            rows: list[list[Any]] = []
            headers: list[str] = []
            for table in tables:
                headers, more = table_rows(table, wide=wide, with_namespace=with_ns)
                rows.extend(more)
            print(format_table(headers, rows))
            return 0
        params = {"labelSelector": args.selector} if args.selector else {}
        table = client.request(
            "GET", client.path(resource, namespace), params=params, accept=TABLE_ACCEPT
        )
        headers, rows = table_rows(table, wide=wide, with_namespace=with_ns)
        if rows:
            print(format_table(headers, rows), flush=True)
        elif not args.watch:
            _no_resources(namespace)
        if args.watch:
            rv = str((table.get("metadata") or {}).get("resourceVersion", ""))
            _watch_rows(client, resource, namespace, {**params, "resourceVersion": rv}, wide)
    return 0


def _get_at(
    args: argparse.Namespace, settings: Settings, resource: Resource, names: list[str]
) -> int:
    if len(names) != 1:
        print("error: --at needs exactly one object: dockyard get TYPE NAME --at TIME",
              file=sys.stderr)  # fmt: skip
        return 1
    with connect(settings, args) as client:
        params = {"resource": resource.plural, "name": names[0], "at": args.at}
        if resource.namespaced:
            params["namespace"] = client.namespace
        obj = client.request("GET", "/apis/dockyard.io/v1/objects-at", params=params)
    _print_objects([obj], "json" if args.output == "json" else "yaml", resource, single=True)
    return 0


def _watch_rows(
    client: ApiClient,
    resource: Resource,
    namespace: str | None,
    params: Mapping[str, str],
    wide: bool,
) -> None:
    with_ns = namespace is None and resource.namespaced
    for event in client.watch(client.path(resource, namespace), params, accept=TABLE_ACCEPT):
        if event.get("type") in ("BOOKMARK", "ERROR"):
            continue
        _headers, rows = table_rows(event.get("object") or {}, wide=wide, with_namespace=with_ns)
        for row in rows:
            print("   ".join(_cell(c) for c in row), flush=True)


# --- describe ----------------------------------------------------------------------------------


def _mapping_text(values: Mapping[str, Any] | None, indent: int) -> str:
    if not values:
        return "<none>"
    pad = " " * indent
    return f"\n{pad}".join(f"{k}={v}" for k, v in sorted(values.items()))


def _conditions(status: Mapping[str, Any]) -> list[str]:
    conditions = status.get("conditions") or []
    if not conditions:
        return []
    lines = ["Conditions:"]
    rows = [[c.get("type", ""), c.get("status", ""), c.get("reason", "")] for c in conditions]
    table = format_table(["Type", "Status", "Reason"], rows)
    lines += ["  " + line for line in table.splitlines()]
    return lines


def _state_text(state: Mapping[str, Any]) -> list[str]:
    for name, detail in state.items():
        lines = [f"    State:          {name.capitalize()}"]
        for key in ("reason", "exitCode", "startedAt", "finishedAt"):
            if key in (detail or {}):
                label = {"exitCode": "Exit Code", "startedAt": "Started", "finishedAt": "Finished"}
                lines.append(f"      {label.get(key, key.capitalize())}:  {detail[key]}")
        return lines
    return ["    State:          Waiting"]


def describe_lines(obj: JsonObject) -> list[str]:
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    lines = [f"Name:         {meta.get('name', '')}"]
    if meta.get("namespace"):
        lines.append(f"Namespace:    {meta['namespace']}")
    lines.append(f"Labels:       {_mapping_text(meta.get('labels'), 14)}")
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if k != "kubectl.kubernetes.io/last-applied-configuration"
    }
    lines.append(f"Annotations:  {_mapping_text(annotations, 14)}")
    kind = obj.get("kind", "")
    if kind == "Pod":
        lines += [
            f"Node:         {spec.get('nodeName') or '<none>'}",
            f"Start Time:   {status.get('startTime') or '<none>'}",
            f"Status:       {status.get('phase', 'Pending')}",
            f"IP:           {status.get('podIP') or ''}",
            "Containers:",
        ]
        by_name = {s.get("name"): s for s in status.get("containerStatuses") or []}
        for container in spec.get("containers") or []:
            state = by_name.get(container.get("name")) or {}
            lines.append(f"  {container.get('name')}:")
            lines.append(f"    Image:          {container.get('image')}")
            lines += _state_text(state.get("state") or {})
            if state.get("lastState"):
                last = _state_text(state["lastState"])
                lines += [last[0].replace("State:     ", "Last State:"), *last[1:]]
            lines.append(f"    Ready:          {str(bool(state.get('ready'))).capitalize()}")
            lines.append(f"    Restart Count:  {state.get('restartCount', 0)}")
        lines += _conditions(status)
    elif kind == "Deployment":
        replicas = spec.get("replicas", 1)
        lines += [
            f"Selector:     {_mapping_text((spec.get('selector') or {}).get('matchLabels'), 14)}",
            f"Replicas:     {replicas} desired | {status.get('updatedReplicas', 0)} updated | "
            f"{status.get('replicas', 0)} total | {status.get('availableReplicas', 0)} available"
            f" | {status.get('unavailableReplicas', 0)} unavailable",
            f"StrategyType: {(spec.get('strategy') or {}).get('type', 'RollingUpdate')}",
        ]
        if spec.get("paused"):
            lines.append("Paused:       true")
        lines += _conditions(status)
    else:
        for title, value in (("Spec", spec), ("Status", status)):
            if value:
                lines.append(f"{title}:")
                text = yaml.safe_dump(value, sort_keys=False).rstrip()
                lines += ["  " + line for line in text.splitlines()]
    return lines


def event_lines(events: list[JsonObject]) -> list[str]:
    if not events:
        return ["Events:       <none>"]
    now = datetime.now(UTC)
    rows = []
    for event in events:
        last = event.get("lastTimestamp") or event.get("eventTime")
        count = int(event.get("count") or 1)
        when = age(last, now)
        if count > 1:
            when = f"{when} (x{count} over {age(event.get('firstTimestamp') or last, now)})"
        source = (event.get("source") or {}).get("component", "")
        rows.append([event.get("type", ""), event.get("reason", ""), when, source,
                     str(event.get("message", "")).strip()])  # fmt: skip
    table = format_table(["Type", "Reason", "Age", "From", "Message"], [
        ["----", "------", "----", "----", "-------"], *rows
    ])  # fmt: skip
    return ["Events:", *("  " + line for line in table.splitlines())]


def events_about(client: ApiClient, obj: JsonObject) -> list[JsonObject]:
    meta = obj.get("metadata") or {}
    selector = f"involvedObject.name={meta.get('name')},involvedObject.kind={obj.get('kind')}"
    if meta.get("uid"):
        selector += f",involvedObject.uid={meta['uid']}"
    listed = client.list(EVENTS, meta.get("namespace") or "default", fieldSelector=selector)
    items: list[JsonObject] = listed.get("items") or []
    return sorted(items, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))


def describe_command(args: argparse.Namespace, settings: Settings) -> int:
    resource, names = split_target(args.type, args.names)
    with connect(settings, args) as client:
        namespace = client.namespace if resource.namespaced else None
        if names:
            objects = [client.get(resource, namespace, name) for name in names]
        else:
            objects = client.list(resource, namespace).get("items") or []
        if not objects:
            _no_resources(namespace)
        for index, obj in enumerate(objects):
            obj.setdefault("kind", resource.kind)
            if index:
                print()
            print("\n".join(describe_lines(obj) + event_lines(events_about(client, obj))))
    return 0


# --- logs --------------------------------------------------------------------------------------


def logs_command(args: argparse.Namespace, settings: Settings) -> int:
    pod = args.pod.split("/", 1)[1] if args.pod.startswith(("pod/", "pods/")) else args.pod
    with connect(settings, args) as client:
        params = {}
        if args.container:
            params["container"] = args.container
        else:  # kubectl's default: the annotated default container, else the first
            body = client.get(find_resource("pods"), client.namespace, pod)
            annotations = (body.get("metadata") or {}).get("annotations") or {}
            containers = (body.get("spec") or {}).get("containers") or [{}]
            params["container"] = annotations.get(
                "kubectl.kubernetes.io/default-container", containers[0].get("name", "")
            )
        if args.follow:
            params["follow"] = "true"
        if args.previous:
            params["previous"] = "true"
        if args.tail >= 0:
            params["tailLines"] = str(args.tail)
        if args.timestamps:
            params["timestamps"] = "true"
        path = client.path(find_resource("pods"), client.namespace, pod, "log")
        binary = getattr(sys.stdout, "buffer", None)
        for chunk in client.stream(path, params, accept="*/*"):
            if binary is not None:
                binary.write(chunk)
                binary.flush()
            else:  # stdout replaced by a text stream (tests, embedding)
                sys.stdout.write(chunk.decode(errors="replace"))
    return 0
