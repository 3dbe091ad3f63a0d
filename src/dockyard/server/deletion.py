"""delete, with Kubernetes' deletion semantics.

- Pods are deleted gracefully: ``deletionTimestamp`` and ``deletionGracePeriodSeconds`` are set
  and the node agent stops the containers and deletes the pod for good. A pod that is not bound
  to a node or has finished, or ``gracePeriodSeconds=0``, is deleted at once.
- Namespaces become Terminating; the namespace controller deletes their content, then them.
- Other kinds follow ``propagationPolicy``, the contract with the garbage collector
  (controllers/garbage_collector.py): Background (default) deletes the object at once and
  leaves its dependents to the collector; Foreground and Orphan add the ``foregroundDeletion``
  or ``orphan`` finalizer and set ``deletionTimestamp``; the collector deletes (Foreground) or
  orphans (Orphan) the dependents, removes the finalizer and deletes the owner.
- An object with finalizers only gets ``deletionTimestamp``; it is deleted when the last
  finalizer is removed (by the API, writes.finish_if_finalized, or by the collector).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from dockyard.server import status as st
from dockyard.server.context import ApiContext, Call
from dockyard.server.selection import parse_resource_version
from dockyard.store.preconditions import resource_version_failure, uid_failure
from dockyard.store.writer import ObjectError, ObjectKey

JsonObject = dict[str, Any]
POLICIES = ("Background", "Foreground", "Orphan")
FOREGROUND_FINALIZER = "foregroundDeletion"
ORPHAN_FINALIZER = "orphan"
_POLICY_FINALIZERS = {"Foreground": FOREGROUND_FINALIZER, "Orphan": ORPHAN_FINALIZER}


@dataclass(frozen=True)
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str = "Background"
    precondition_uid: str | None = None
    precondition_rv: int | None = None
    dry_run: bool = False


def parse_options(body: Any, query: dict[str, str]) -> DeleteOptions:
    """DeleteOptions from the body (kubectl, client libraries) or the query string."""
    if body in (None, b"", {}):
        body = {}
    if not isinstance(body, dict):
        raise st.bad_request("DeleteOptions must be a JSON object")
    grace: Any = body.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
    if grace is not None:
        try:
            grace = int(grace)
        except (TypeError, ValueError):
            raise st.bad_request(f"gracePeriodSeconds must be an integer, not {grace!r}") from None
        if grace < 0:
            grace = 1  # as Kubernetes: negative means "as fast as allowed"
    policy = body.get("propagationPolicy") or query.get("propagationPolicy")
    orphan = body.get("orphanDependents", query.get("orphanDependents"))
    if policy is None:
        policy = "Orphan" if orphan in (True, "true") else "Background"
    if policy not in POLICIES:
        raise st.ApiError(
            422,
            "Invalid",
            f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: '
            f'"{policy}": supported values: "Foreground", "Background", "Orphan"',
        )
    preconditions = body.get("preconditions") or {}
    dry_run = body.get("dryRun") or query.get("dryRun")
    dry = dry_run == ["All"] or dry_run == "All"
    return DeleteOptions(
        grace,
        str(policy),
        preconditions.get("uid"),
        parse_resource_version(preconditions.get("resourceVersion"), "preconditions"),
        dry,
    )


def delete(ctx: ApiContext, call: Call, options: DeleteOptions) -> tuple[int, JsonObject]:
    """Returns the HTTP code (200 deleted, 202 deletion pending) and the response body."""
    assert call.name is not None
    key = call.key()
    try:
        with ctx.engine.begin() as conn:
            current = ctx.writer.get(key, conn=conn, for_update=True)
            if current is None:
                raise st.not_found(call.resource.plural, call.name, call.resource.group)
            body = copy.deepcopy(current.body)
            failed = uid_failure(options.precondition_uid, current.uid) or (
                resource_version_failure(options.precondition_rv, current.resource_version)
            )
            if failed:
                r = call.resource
                raise st.precondition_failed(r.plural, r.group, call.name, failed)
            if options.dry_run:
                return 200, body
            return _delete_in(ctx, conn, call, key, body, current.resource_version, options)
    except ObjectError as exc:
        raise st.from_object_error(
            exc, call.resource.plural, call.resource.group, call.name
        ) from None


def _delete_in(
    ctx: ApiContext,
    conn: Connection,
    call: Call,
    key: ObjectKey,
    body: JsonObject,
    rv: int,
    options: DeleteOptions,
) -> tuple[int, JsonObject]:
    writer, actor = ctx.writer, call.actor
    expected = options.precondition_rv
    kind = call.resource.kind
    meta = body["metadata"]
    if kind == "Pod":
        grace = _pod_grace(body, options)
        if grace == 0:
            return 200, writer.delete_in(conn, key, actor=actor, expected_rv=expected)
        return 202, writer.delete_in(
            conn, key, actor=actor, graceful=True, expected_rv=expected, grace_period_seconds=grace
        )
    if kind == "Namespace":
        if not meta.get("deletionTimestamp"):
            terminating = copy.deepcopy(body)
            terminating["status"] = {**(body.get("status") or {}), "phase": "Terminating"}
            writer.update_in(conn, terminating, actor=actor, verb="delete", status_only=True)
        return 202, writer.delete_in(conn, key, actor=actor, graceful=True, expected_rv=None)
    finalizer = _POLICY_FINALIZERS.get(options.propagation_policy)
    if finalizer is not None and finalizer not in (meta.get("finalizers") or []):
        # The garbage collector sees the finalizer, orphans or deletes the dependents, removes
        # the finalizer and deletes the owner.
        meta["finalizers"] = [*(meta.get("finalizers") or []), finalizer]
        meta["resourceVersion"] = str(expected if expected is not None else rv)
        writer.update_in(conn, body, actor=actor, verb="delete")
        expected = None
    if meta.get("finalizers"):
        return 202, writer.delete_in(conn, key, actor=actor, graceful=True, expected_rv=expected)
    deleted = writer.delete_in(conn, key, actor=actor, expected_rv=expected)
    return 200, _success(call, deleted)


def _pod_grace(pod: JsonObject, options: DeleteOptions) -> int:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        return 0
    if options.grace_period_seconds is not None:
        return options.grace_period_seconds
    return int(spec.get("terminationGracePeriodSeconds", 30))


def _success(call: Call, deleted: JsonObject) -> JsonObject:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {
            "name": call.name,
            "group": call.resource.group,
            "kind": call.resource.plural,
            "uid": deleted.get("metadata", {}).get("uid"),
        },
    }
