"""Routing of ``/api/v1/...`` and ``/apis/<group>/<version>/...`` to the verbs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from dockyard.server import (
    deletion,
    discovery,
    events,
    node_authz,
    protobuf,
    reads,
    subresources,
    tables,
    writes,
)
from dockyard.server import status as st
from dockyard.server.auth import User
from dockyard.server.context import ApiContext, Call
from dockyard.server.discovery import Resource
from dockyard.server.http import JsonResponse, decode_body, media_type, read_body
from dockyard.server.loghub import LogHub
from dockyard.server.selection import (
    parse_field_selector,
    parse_label_selector,
    parse_resource_version,
    parse_timeout,
)
from dockyard.server.watch import TableRows, watch_events
from dockyard.store.writer import Actor

JsonObject = dict[str, Any]
_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True)
class Target:
    resource: Resource
    namespace: str
    name: str | None
    subresource: str | None


def resolve(group: str, version: str, parts: list[str]) -> Target | None:
    """The resource a path names, or None (404)."""
    namespace = ""
    if (
        len(parts) >= 3
        and parts[0] == "namespaces"
        and not (len(parts) == 3 and parts[2] in _NAMESPACE_SUBRESOURCES)
    ):
        namespace, parts = parts[1], parts[2:]
    if not parts or len(parts) > 3 or not all(parts):
        return None
    resource = discovery.find_resource(group, version, parts[0])
    if resource is None or (namespace and not resource.namespaced):
        return None
    name = parts[1] if len(parts) > 1 else None
    sub = parts[2] if len(parts) > 2 else None
    if sub is not None and sub not in resource.subresources:
        return None
    return Target(resource, namespace, name, sub)


def request_verb(method: str, target: Target, query: dict[str, str]) -> str:
    if method == "GET":
        if query.get("watch") in ("1", "true"):
            return "watch"
        return "get" if target.name else "list"
    verbs = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
    if method not in verbs or (target.name is None) != (method == "POST"):
        raise st.method_not_allowed(method, target.resource.plural)
    return verbs[method]


def make_call(request: Request, target: Target, user: User) -> Call:
    actor = Actor(
        name=user.name,
        groups=user.groups,
        source="api",
        request_id=str(uuid.uuid4()),
        client_address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )
    return Call(
        target.resource,
        target.namespace,
        target.name,
        target.subresource,
        user,
        actor,
        dict(request.query_params),
        request.headers.get("kubectl-command", ""),
    )


async def handle(
    ctx: ApiContext, hub: LogHub, request: Request, user: User, target: Target
) -> Response:
    query = dict(request.query_params)
    verb = request_verb(request.method, target, query)
    r = target.resource
    if r.read_only and verb not in ("get", "list", "watch"):
        raise st.method_not_allowed(request.method, r.plural)
    await node_authz.authorize_request(
        ctx, user, verb, r, target.namespace, target.name, target.subresource
    )
    call = make_call(request, target, user)
    accept = request.headers.get("accept", "")
    protobuf.check_accept(accept)  # 406 for protobuf-only clients: responses are JSON
    if r.kind == "Event" and r.read_only:
        return await events.serve(ctx, hub, call, verb, accept)
    if verb == "watch":
        return _watch(ctx, hub, call, accept)
    if verb == "list":
        page = await run_in_threadpool(reads.list_objects, ctx, call)
        if tables.wants_table(accept):
            return JsonResponse(
                tables.table(
                    r.kind,
                    page.items,
                    resource_version=str(page.resource_version),
                    continue_token=page.continue_token,
                    include_object=query.get("includeObject", "Metadata"),
                    api_version=tables.table_version(accept),
                )
            )
        return JsonResponse(reads.list_body(call, page))
    if verb == "get":
        return await _get(ctx, call, accept)
    raw = await read_body(request, ctx.max_body_bytes)
    if verb == "delete":
        body = decode_body(raw, "application/json") if raw.strip() else {}
        options = deletion.parse_options(body, query)
        code, result = await run_in_threadpool(deletion.delete, ctx, call, options)
        return JsonResponse(result, status_code=code)
    if verb == "patch":
        document = decode_body(raw, media_type(request), patch=True)
        if call.subresource == "scale":
            result = await subresources.write_scale(
                ctx, call, document, content_type=media(request)
            )
            return JsonResponse(result)
        patch_verb = "rollback" if call.kubectl_command == "kubectl rollout undo" else "patch"
        result = await writes.patch(ctx, call, media(request), document, verb=patch_verb)
        return JsonResponse(result)
    body = decode_body(raw, media_type(request))
    if verb == "create":
        if call.subresource:
            raise st.method_not_allowed(request.method, f"{r.plural}/{call.subresource}")
        node_authz.admit_create(user, r, body)
        result = await writes.create(ctx, call, body)
        return JsonResponse(result, status_code=200 if call.dry_run else 201)
    if call.subresource == "scale":
        result = await subresources.write_scale(ctx, call, body)
        return JsonResponse(result)
    result = await writes.update(ctx, call, body)
    return JsonResponse(result)


def media(request: Request) -> str:
    return request.headers.get("content-type", "")


async def _get(ctx: ApiContext, call: Call, accept: str) -> Response:
    if call.subresource == "scale":
        return JsonResponse(await run_in_threadpool(subresources.get_scale, ctx, call))
    if call.subresource == "log":
        chunks = await run_in_threadpool(subresources.open_log, ctx, call)
        return StreamingResponse(chunks, media_type="text/plain")
    obj = await reads.get_object_async(ctx, call)
    if tables.wants_table(accept):
        return JsonResponse(
            tables.table(
                call.resource.kind,
                [obj],
                resource_version=str(obj["metadata"].get("resourceVersion", "")),
                include_object=call.query.get("includeObject", "Metadata"),
                api_version=tables.table_version(accept),
            )
        )
    return JsonResponse(obj)


def _watch(ctx: ApiContext, hub: LogHub, call: Call, accept: str) -> Response:
    start = parse_resource_version(call.query.get("resourceVersion"))
    # Bad parameters must fail before the stream starts (a 200 cannot become a 400 later).
    parse_label_selector(call.query.get("labelSelector", ""))
    parse_field_selector(call.query.get("fieldSelector", ""), call.resource.kind)
    parse_timeout(call.query.get("timeoutSeconds"))
    render = (
        TableRows(
            call.resource.kind,
            call.query.get("includeObject", "Metadata"),
            tables.table_version(accept),
        )
        if tables.wants_table(accept)
        else None
    )
    # The hub's shared, already-encoded lines are sent as they are (Tables cached per rendering).
    stream = watch_events(ctx, hub, call, start=start, render=render)
    return StreamingResponse(stream, media_type="application/json")
