"""The ``paths`` of an OpenAPI v3 document: one resource's operations, as Kubernetes lays them out.

Collection (``list``, ``create``), object (``get``, ``replace``, ``patch``, ``delete``), the
cluster-wide list of a namespaced resource, and the subresources discovery lists (``status``,
``scale``, ``log``). Every operation carries ``x-kubernetes-action`` and
``x-kubernetes-group-version-kind``; write operations take ``dryRun``, ``fieldManager`` and
``fieldValidation`` (kubectl's test for server-side field validation).
"""

from __future__ import annotations

from typing import Any

from dockyard.server.discovery import Resource
from dockyard.server.openapi_schema import META, ref
from dockyard.server.patch import PATCH_TYPES, STRATEGIC_PATCH

JsonObject = dict[str, Any]

_PARAMETERS: dict[str, tuple[str, str]] = {
    "allowWatchBookmarks": ("boolean", "Ask for BOOKMARK events in a watch."),
    "continue": ("string", "The continue token of the previous page of a limited list."),
    "fieldSelector": (
        "string",
        "Select objects by fields: metadata.name, metadata.namespace, spec.nodeName, status.phase.",
    ),
    "labelSelector": ("string", "Select objects by their labels."),
    "limit": ("integer", "Maximum number of objects in one page of a list."),
    "resourceVersion": ("string", "List at, or watch from, this log position."),
    "resourceVersionMatch": ("string", "How resourceVersion applies to a list."),
    "timeoutSeconds": ("integer", "End a list or watch after this many seconds."),
    "watch": ("boolean", "Stream ADDED, MODIFIED and DELETED events instead of a list."),
    "dryRun": ("string", "All: validate and answer, persist nothing."),
    "fieldManager": ("string", "Name of the actor making the change."),
    "fieldValidation": (
        "string",
        "Strict (the default here), Warn or Ignore: how unknown or duplicate fields in the "
        "body are handled; Strict rejects them, naming each.",
    ),
    "force": ("boolean", "Force an apply patch."),
    "gracePeriodSeconds": ("integer", "Seconds before the object is deleted."),
    "orphanDependents": ("boolean", "Deprecated: use propagationPolicy."),
    "propagationPolicy": ("string", "Foreground, Background or Orphan."),
    "pretty": ("string", "Pretty-print the output."),
    "container": ("string", "The container to stream logs of."),
    "follow": ("boolean", "Follow the log stream."),
    "previous": ("boolean", "The previous, terminated container's log."),
    "sinceSeconds": ("integer", "Only lines newer than this many seconds."),
    "tailLines": ("integer", "Only the last lines."),
    "timestamps": ("boolean", "Prefix each line with its timestamp."),
    "limitBytes": ("integer", "Stop after this many bytes."),
}
_LIST = [
    "allowWatchBookmarks",
    "continue",
    "fieldSelector",
    "labelSelector",
    "limit",
    "resourceVersion",
    "resourceVersionMatch",
    "timeoutSeconds",
    "watch",
]
_WRITE = ["dryRun", "fieldManager", "fieldValidation"]
_DELETE = ["dryRun", "gracePeriodSeconds", "orphanDependents", "propagationPolicy"]
_LOG = ["container", "follow", "previous", "sinceSeconds", "tailLines", "timestamps", "limitBytes"]


def gv_path(r: Resource) -> str:
    """``api/v1`` / ``apis/apps/v1``: the key of a group-version's document."""
    return f"api/{r.version}" if not r.group else f"apis/{r.group}/{r.version}"


def _query(names: list[str]) -> list[JsonObject]:
    return [
        {
            "description": _PARAMETERS[name][1],
            "in": "query",
            "name": name,
            "schema": {"type": _PARAMETERS[name][0], "uniqueItems": True},
        }
        for name in names
    ]


def _path_parameter(name: str, description: str) -> JsonObject:
    schema = {"type": "string", "uniqueItems": True}
    return {
        "description": description,
        "in": "path",
        "name": name,
        "required": True,
        "schema": schema,
    }


def _content(schema_name: str) -> JsonObject:
    return {"application/json": {"schema": ref(schema_name)}}


def _operation(
    r: Resource,
    action: str,
    verb: str,
    summary: str,
    response: str,
    *,
    params: list[str] | None = None,
    body: JsonObject | None = None,
    gvk: JsonObject | None = None,
    codes: tuple[str, ...] = ("200",),
) -> JsonObject:
    group_word = "".join(part.capitalize() for part in r.group.split(".")[:1]) or "Core"
    scope = "Namespaced" if r.namespaced else ""
    operation: JsonObject = {
        "description": summary,
        "operationId": f"{verb}{group_word}{r.version.capitalize()}{scope}{r.kind}",
        "responses": {
            **{
                code: {"content": _content(response), "description": _STATUS[code]}
                for code in codes
            },
            "401": {"description": "Unauthorized"},
        },
        "tags": [f"{(r.group.split('.')[0] or 'core')}_{r.version}"],
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk
        or {"group": r.group, "kind": r.kind, "version": r.version},
    }
    if params:
        operation["parameters"] = _query(params)
    if body is not None:
        operation["requestBody"] = {"content": body, "required": True}
    return operation


_STATUS = {"200": "OK", "201": "Created", "202": "Accepted"}


def _patch_body() -> JsonObject:
    """JSON patch and JSON merge patch; the server also applies strategic merge patches, but
    declaring them makes kubectl compute apply patches from these schemas, which cannot describe
    the free-form fields (``securityContext``, ``dnsConfig`` ...) deeply enough: kubectl would
    warn and fall back. Undeclared, kubectl uses its built-in types for the Kubernetes kinds
    (the same patch metadata) and a JSON merge patch for Dockyard's own, as for a CRD."""
    patch = ref(f"{META}.Patch")
    return {media: {"schema": patch} for media in PATCH_TYPES if media != STRATEGIC_PATCH}


def resource_paths(r: Resource, schema: str) -> JsonObject:
    """The paths of one resource, by path."""
    base = f"/{gv_path(r)}"
    collection = (
        f"{base}/namespaces/{{namespace}}/{r.plural}" if r.namespaced else f"{base}/{r.plural}"
    )
    item = f"{collection}/{{name}}"
    scope = [_path_parameter("namespace", "object name and auth scope")] if r.namespaced else []
    named = [_path_parameter("name", f"name of the {r.kind}"), *scope]
    pretty = _query(["pretty"])
    list_op = _operation(
        r, "list", "list", f"list or watch objects of kind {r.kind}", f"{schema}List", params=_LIST
    )
    paths: JsonObject = {collection: {"get": list_op, "parameters": [*scope, *pretty]}}
    paths[item] = {
        "get": _operation(r, "get", "read", f"read the specified {r.kind}", schema),
        "parameters": [*named, *pretty],
    }
    if r.namespaced:
        every = dict(list_op, operationId=f"{list_op['operationId']}ForAllNamespaces")
        paths[f"{base}/{r.plural}"] = {"get": every, "parameters": pretty}
    if r.read_only:
        return paths
    object_body = {"*/*": {"schema": ref(schema)}}
    paths[collection]["post"] = _operation(
        r,
        "post",
        "create",
        f"create a {r.kind}",
        schema,
        params=_WRITE,
        body=object_body,
        codes=("200", "201", "202"),
    )
    paths[item].update(
        put=_operation(
            r,
            "put",
            "replace",
            f"replace the specified {r.kind}",
            schema,
            params=_WRITE,
            body=object_body,
            codes=("200", "201"),
        ),
        patch=_operation(
            r,
            "patch",
            "patch",
            f"partially update the specified {r.kind}",
            schema,
            params=[*_WRITE, "force"],
            body=_patch_body(),
            codes=("200", "201"),
        ),
        delete=_operation(
            r,
            "delete",
            "delete",
            f"delete a {r.kind}",
            f"{META}.Status",
            params=_DELETE,
            body={"*/*": {"schema": ref(f"{META}.DeleteOptions")}},
            codes=("200", "202"),
        ),
    )
    for sub in r.subresources:
        paths[f"{item}/{sub}"] = _subresource(r, sub, schema, [*named, *pretty])
    return paths


def _subresource(r: Resource, sub: str, schema: str, parameters: list[JsonObject]) -> JsonObject:
    if sub == "log":
        log = _operation(
            r, "get", "read", f"read log of the specified {r.kind}", schema, params=_LOG
        )
        log["operationId"] += "Log"
        log["responses"]["200"] = {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "OK",
        }
        return {"get": log, "parameters": parameters}
    target = "io.k8s.api.autoscaling.v1.Scale" if sub == "scale" else schema
    gvk = {"group": "autoscaling", "kind": "Scale", "version": "v1"} if sub == "scale" else None
    body = {"*/*": {"schema": ref(target)}}
    operations: JsonObject = {
        "get": _operation(
            r, "get", "read", f"read {sub} of the specified {r.kind}", target, gvk=gvk
        ),
        "put": _operation(
            r,
            "put",
            "replace",
            f"replace {sub} of the specified {r.kind}",
            target,
            params=_WRITE,
            body=body,
            gvk=gvk,
            codes=("200", "201"),
        ),
        "patch": _operation(
            r,
            "patch",
            "patch",
            f"partially update {sub} of the specified {r.kind}",
            target,
            params=[*_WRITE, "force"],
            body=_patch_body(),
            gvk=gvk,
            codes=("200", "201"),
        ),
    }
    for operation in operations.values():
        operation["operationId"] += sub.capitalize()
    return {**operations, "parameters": parameters}
