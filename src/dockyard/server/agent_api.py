"""Dockyard-specific endpoints for node agents: what Kubernetes' API has no verb for.

An agent on another host reaches the control plane over HTTPS only (no database credentials).
Pods, Nodes, ``pods/status`` and the final pod deletion go through the ordinary Kubernetes
routes; these three do the rest:

- ``POST /apis/dockyard.io/v1/nodes/{node}/facts``: append a batch of the agent's observed
  facts (catalogued agent event types only) to the log, in one transaction;
- ``GET /apis/dockyard.io/v1/nodes/{node}/facts?stream=...``: read one of those streams back
  (what the agent recorded before it restarted);
- ``PUT /apis/dockyard.io/v1/nodes/{node}/lease``: renew the node's lease (a mutable row).

Who may call: the node itself (user ``system:node:<node>``), a member of ``system:nodes`` that
is not a different node's identity (NodeRestriction), or a cluster admin. A node may only write
``node-runtime:<node>`` and the ``pod-runtime:<uid>`` streams of pods bound to it (or, once the
pod object is gone, of pods whose stream it wrote before). Metadata naming who observed the
facts is set here from the authenticated user, never taken from the request.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dockyard.agent.client import StoreControlPlane
from dockyard.server import status as st
from dockyard.server.auth import User, cluster_role
from dockyard.server.context import ApiContext
from dockyard.server.http import JsonResponse, decode_body, read_body
from dockyard.store.append_errors import DuplicateEventError
from dockyard.store.catalogue import CATALOGUE, UnknownEventType, UnreadableEvent
from dockyard.store.event_types_agent import AGENT_EVENT_TYPES, NodeRegistered
from dockyard.store.events import NewEvent, RecordedEvent

__all__ = ["MAX_FACTS_PER_BATCH", "event_to_json", "routes"]

JsonObject = dict[str, Any]
Endpoint = Callable[[Request, User], Awaitable[Response]]
Guard = Callable[[Endpoint], Callable[[Request], Awaitable[Response]]]

PREFIX = "/apis/dockyard.io/v1/nodes/{node}"
MAX_FACTS_PER_BATCH = 500
_POD_STREAM = "pod-runtime:"
_NODE_STREAM = "node-runtime:"
# Metadata the server vouches for: a client may not claim to be someone else.
_TRUSTED_METADATA = ("actor", "groups", "source", "verb", "node", "client_address", "user_agent")


def routes(ctx: ApiContext, guarded: Guard) -> list[Route]:
    """The agent endpoints, wrapped in the app's authentication and error handling."""

    async def facts(request: Request, user: User) -> Response:
        node = request.path_params["node"]
        _authorize(user, node)
        if request.method == "GET":
            stream = request.query_params.get("stream", "")
            _check_stream_name(stream, node, "stream")
            events = await run_in_threadpool(_read_stream, ctx, node, stream)
            return JsonResponse({"kind": "FactList", "items": events})
        raw = await read_body(request, ctx.max_body_bytes)
        body = decode_body(raw, "application/json")
        batch = _parse_batch(body, node, user, request)
        recorded = await run_in_threadpool(_append, ctx, node, batch)
        return JsonResponse({"kind": "FactList", "items": recorded}, status_code=201)

    async def lease(request: Request, user: User) -> Response:
        node = request.path_params["node"]
        _authorize(user, node)
        raw = await read_body(request, ctx.max_body_bytes)
        body = decode_body(raw, "application/json")
        holder, duration = _parse_lease(body)
        await run_in_threadpool(
            StoreControlPlane(ctx.store, node).renew_lease,
            node,
            holder=holder,
            duration_seconds=duration,
        )
        return JsonResponse({"holder": holder, "leaseDurationSeconds": duration})

    return [
        Route(f"{PREFIX}/facts", guarded(facts), methods=["GET", "POST"]),
        Route(f"{PREFIX}/lease", guarded(lease), methods=["PUT"]),
    ]


# --- authorization ----------------------------------------------------------------------------


def _authorize(user: User, node: str) -> None:
    own = f"system:node:{node}"
    if user.name == own or cluster_role(user) == "admin":
        return
    if "system:nodes" in user.groups and not user.name.startswith("system:node:"):
        return
    raise st.forbidden(user.name, "update", "nodes/facts", "dockyard.io", "", node)


def _check_stream_name(stream: str, node: str, field: str) -> None:
    if stream == f"{_NODE_STREAM}{node}":
        return
    if stream.startswith(_POD_STREAM) and _is_uuid(stream[len(_POD_STREAM) :]):
        return
    raise st.bad_request(
        f"{field}: {stream!r} is not a stream a node writes: expected "
        f'"pod-runtime:<pod uid>" or "node-runtime:{node}"'
    )


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _owns_pod_stream(ctx: ApiContext, node: str, stream: str) -> bool:
    """The pod is bound to ``node``; or it is gone and ``node`` wrote its stream before."""
    uid = stream[len(_POD_STREAM) :]
    with ctx.engine.connect() as conn:
        bound = conn.exec_driver_sql(
            "SELECT spec->>'nodeName' FROM objects WHERE kind = 'Pod' AND uid::text = %s",
            (uid,),
        ).first()
        if bound is not None:
            return bool(bound[0] == node)
        writer = conn.exec_driver_sql(
            "SELECT metadata->>'node' FROM events WHERE stream_id = %s "
            "ORDER BY version DESC LIMIT 1",
            (stream,),
        ).first()
    return writer is None or writer[0] == node


def _check_ownership(ctx: ApiContext, node: str, streams: set[str]) -> None:
    for stream in sorted(streams):
        if stream.startswith(_POD_STREAM) and not _owns_pod_stream(ctx, node, stream):
            raise st.ApiError(
                403,
                "Forbidden",
                f'node "{node}" may not write or read {stream}: the pod is bound to another node',
            )


# --- facts --------------------------------------------------------------------------------------


def _parse_batch(body: Any, node: str, user: User, request: Request) -> list[NewEvent]:
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise st.bad_request('the request body must be {"items": [<fact>, ...]}')
    items: list[Any] = body["items"]
    if len(items) > MAX_FACTS_PER_BATCH:
        raise st.bad_request(f"items: at most {MAX_FACTS_PER_BATCH} facts per request")
    trusted = {
        "actor": user.name,
        "groups": list(user.groups),
        "source": "agent",
        "verb": "observe",
        "node": node,
        "client_address": request.client.host if request.client else None,
        "user_agent": request.headers.get("user-agent"),
    }
    return [_parse_fact(item, f"items[{i}]", node, trusted) for i, item in enumerate(items)]


def _parse_fact(item: Any, field: str, node: str, trusted: JsonObject) -> NewEvent:
    if not isinstance(item, dict):
        raise st.bad_request(f"{field}: must be a JSON object")
    type_name, stream = item.get("type"), item.get("stream")
    if not isinstance(type_name, str) or type_name not in AGENT_EVENT_TYPES:
        raise st.bad_request(f"{field}.type: {type_name!r} is not a node agent event type")
    if not isinstance(stream, str):
        raise st.bad_request(f"{field}.stream: must be a string")
    _check_stream_name(stream, node, f"{field}.stream")
    if (type_name == NodeRegistered.name) != stream.startswith(_NODE_STREAM):
        raise st.bad_request(f"{field}.stream: {type_name} does not belong in {stream}")
    data, metadata = item.get("data"), item.get("metadata") or {}
    if not isinstance(data, dict) or not isinstance(metadata, dict):
        raise st.bad_request(f"{field}: data and metadata must be JSON objects")
    event_type = CATALOGUE.get(type_name)
    version = item.get("schemaVersion", event_type.schema_version)
    if not isinstance(version, int) or isinstance(version, bool):
        raise st.bad_request(f"{field}.schemaVersion: must be an integer")
    try:
        payload = event_type.decode(data, version)
    except (UnreadableEvent, UnknownEventType) as exc:
        raise st.bad_request(f"{field}.data: {exc}") from None
    claimed_node = getattr(payload, "node", node)
    if claimed_node != node:
        raise st.bad_request(f"{field}.data.node: {claimed_node!r} is not this node ({node!r})")
    try:
        event_id = uuid.UUID(str(item["eventID"])) if item.get("eventID") else uuid.uuid4()
    except ValueError:
        raise st.bad_request(f"{field}.eventID: not a UUID") from None
    untrusted = {k: v for k, v in metadata.items() if k not in _TRUSTED_METADATA}
    return NewEvent(
        stream_id=stream,
        type=type_name,
        data=event_type.encode(payload),
        metadata={**untrusted, **trusted},
        schema_version=event_type.schema_version,
        event_id=event_id,
    )


def _append(ctx: ApiContext, node: str, events: list[NewEvent]) -> list[JsonObject]:
    _check_ownership(ctx, node, {e.stream_id for e in events})
    if not events:
        return []
    try:
        recorded = ctx.store.append(events)
    except DuplicateEventError:
        raise st.ApiError(
            409, "AlreadyExists", "a fact with one of these eventIDs is already recorded"
        ) from None
    return [event_to_json(e) for e in recorded]


def _read_stream(ctx: ApiContext, node: str, stream: str) -> list[JsonObject]:
    _check_ownership(ctx, node, {stream})
    return [event_to_json(e) for e in ctx.store.read_stream(stream)]


def event_to_json(event: RecordedEvent) -> JsonObject:
    return {
        "position": event.position,
        "eventID": str(event.event_id),
        "stream": event.stream_id,
        "version": event.version,
        "type": event.type,
        "schemaVersion": event.schema_version,
        "data": event.data,
        "metadata": event.metadata,
        "recordedAt": event.recorded_at.isoformat(),
    }


# --- lease --------------------------------------------------------------------------------------


def _parse_lease(body: Any) -> tuple[str, int]:
    if not isinstance(body, dict):
        raise st.bad_request("the request body must be a JSON object")
    holder = body.get("holderIdentity")
    duration = body.get("leaseDurationSeconds", 40)
    if not isinstance(holder, str) or not holder.strip() or len(holder) > 253:
        raise st.bad_request("holderIdentity: must be a non-empty string of at most 253 characters")
    if isinstance(duration, bool) or not isinstance(duration, int) or not 1 <= duration <= 3600:
        raise st.bad_request("leaseDurationSeconds: must be an integer between 1 and 3600")
    return holder, duration
