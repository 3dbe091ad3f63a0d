"""The Starlette application: discovery, OpenAPI, resources, operations endpoints.

``create_app(ctx, authenticator, ...)`` builds it; ``dockyard server`` runs it on uvicorn. Handlers
are async; database work runs in the thread pool (SQLAlchemy is synchronous). Every response to a
client's mistake is a Kubernetes ``Status``; anything unexpected is logged with the request id and
answered 500 without internals.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio.to_thread
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

import dockyard.notify  # noqa: F401  (registers the dockyard.io/v1 AlertRoute kind)
from dockyard.model.meta import to_dict
from dockyard.model.validation import parse_object
from dockyard.server import agent_api, discovery, history_api, openapi, ops
from dockyard.server import status as st
from dockyard.server.api import handle, resolve
from dockyard.server.auth import ANONYMOUS, TokenAuthenticator, User, cluster_role
from dockyard.server.context import ApiContext
from dockyard.server.http import JsonResponse, status_response
from dockyard.server.loghub import LogHub
from dockyard.server.metrics import Metrics
from dockyard.store.writer import Actor, AlreadyExists, ObjectKey

log = logging.getLogger(__name__)
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version"})
Handler = Callable[[Request], Awaitable[Response]]


def ensure_namespaces(ctx: ApiContext) -> None:
    """Create the namespaces every cluster has, if missing (safe to race with another server)."""
    actor = Actor(name="system:apiserver", source="api")
    for name in INITIAL_NAMESPACES:
        if ctx.writer.get(ObjectKey("Namespace", "", name)) is not None:
            continue
        body = to_dict(
            parse_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        )
        with contextlib.suppress(AlreadyExists):
            ctx.writer.create(body, actor=actor, verb="create")


def anonymous_user(role: str) -> User:
    groups = ["system:unauthenticated"]
    if role == "admin":
        groups.append("dockyard:cluster-admin")
    elif role in ("view", "edit"):
        groups.append(f"dockyard:cluster-{role}")
    return User(ANONYMOUS, "", tuple(groups))


def create_app(
    ctx: ApiContext,
    authenticator: TokenAuthenticator,
    *,
    allow_anonymous: bool = False,
    anonymous_role: str = "",
    metrics: Metrics | None = None,
    create_namespaces: bool = True,
) -> Starlette:
    hub = LogHub(ctx.database_url, ctx.poll_interval, buffer_size=ctx.watch_buffer_events)
    metrics = metrics or Metrics()

    def authenticate(request: Request) -> User:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            user = authenticator.authenticate(token.strip())
            if user is not None:
                return user
            raise st.unauthorized()
        if allow_anonymous:
            return anonymous_user(anonymous_role)
        raise st.unauthorized()

    def guarded(endpoint: Callable[[Request, User], Awaitable[Response]]) -> Handler:
        async def run(request: Request) -> Response:
            started = time.perf_counter()
            verb, resource, code = request.method.lower(), "", 500
            try:
                user = (
                    User("system:anonymous")
                    if request.scope["path"] in _PUBLIC_PATHS  # (request.url parses it all)
                    else authenticate(request)
                )
                request.state.metric = (verb, resource)
                response = await endpoint(request, user)
                verb, resource = request.state.metric
                code = response.status_code
                return response
            except st.ApiError as error:
                code = error.code
                return status_response(error)
            except Exception:
                request_id = f"{time.time_ns():x}"
                log.exception(
                    "internal error %s on %s %s", request_id, request.method, request.url.path
                )
                return status_response(
                    st.ApiError(
                        500,
                        "InternalError",
                        f"an internal error occurred (see the server log, {request_id})",
                    )
                )
            finally:
                metrics.observe(verb, resource, code, time.perf_counter() - started)

        return run

    async def version(request: Request, user: User) -> Response:
        return JsonResponse(discovery.version_info())

    async def core_root(request: Request, user: User) -> Response:
        return JsonResponse(discovery.api_versions(f"{request.url.hostname}:{request.url.port}"))

    async def groups_root(request: Request, user: User) -> Response:
        return JsonResponse(discovery.api_group_list())

    async def healthz(request: Request, user: User) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request, user: User) -> Response:
        code, text = ops.readyz_text(await run_in_threadpool(ops.readiness, ctx))
        return PlainTextResponse(text, status_code=code)

    async def metrics_endpoint(request: Request, user: User) -> Response:
        if not _can_view_cluster(user):
            raise st.forbidden(user.name, "get", "metrics", "", "")
        return PlainTextResponse(
            await run_in_threadpool(ops.metrics_text, ctx, metrics),
            media_type="text/plain; version=0.0.4",
        )

    async def core(request: Request, user: User) -> Response:
        parts = request.path_params["rest"].strip("/").split("/")
        return await _resources(request, user, "", parts[0], parts[1:])

    async def grouped(request: Request, user: User) -> Response:
        parts = request.path_params["rest"].strip("/").split("/")
        if len(parts) == 1:
            document = discovery.api_group(parts[0])
            if document is None:
                raise st.path_not_found(request.url.path)
            return JsonResponse(document)
        return await _resources(request, user, parts[0], parts[1], parts[2:])

    async def _resources(
        request: Request, user: User, group: str, version: str, parts: list[str]
    ) -> Response:
        if not parts or parts == [""]:
            document = discovery.api_resource_list(group, version)
            if document is None:
                raise st.path_not_found(request.url.path)
            return JsonResponse(document)
        target = resolve(group, version, parts)
        if target is None:
            raise st.path_not_found(request.url.path)
        request.state.metric = (request.method.lower(), target.resource.plural)
        response = await handle(ctx, hub, request, user, target)
        return response

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Watches and blocking reads share the thread pool; give it room for many watchers.
        anyio.to_thread.current_default_thread_limiter().total_tokens = 200
        if create_namespaces:
            await run_in_threadpool(ensure_namespaces, ctx)
        hub.start()
        try:
            yield
        finally:
            await hub.stop()
            await ctx.aio.store.close()

    all_methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    # Starlette tries routes in order: the resource routes (nearly every request) come first,
    # each after the exact paths its pattern would also match ("/api/" is discovery, not a
    # resource; the dockyard.io routes are more specific than "/apis/{rest:path}").
    routes = [
        Route("/api", guarded(core_root)),
        Route("/api/", guarded(core_root)),
        Route("/api/{rest:path}", guarded(core), methods=all_methods),
        Route("/apis", guarded(groups_root)),
        Route("/apis/", guarded(groups_root)),
        *agent_api.routes(ctx, guarded),
        *history_api.routes(ctx, guarded),
        Route("/apis/{rest:path}", guarded(grouped), methods=all_methods),
        Route("/version", guarded(version)),
        Route("/version/", guarded(version)),
        Route("/openapi/v2", guarded(openapi.serve_v2)),
        Route("/openapi/v3", guarded(openapi.serve_v3)),
        Route("/openapi/v3/{path:path}", guarded(openapi.serve_v3)),
        Route("/healthz", guarded(healthz)),
        Route("/livez", guarded(healthz)),
        Route("/readyz", guarded(readyz)),
        Route("/metrics", guarded(metrics_endpoint)),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.ctx = ctx
    app.state.metrics = metrics
    return app


def _can_view_cluster(user: User) -> bool:
    return cluster_role(user) is not None
