"""create, update (PUT) and patch, for objects and their ``status`` subresource.

Every write is validated by ``parse_object`` (unknown fields are rejected with the field named,
as ``fieldValidation=Strict`` does) and stored with the request's ``Actor``, awaited on the
event loop (``ctx.aio``, store/async_writer.py: no thread hand-offs); ``dryRun=All`` does
everything but the write. The rare follow-ups that need the sync writer (the dry-run checks in
one transaction, the delete after the last finalizer) run in the thread pool.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from dockyard.controllers.names import generate_name
from dockyard.jsontree import json_copy
from dockyard.model.kinds import UnknownKind
from dockyard.model.meta import to_dict
from dockyard.model.validation import InvalidObject, parse_object
from dockyard.server import status as st
from dockyard.server.context import ApiContext, Call
from dockyard.server.patch import PatchError, apply_patch
from dockyard.store.append_errors import RequiredObject
from dockyard.store.changes import OPTIMISTIC_ATTEMPTS
from dockyard.store.preconditions import uid_failure
from dockyard.store.writer import (
    AlreadyExists,
    Conflict,
    NotFound,
    ObjectError,
    ObjectKey,
    StoredObject,
    Terminating,
)

JsonObject = dict[str, Any]
_GENERATE_RETRIES = 8
_rand = random.SystemRandom()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(call: Call, exc: ObjectError, name: str) -> st.ApiError:
    return st.from_object_error(exc, call.resource.plural, call.resource.group, name)


def check_body(call: Call, body: Any) -> JsonObject:
    """The request body as an object of this resource, with the path's identity filled in."""
    r = call.resource
    if not isinstance(body, dict):
        raise st.bad_request(f"the request body must be a JSON object, not {type(body).__name__}")
    body = dict(body)
    api_version = body.setdefault("apiVersion", r.api_version)
    kind = body.setdefault("kind", r.kind)
    if api_version != r.api_version:
        raise st.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({r.api_version})"
        )
    if kind != r.kind:
        raise st.bad_request(
            f"the kind in the data ({kind}) does not match the expected kind ({r.kind}) for "
            f"{r.plural}"
        )
    metadata = body.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise st.bad_request("metadata must be a JSON object")
    metadata = dict(metadata)
    body["metadata"] = metadata
    if r.namespaced:
        given = metadata.get("namespace")
        if given and given != call.namespace:
            raise st.bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        metadata["namespace"] = call.namespace
    else:
        metadata.pop("namespace", None)
    if call.name is not None and metadata.get("name", call.name) != call.name:
        raise st.bad_request(
            f"the name of the object ({metadata.get('name')}) does not match the name on the "
            f"URL ({call.name})"
        )
    if call.name is not None:
        metadata["name"] = call.name
    checked: JsonObject = body
    return checked


def validated(call: Call, body: Mapping[str, Any]) -> JsonObject:
    """``parse_object`` (decode, default, validate) -> the stored JSON form, or 422/400."""
    try:
        obj = parse_object(body, namespace=call.namespace or "default")
    except InvalidObject as exc:
        raise st.invalid(exc, call.resource.plural) from None
    except UnknownKind as exc:
        raise st.bad_request(str(exc)) from None
    return to_dict(obj)


def require_namespace(conn: Connection, call: Call) -> None:
    if not call.resource.namespaced:
        return
    # FOR SHARE: a namespace deletion cannot commit between this check and the create. One
    # round trip for both questions (the terminating test is namespace_is_terminating's).
    row = conn.exec_driver_sql(
        "SELECT deletion_timestamp IS NOT NULL OR coalesce(status ->> 'phase', '') = 'Terminating' "
        "FROM objects WHERE kind = 'Namespace' AND namespace = '' AND name = %s FOR SHARE",
        (call.namespace,),
    ).first()
    if row is None:
        raise st.not_found("namespaces", call.namespace)
    if row[0]:
        raise _terminating(call)


def _namespace_of(call: Call) -> tuple[RequiredObject, ...]:
    if not call.resource.namespaced:
        return ()
    return (RequiredObject("Namespace", "", call.namespace),)


def _terminating(call: Call) -> st.ApiError:
    return st.ApiError(
        403,
        "Forbidden",
        f"{call.resource.plural} is forbidden: unable to create new content in namespace "
        f"{call.namespace} because it is being terminated",
    )


async def create(ctx: ApiContext, call: Call, raw: Any) -> JsonObject:
    body = check_body(call, raw)
    metadata = body["metadata"]
    generate = metadata.get("generateName") if not metadata.get("name") else None
    for _attempt in range(_GENERATE_RETRIES if generate else 1):
        if generate:
            metadata["name"] = generate_name(str(generate), _rand)
        obj = validated(call, body)
        name = obj["metadata"].get("name", "")
        try:
            if call.dry_run:
                return await run_in_threadpool(_dry_run_create, ctx, call, obj)
            # One statement: the namespace check, the append and the projection run inside
            # the append lock (store/writer.py), so nothing can slip between them.
            return await ctx.aio.create(
                obj, actor=call.actor, verb="create", require=_namespace_of(call)
            )
        except NotFound:  # the only object a create requires is its namespace
            raise st.not_found("namespaces", call.namespace) from None
        except Terminating:
            raise _terminating(call) from None
        except ObjectError as exc:
            if generate and exc.reason == "AlreadyExists":
                continue
            raise _error(call, exc, name) from None
    raise st.ApiError(
        500, "AlreadyExists", f"could not find a free name for generateName {generate!r}"
    )


def _dry_run_create(ctx: ApiContext, call: Call, obj: JsonObject) -> JsonObject:
    name = obj["metadata"].get("name", "")
    with ctx.engine.begin() as conn:
        require_namespace(conn, call)
        if ctx.writer.get(call.key(name), conn=conn) is not None:
            raise AlreadyExists(call.resource.plural, name)
        return _dry_run_created(obj)


def _dry_run_created(obj: JsonObject) -> JsonObject:
    result = json_copy(obj)
    meta = result["metadata"]
    meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1)
    meta.pop("resourceVersion", None)
    return result


async def update(ctx: ApiContext, call: Call, raw: Any, *, verb: str = "update") -> JsonObject:
    body = check_body(call, raw)
    obj = validated(call, body)
    return await _store_update(ctx, call, obj, verb=verb)


async def _store_update(
    ctx: ApiContext, call: Call, obj: JsonObject, *, verb: str, read: StoredObject | None = None
) -> JsonObject:
    """Store an update; ``read`` is the object as the caller just read it (saves a read)."""
    status_only = call.subresource == "status"
    name = obj["metadata"]["name"]
    try:
        if call.dry_run:
            if await ctx.aio.get(call.key(name)) is None:
                raise st.not_found(call.resource.plural, name, call.resource.group)
            return obj
        # Optimistic, one statement per write (store/writer.py): no row lock held across
        # round trips, and a resourceVersion in the body still means 409 when stale.
        stored = await ctx.aio.update(
            obj, actor=call.actor, verb=verb, status_only=status_only, read=read
        )
        return await finish_if_finalized(ctx, call, stored)
    except ObjectError as exc:
        raise _error(call, exc, name) from None


async def finish_if_finalized(ctx: ApiContext, call: Call, stored: JsonObject) -> JsonObject:
    """An object being deleted whose last finalizer was just removed is deleted now (pods and
    namespaces excepted: the node agent and the namespace controller finish those). Should
    this process die between the update and the delete, the garbage collector finishes it."""
    meta = stored.get("metadata") or {}
    if (
        meta.get("deletionTimestamp")
        and not meta.get("finalizers")
        and stored.get("kind") not in ("Pod", "Namespace")
    ):
        key = ObjectKey.of(stored)
        return await run_in_threadpool(
            lambda: ctx.writer.delete(key, actor=call.actor, verb="delete")
        )
    return stored


async def patch(
    ctx: ApiContext, call: Call, content_type: str, document: Any, *, verb: str = "patch"
) -> JsonObject:
    return await read_modify_write(
        ctx, call, lambda current: _patched(call, content_type, document, current), verb=verb
    )


def _patched(call: Call, content_type: str, document: Any, current: JsonObject) -> JsonObject:
    try:
        result = apply_patch(content_type, current, document)
    except PatchError as exc:
        raise st.ApiError(422, "Invalid", f"the patch could not be applied: {exc}") from None
    if not isinstance(result, dict):
        raise st.bad_request("the patched object is not a JSON object")
    return result


async def read_modify_write(
    ctx: ApiContext,
    call: Call,
    change: Callable[[JsonObject], JsonObject],
    *,
    verb: str,
) -> JsonObject:
    """Apply ``change`` to the current object and store it, retrying on a concurrent write
    unless the change itself names the resourceVersion it expects (then: 409 Conflict)."""
    assert call.name is not None
    for attempt in range(OPTIMISTIC_ATTEMPTS):
        current = await ctx.aio.get(call.key())
        if current is None:
            raise st.not_found(call.resource.plural, call.name, call.resource.group)
        base = current.body  # freshly decoded from the row: ours to stamp, no copy needed
        base["metadata"]["resourceVersion"] = str(current.resource_version)
        changed = change(json_copy(base))
        meta = changed.get("metadata")
        if not isinstance(meta, dict):
            raise st.bad_request("metadata must be a JSON object")
        for field in ("name", "namespace"):
            if meta.get(field, base["metadata"].get(field)) != base["metadata"].get(field):
                raise st.bad_request(f"metadata.{field} cannot be changed by a patch")
        explicit_rv = str(meta.get("resourceVersion", "")) not in (
            "",
            str(current.resource_version),
        )
        meta.setdefault("resourceVersion", str(current.resource_version))
        failed = uid_failure(meta.get("uid"), current.uid)
        if failed:  # a namesake's uid: no retry can make it hold
            conflict = Conflict(call.resource.plural, call.name, failed)
            raise _error(call, conflict, call.name)
        body = check_body(call, changed)
        obj = validated(call, body)
        try:
            return await _store_update(ctx, call, obj, verb=verb, read=current)
        except st.ApiError as exc:
            if exc.reason != "Conflict" or explicit_rv or attempt == OPTIMISTIC_ATTEMPTS - 1:
                raise
    raise _error(call, Conflict(call.resource.plural, call.name), call.name)
