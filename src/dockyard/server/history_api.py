"""Time travel over HTTP: an object exactly as a ``get`` returned it at a past moment.

``GET /apis/dockyard.io/v1/objects-at?resource=deployments&namespace=NS&name=NAME&at=TIME``
answers the object (with the uid and resourceVersion it had then) from the event log. It is a
Dockyard extension; `dockyard get KIND NAME --at TIME` calls it. Access is that of a ``get`` of
the object now.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dockyard.audit.queries import AuditInputError, NotAtThatTime, object_at, parse_time
from dockyard.model.kinds import resource_for_name
from dockyard.server import status as st
from dockyard.server.auth import User, authorize
from dockyard.server.context import ApiContext
from dockyard.server.http import JsonResponse

PATH = "/apis/dockyard.io/v1/objects-at"
Endpoint = Callable[[Request, User], Awaitable[Response]]
Guard = Callable[[Endpoint], Callable[[Request], Awaitable[Response]]]


def routes(ctx: ApiContext, guarded: Guard) -> list[Route]:
    async def objects_at(request: Request, user: User) -> Response:
        query = request.query_params
        resource, name, at_text = query.get("resource", ""), query.get("name", ""), query.get("at")
        info = resource_for_name(resource) if resource else None
        if info is None:
            raise st.bad_request(f"resource: {resource!r} is not a known resource type")
        if not name:
            raise st.bad_request("name: Required value")
        if not at_text:
            raise st.bad_request("at: Required value: a time (RFC 3339, or a duration like 2h)")
        namespace = (query.get("namespace") or "default") if info.namespaced else ""
        if not authorize(user, "get", namespaced=info.namespaced, namespace=namespace,
                         kind=info.kind, name=name):  # fmt: skip
            raise st.forbidden(user.name, "get", info.plural, info.group, namespace, name)
        try:
            at = parse_time(at_text, field="at")
        except AuditInputError as exc:
            raise st.bad_request(str(exc)) from None
        try:
            body = await run_in_threadpool(_read, ctx, info.kind, namespace, name, at)
        except NotAtThatTime as exc:
            raise st.ApiError(404, "NotFound", str(exc)) from None
        return JsonResponse(body)

    return [Route(PATH, guarded(objects_at), methods=["GET"])]


def _read(ctx: ApiContext, kind: str, namespace: str, name: str, at: datetime) -> Any:
    with ctx.engine.connect() as conn:
        return object_at(conn, kind, namespace, name, at)
