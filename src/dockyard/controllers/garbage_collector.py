"""Garbage collector: dependents follow their owners (ownerReferences), as Kubernetes' GC.

* Background: an owner is gone (``ObjectDeleted``) → each dependent none of whose owners still
  exists is deleted (a bound pod gracefully).
* Foreground: an owner being deleted with the ``foregroundDeletion`` finalizer stays, its
  dependents are deleted (those with dependents of their own in foreground too), and when none
  is left the finalizer is removed and the owner deleted.
* Orphan: an owner with the ``orphan`` finalizer has its ownerReference removed from every
  dependent, then the finalizer, then it is deleted; the dependents stay.

An object (other than a pod or a namespace, whose teardown their node and the namespace
controller own) that has a deletionTimestamp and no finalizers left is deleted for good.
An owner missing from the cache is confirmed missing in the ``objects`` table before anything
is deleted on its account.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection

from dockyard.controllers import convert
from dockyard.controllers.context import ControllerContext, controller_actor, pod_delete_is_graceful
from dockyard.controllers.runtime import Change, Key

COMPONENT = "garbage-collector"
FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
RECHECK_SECONDS = 1.0
_SELF_FINALIZED = ("Pod", "Namespace")


def _finalizers(body: Any) -> list[str]:
    return [str(f) for f in convert.meta(body).get("finalizers") or ()]


def _uid(body: Any) -> str:
    return str(convert.meta(body).get("uid", ""))


class GarbageCollector:
    name = "garbage-collector"
    batch_size = 1

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.actor = controller_actor("generic-garbage-collector")

    def keys_for(self, change: Change) -> Iterable[Key]:
        body = change.current
        keys: list[Key] = []
        refs = convert.meta(body).get("ownerReferences") or ()
        if change.new is None:
            keys.extend(_uid(d) for d in self.ctx.cache.dependents(_uid(body)))
            for ref in refs:  # a foreground owner may be waiting for this one
                owner = self.ctx.cache.by_uid(str(ref.get("uid", "")))
                if owner is not None and convert.meta(owner).get("deletionTimestamp"):
                    keys.append(_uid(owner))
            return keys
        if convert.meta(body).get("deletionTimestamp"):
            keys.append(_uid(body))
        elif refs and change.type == "ObjectCreated":
            keys.append(_uid(body))  # created after its owner was gone?
        return keys

    def resync_keys(self) -> Iterable[Key]:
        for kind_body in self.ctx.cache.objects("Pod") + self.ctx.cache.objects("ReplicaSet"):
            if convert.meta(kind_body).get("ownerReferences"):
                yield _uid(kind_body)
        for kind in ("Deployment", "ReplicaSet", "DaemonSet", "ReplicationController", "Service"):
            for body in self.ctx.cache.objects(kind):
                if convert.meta(body).get("deletionTimestamp"):
                    yield _uid(body)

    def sync(self, items: Sequence[tuple[Key, int | None]]) -> dict[Key, float | None]:
        requeue: dict[Key, float | None] = {}
        for key, causation in items:
            body = self.ctx.cache.by_uid(str(key))
            if body is not None:
                requeue[key] = self._sync_one(body, causation)
        return requeue

    def _sync_one(self, body: Any, causation: int | None) -> float | None:
        written: list[tuple[dict[str, Any], bool]] = []
        again: float | None = None
        deleting = convert.meta(body).get("deletionTimestamp")
        refs = convert.meta(body).get("ownerReferences") or ()
        if not deleting and all(self.ctx.cache.by_uid(str(r.get("uid", ""))) for r in refs):
            return None  # the common case, decided from the cache without a transaction
        with self.ctx.writer.store.engine.begin() as conn:
            if convert.meta(body).get("deletionTimestamp"):
                again = self._finish_deletion(conn, body, causation, written)
            elif self._owners_gone(conn, body):
                self._delete(conn, body, causation, written, foreground=False)
        self.ctx.observe(written)
        return again

    def _owners_gone(self, conn: Connection, body: Any) -> bool:
        refs = convert.meta(body).get("ownerReferences") or ()
        if not refs:
            return False
        for ref in refs:
            uid = str(ref.get("uid", ""))
            if self.ctx.cache.by_uid(uid) is not None:
                return False
            row = conn.exec_driver_sql("SELECT 1 FROM objects WHERE uid = %s", (uid,)).first()
            if row is not None:
                return False
        return True

    def _delete(
        self,
        conn: Connection,
        body: Any,
        causation: int | None,
        written: list[Any],
        *,
        foreground: bool,
    ) -> None:
        if (
            foreground
            and self.ctx.cache.dependents(_uid(body))
            and FOREGROUND not in _finalizers(body)
        ):
            new = copy.deepcopy(dict(body))
            new["metadata"].pop("resourceVersion", None)
            new["metadata"]["finalizers"] = [*_finalizers(body), FOREGROUND]
            self.ctx.update(conn, new, self.actor, causation)
            stored = self.ctx.delete(conn, new, self.actor, causation, graceful=True)
            if stored is not None:
                written.append((stored, False))
            return
        graceful = body.get("kind") == "Pod" and pod_delete_is_graceful(body)
        stored = self.ctx.delete(conn, body, self.actor, causation, graceful=graceful)
        if stored is not None:
            written.append((stored, not graceful))

    def _finish_deletion(
        self, conn: Connection, body: Any, causation: int | None, written: list[Any]
    ) -> float | None:
        finalizers = _finalizers(body)
        uid = _uid(body)
        dependents = self.ctx.cache.dependents(uid)
        if ORPHAN in finalizers:
            for dependent in dependents:
                new = copy.deepcopy(dict(dependent))
                new["metadata"].pop("resourceVersion", None)
                new["metadata"]["ownerReferences"] = [
                    r for r in new["metadata"].get("ownerReferences") or () if r.get("uid") != uid
                ]
                written.append((self.ctx.update(conn, new, self.actor, causation), False))
            finalizers.remove(ORPHAN)
        elif FOREGROUND in finalizers:
            live = [d for d in dependents if not convert.meta(d).get("deletionTimestamp")]
            for dependent in live:
                self._delete(conn, dependent, causation, written, foreground=True)
            if dependents:
                return RECHECK_SECONDS  # wait until they are gone
            finalizers.remove(FOREGROUND)
        elif finalizers or body.get("kind") in _SELF_FINALIZED:
            return None  # someone else's finalizer, or teardown owned elsewhere
        if finalizers:
            new = copy.deepcopy(dict(body))
            new["metadata"].pop("resourceVersion", None)
            new["metadata"]["finalizers"] = finalizers
            written.append((self.ctx.update(conn, new, self.actor, causation), False))
            return None
        if body.get("kind") in _SELF_FINALIZED:
            new = copy.deepcopy(dict(body))
            new["metadata"].pop("resourceVersion", None)
            new["metadata"]["finalizers"] = []
            written.append((self.ctx.update(conn, new, self.actor, causation), False))
            return None
        stored = self.ctx.delete(conn, body, self.actor, causation)
        if stored is not None:
            written.append((stored, True))
        return None
