"""Namespace controller: a deleted namespace turns Terminating, is emptied, then goes away.

The API refuses new objects in a Terminating namespace (Kubernetes' 403 ``unable to create new
content in namespace <ns> because it is being terminated``); :func:`namespace_is_terminating`
is the check it uses. The controller deletes every object in the namespace (pods on a node
gracefully, so their node stops them), reports ``NamespaceContentRemaining`` while anything is
left, and deletes the namespace itself once it is empty.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection

from dockyard.controllers import convert
from dockyard.controllers.context import ControllerContext, controller_actor, pod_delete_is_graceful
from dockyard.controllers.runtime import Change, Key

COMPONENT = "namespace-controller"
RECHECK_SECONDS = 1.0


def namespace_is_terminating(conn: Connection, namespace: str) -> bool:
    """True when ``namespace`` is being deleted (new content must be refused)."""
    row = conn.exec_driver_sql(
        "SELECT deletion_timestamp IS NOT NULL OR coalesce(status ->> 'phase', '') = 'Terminating' "
        "FROM objects WHERE kind = 'Namespace' AND namespace = '' AND name = %s",
        (namespace,),
    ).first()
    return bool(row and row[0])


class NamespaceController:
    name = "namespace"
    batch_size = 1

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.actor = controller_actor(COMPONENT)

    def keys_for(self, change: Change) -> Iterable[Key]:
        meta = convert.meta(change.current)
        if change.kind == "Namespace":
            return [str(meta.get("name", ""))]
        namespace = str(meta.get("namespace") or "")
        if namespace and change.new is None:
            ns = self.ctx.cache.get("Namespace", "", namespace)
            if ns is not None and convert.meta(ns).get("deletionTimestamp"):
                return [namespace]
        return []

    def resync_keys(self) -> Iterable[Key]:
        return [
            str(convert.meta(b).get("name", ""))
            for b in self.ctx.cache.objects("Namespace")
            if convert.meta(b).get("deletionTimestamp")
        ]

    def sync(self, items: Sequence[tuple[Key, int | None]]) -> dict[Key, float | None]:
        requeue: dict[Key, float | None] = {}
        for key, causation in items:
            body = self.ctx.cache.get("Namespace", "", str(key))
            if body is not None and convert.meta(body).get("deletionTimestamp"):
                requeue[key] = self._finalize(body, causation)
        return requeue

    def _finalize(self, body: Any, causation: int | None) -> float | None:
        name = str(convert.meta(body)["name"])
        content = self.ctx.cache.in_namespace(name)
        written: list[tuple[dict[str, Any], bool]] = []
        with self.ctx.writer.store.engine.begin() as conn:
            for item in content:
                item_meta = convert.meta(item)
                if item.get("kind") == "Pod":
                    graceful = pod_delete_is_graceful(item)
                    if graceful and item_meta.get("deletionTimestamp"):
                        continue  # its node is stopping it
                elif item_meta.get("deletionTimestamp") and item_meta.get("finalizers"):
                    continue  # the garbage collector finishes it
                else:
                    graceful = False
                deleted = self.ctx.delete(conn, item, self.actor, causation, graceful=graceful)
                if deleted is not None:
                    written.append((deleted, not graceful))
            remaining = len(content) - sum(1 for _, gone in written if gone)
            if remaining == 0:
                deleted = self.ctx.delete(conn, body, self.actor, causation)
                if deleted is not None:
                    written.append((deleted, True))
            else:
                stored = self._mark_terminating(conn, body, remaining, causation)
                if stored is not None:
                    written.append((stored, False))
        self.ctx.observe(written)
        return None if remaining == 0 else RECHECK_SECONDS

    def _mark_terminating(
        self, conn: Connection, body: Any, remaining: int, causation: int | None
    ) -> dict[str, Any] | None:
        message = f"Some resources are remaining: {remaining} object(s) in the namespace"
        status = convert.status(body)
        current = next(
            (
                c
                for c in status.get("conditions") or ()
                if c.get("type") == "NamespaceContentRemaining"
            ),
            None,
        )
        if (
            status.get("phase") == "Terminating"
            and current is not None
            and current.get("message") == message
        ):
            return None
        new = copy.deepcopy(dict(body))
        new["metadata"].pop("resourceVersion", None)
        conditions = [
            c
            for c in status.get("conditions") or ()
            if c.get("type") != "NamespaceContentRemaining"
        ]
        conditions.append(
            {
                "type": "NamespaceContentRemaining",
                "status": "True",
                "reason": "SomeResourcesRemain",
                "message": message,
                "lastTransitionTime": convert.format_time(convert.now_utc()),
            }
        )
        new["status"] = {**status, "phase": "Terminating", "conditions": conditions}
        return self.ctx.update(conn, new, self.actor, causation, status_only=True)
