"""The controller runtime: an object cache fed by the log, keyed work queues, workers.

As in client-go: handlers only map an observed change to keys (an owner, a namespace, a node);
a keyed work queue guarantees one key is never synced by two workers at once, folds repeated
adds of a queued key into one, and retries failures with capped exponential back-off up to a
maximum number of tries. The cache is loaded from the ``objects`` read model in one snapshot
(together with the log position it reflects) before any worker starts, then follows the log
from that position, so no controller decides on a half-read world. Executors write through the
cache (:meth:`ObjectCache.observe`) so a controller sees its own writes at once, as Kubernetes'
expectations make it wait for them.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import Engine

from dockyard.store.event_types import OBJECT_EVENT_TYPES, ObjectDeleted
from dockyard.store.events import EventStore, RecordedEvent
from dockyard.store.follower import LogFollower

log = logging.getLogger(__name__)

Body = Mapping[str, Any]
Key = Any  # hashable: a name tuple, a uid, ...
V = TypeVar("V")


@dataclass(frozen=True)
class Change:
    """One observed object event: the object before (None: new) and after (None: gone)."""

    type: str
    position: int
    old: Body | None
    new: Body | None

    @property
    def current(self) -> Body:
        body = self.new if self.new is not None else self.old
        assert body is not None
        return body

    @property
    def kind(self) -> str:
        return str(self.current.get("kind", ""))


def _ident(body: Body) -> tuple[str, str, str, str]:
    meta = body.get("metadata") or {}
    return (
        str(meta.get("uid", "")),
        str(body.get("kind", "")),
        str(meta.get("namespace") or ""),
        str(meta.get("name", "")),
    )


class ObjectCache:
    """Every live object, indexed by uid, by kind and name, and by owner uid. Thread-safe.

    Bodies handed out are shared: callers copy before they change one.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._by_uid: dict[str, dict[str, Any]] = {}
        self._versions: dict[str, int] = {}
        self._by_kind: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self._dependents: dict[str, set[str]] = {}
        self._gone: dict[str, int] = {}
        # uid -> converter -> (version, view): each view computed once per object version.
        self._views: dict[str, dict[Any, tuple[int, Any]]] = {}
        self.position = 0

    def load(self, engine: Engine) -> None:
        """Read every object and the log position they reflect, in one snapshot."""
        with engine.connect() as conn:
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            head = conn.exec_driver_sql("SELECT coalesce(max(position), 0) FROM events").scalar()
            rows = conn.exec_driver_sql("SELECT resource_version, body FROM objects").all()
            conn.rollback()
        with self._lock:
            for version, body in rows:
                self._put(dict(body), int(version))
            self.position = int(head or 0)

    # -- writes -----------------------------------------------------------------------------

    def _put(self, body: dict[str, Any], version: int) -> Body | None:
        uid, kind, namespace, name = _ident(body)
        if self._versions.get(uid, -1) >= version or uid in self._gone:
            return None
        old = self._by_uid.get(uid)
        if old is not None:
            self._unindex(old)
        body.setdefault("metadata", {})["resourceVersion"] = str(version)
        self._by_uid[uid] = body
        self._versions[uid] = version
        self._by_kind.setdefault(kind, {})[(namespace, name)] = body
        for ref in body["metadata"].get("ownerReferences") or ():
            self._dependents.setdefault(str(ref.get("uid", "")), set()).add(uid)
        return old

    def _unindex(self, body: Body) -> None:
        uid, kind, namespace, name = _ident(body)
        by_name = self._by_kind.get(kind, {})
        if by_name.get((namespace, name)) is body:
            del by_name[(namespace, name)]
        for ref in (body.get("metadata") or {}).get("ownerReferences") or ():
            self._dependents.get(str(ref.get("uid", "")), set()).discard(uid)

    def _remove(self, uid: str, version: int) -> Body | None:
        if self._gone.get(uid, -1) >= version:
            return None
        self._gone[uid] = version
        old = self._by_uid.pop(uid, None)
        self._versions.pop(uid, None)
        self._views.pop(uid, None)
        if old is not None:
            self._unindex(old)
        return old

    def observe(self, body: Mapping[str, Any]) -> None:
        """Record an object this process just wrote (``metadata.resourceVersion`` set)."""
        with self._lock:
            self._put(dict(body), int(body["metadata"]["resourceVersion"]))

    def observe_deleted(self, body: Mapping[str, Any]) -> None:
        with self._lock:
            self._remove(_ident(body)[0], int(body["metadata"]["resourceVersion"]))

    def apply(self, events: Sequence[RecordedEvent]) -> list[Change]:
        """Fold log events into the cache; returns what changed (own writes are no change)."""
        changes: list[Change] = []
        with self._lock:
            for event in events:
                if event.type in OBJECT_EVENT_TYPES:
                    body = dict(event.data.get("object") or {})
                    body.setdefault("metadata", {})["uid"] = event.stream_id
                    if event.type == ObjectDeleted.name:
                        old = self._remove(event.stream_id, event.position)
                        changes.append(Change(event.type, event.position, old or body, None))
                    else:
                        old = self._by_uid.get(event.stream_id)
                        known = self._versions.get(event.stream_id, -1) >= event.position
                        if not known:
                            self._put(body, event.position)
                        changes.append(Change(event.type, event.position, old, body))
                self.position = max(self.position, event.position)
            if len(self._gone) > 10_000:  # a tombstone only matters until the log passes it
                self._gone = {u: p for u, p in self._gone.items() if p > self.position}
        return changes

    # -- reads ------------------------------------------------------------------------------

    def view(self, body: Body, convert: Callable[[Body], V]) -> V:
        """``convert(body)``, computed once per object version (views are immutable)."""
        meta = body.get("metadata") or {}
        uid, version = str(meta.get("uid", "")), int(meta.get("resourceVersion") or -1)
        with self._lock:
            cached = self._views.get(uid, {}).get(convert)
            if cached is not None and cached[0] == version:
                return cast(V, cached[1])
        value = convert(body)
        with self._lock:
            if uid in self._by_uid:
                self._views.setdefault(uid, {})[convert] = (version, value)
        return value

    def views(self, bodies: Iterable[Body], convert: Callable[[Body], V]) -> list[V]:
        return [self.view(body, convert) for body in bodies]

    def get(self, kind: str, namespace: str, name: str) -> Body | None:
        with self._lock:
            return self._by_kind.get(kind, {}).get((namespace, name))

    def by_uid(self, uid: str) -> Body | None:
        with self._lock:
            return self._by_uid.get(uid)

    def objects(self, kind: str, namespace: str | None = None) -> list[Body]:
        with self._lock:
            items = self._by_kind.get(kind, {})
            if namespace is None:
                return list(items.values())
            return [body for (ns, _), body in items.items() if ns == namespace]

    def namespaces_in_use(self) -> set[str]:
        with self._lock:
            return {ns for items in self._by_kind.values() for (ns, _) in items if ns}

    def in_namespace(self, namespace: str) -> list[Body]:
        with self._lock:
            return [
                b
                for items in self._by_kind.values()
                for (ns, _), b in items.items()
                if ns == namespace
            ]

    def claimable_pods(self, namespace: str, owner_uid: str) -> list[Body]:
        """Pods a controller may claim: those it owns plus the namespace's orphans."""
        with self._lock:
            owned: list[Body] = [
                self._by_uid[u]
                for u in self._dependents.get(owner_uid, ())
                if u in self._by_uid and self._by_uid[u].get("kind") == "Pod"
            ]
            orphans = [
                body
                for (ns, _), body in self._by_kind.get("Pod", {}).items()
                if ns == namespace
                and not any(
                    r.get("controller") for r in body["metadata"].get("ownerReferences") or ()
                )
            ]
        return owned + orphans

    def dependents(self, owner_uid: str) -> list[Body]:
        with self._lock:
            return [
                self._by_uid[u] for u in self._dependents.get(owner_uid, ()) if u in self._by_uid
            ]


class WorkQueue:
    """A keyed queue: a key is queued once, processed by one worker at a time, retried later.

    ``add`` while the key is being processed marks it dirty: it is queued again on ``done``.
    Each key carries the highest log position that asked for it (the causation of the work).
    """

    def __init__(self, *, backoff_base: float, backoff_cap: float, max_retries: int) -> None:
        self._cond = threading.Condition()
        self._queue: list[Key] = []
        self._queued: set[Key] = set()
        self._processing: set[Key] = set()
        self._dirty: set[Key] = set()
        self._causation: dict[Key, int] = {}
        self._delayed: list[tuple[float, int, Key]] = []
        self._seq = 0
        self._failures: dict[Key, int] = {}
        self._base, self._cap, self._max_retries = backoff_base, backoff_cap, max_retries
        self._shutdown = False

    def add(self, key: Key, causation: int | None = None) -> None:
        with self._cond:
            if causation is not None:
                self._causation[key] = max(self._causation.get(key, 0), causation)
            if key in self._processing:
                self._dirty.add(key)
            elif key not in self._queued:
                self._queued.add(key)
                self._queue.append(key)
                self._cond.notify()

    def add_after(self, key: Key, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            self._seq += 1
            heapq.heappush(self._delayed, (time.monotonic() + delay, self._seq, key))
            self._cond.notify()

    def retry(self, key: Key) -> bool:
        """Requeue a failed key after its back-off; False when it has failed too often."""
        with self._cond:
            failures = self._failures.get(key, 0) + 1
            if failures > self._max_retries:
                self._failures.pop(key, None)
                return False
            self._failures[key] = failures
        self.add_after(key, min(self._base * 2 ** (failures - 1), self._cap))
        return True

    def forget(self, key: Key) -> None:
        with self._cond:
            self._failures.pop(key, None)

    def get(self, max_items: int = 1, timeout: float = 0.5) -> list[tuple[Key, int | None]]:
        """Up to ``max_items`` keys to process (empty on timeout or shutdown)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._shutdown:
                now = time.monotonic()
                while self._delayed and self._delayed[0][0] <= now:
                    _, _, key = heapq.heappop(self._delayed)
                    if key in self._processing:
                        self._dirty.add(key)
                    elif key not in self._queued:
                        self._queued.add(key)
                        self._queue.append(key)
                if self._queue:
                    taken, self._queue = self._queue[:max_items], self._queue[max_items:]
                    result = []
                    for key in taken:
                        self._queued.discard(key)
                        self._processing.add(key)
                        result.append((key, self._causation.pop(key, None)))
                    return result
                wait = deadline - now
                if self._delayed:
                    wait = min(wait, self._delayed[0][0] - now)
                if wait <= 0:
                    return []
                self._cond.wait(wait)
            return []

    def done(self, key: Key) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                if key not in self._queued:
                    self._queued.add(key)
                    self._queue.append(key)
                    self._cond.notify()

    def shutdown(self) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue) + len(self._processing) + len(self._delayed)


class Controller(Protocol):
    """A controller: which keys a change concerns, and how to sync one key."""

    name: str
    batch_size: int

    def keys_for(self, change: Change) -> Iterable[Key]: ...

    def resync_keys(self) -> Iterable[Key]: ...

    def sync(self, items: Sequence[tuple[Key, int | None]]) -> dict[Key, float | None]:
        """Sync the keys; return those to look at again after a delay (seconds)."""
        ...


class ControllerRuntime:
    """Runs controllers over one cache: a log-following thread and worker threads each."""

    def __init__(
        self,
        store: EventStore,
        database_url: str,
        cache: ObjectCache,
        controllers: Sequence[Controller],
        *,
        workers: int = 2,
        backoff_base: float = 0.005,
        backoff_cap: float = 30.0,
        max_retries: int = 15,
        poll_interval: float = 1.0,
    ) -> None:
        self.store, self.cache, self.controllers = store, cache, list(controllers)
        self._url, self._workers, self._poll = database_url, workers, poll_interval
        self.queues = {
            c.name: WorkQueue(
                backoff_base=backoff_base, backoff_cap=backoff_cap, max_retries=max_retries
            )
            for c in self.controllers
        }
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._follower: LogFollower | None = None
        # controller name -> [syncs, keys, seconds]: cheap counters for benchmarks and logs.
        self.stats: dict[str, list[float]] = {c.name: [0, 0, 0.0] for c in self.controllers}

    def start(self) -> None:
        """Start following the log and the workers (the cache must be loaded)."""
        self._follower = LogFollower(
            self.store, self._url, after=self.cache.position, poll_interval=self._poll
        )
        self._spawn("follow", self._follow)
        for controller in self.controllers:
            count = 1 if controller.batch_size > 1 else self._workers
            for index in range(count):
                self._spawn(f"{controller.name}-{index}", self._work, controller)
        self.resync()

    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=f"ctrl-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        if self._follower is not None:
            self._follower.stop()
        for queue in self.queues.values():
            queue.shutdown()
        for thread in self._threads:
            thread.join(timeout=5)

    def resync(self) -> None:
        """Queue every key of every controller (the periodic safety net)."""
        for controller in self.controllers:
            for key in controller.resync_keys():
                self.queues[controller.name].add(key)

    def dispatch(self, changes: Iterable[Change]) -> None:
        for change in changes:
            for controller in self.controllers:
                for key in controller.keys_for(change):
                    self.queues[controller.name].add(key, change.position)

    def _follow(self) -> None:
        assert self._follower is not None
        try:
            for batch in self._follower.batches():
                if self._stop.is_set():
                    return
                if batch:
                    self.dispatch(self.cache.apply(batch))
        except Exception:  # the database went away: the leader elector notices and restarts us
            if not self._stop.is_set():
                log.exception("controller log follower failed")

    def _work(self, controller: Controller) -> None:
        queue = self.queues[controller.name]
        while not self._stop.is_set():
            items = queue.get(controller.batch_size)
            if not items:
                continue
            started = time.perf_counter()
            try:
                requeue = controller.sync(items)
            except Exception as exc:
                log.warning(
                    "%s: sync of %s failed: %s", controller.name, [k for k, _ in items], exc
                )
                for key, _ in items:
                    queue.done(key)
                    if not queue.retry(key):
                        log.error("%s: dropping %r after too many failures", controller.name, key)
                continue
            stats = self.stats[controller.name]
            stats[0] += 1
            stats[1] += len(items)
            stats[2] += time.perf_counter() - started
            for key, _ in items:
                queue.done(key)
                queue.forget(key)
            for key, delay in requeue.items():
                if delay is not None:
                    queue.add_after(key, delay)

    def idle(self) -> bool:
        """No key queued, delayed or in progress (a test's convergence check)."""
        return all(len(q) == 0 for q in self.queues.values())
