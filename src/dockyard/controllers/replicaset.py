"""ReplicaSet and ReplicationController executor: runs ``plan_replicaset`` and writes the result.

Pods are created from the template with a generated name, the controller ownerReference and
the template's labels; deletions are graceful for bound pods (their node stops them) and
immediate for unbound ones. Each slow-start batch is one transaction and one append
(``ObjectWriter.create_many_in``). A spec the controller
cannot act on (negative replicas, a selector its template does not match) gets a
``ReplicaFailure`` condition and a ``FailedCreate`` warning instead of a pod storm.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable, Sequence
from typing import Any

from dockyard.controllers import convert
from dockyard.controllers.context import ControllerContext, controller_actor, pod_delete_is_graceful
from dockyard.controllers.names import generate_name
from dockyard.controllers.replicaset_plan import created_pod_event, plan_replicaset
from dockyard.controllers.runtime import Change, Key
from dockyard.controllers.views import Event, ReplicaSetStatus, ReplicaSetView, selector_matches
from dockyard.store.events import NewEvent
from dockyard.store.writer import AlreadyExists

KINDS = ("ReplicaSet", "ReplicationController")
COMPONENTS = {
    "ReplicaSet": "replicaset-controller",
    "ReplicationController": "replication-controller",
}


def spec_problem(rs: ReplicaSetView) -> str | None:
    """Why the controller cannot manage this spec (the API should have refused it)."""
    if rs.replicas < 0:
        return f"spec.replicas: Invalid value: {rs.replicas}: must be greater than or equal to 0"
    if rs.selector is None or rs.selector.is_empty:
        return "spec.selector: Required value"
    if not selector_matches(rs.selector, rs.template_labels):
        return (
            "spec.template.metadata.labels: Invalid value: "
            f"{dict(rs.template_labels)}: `selector` does not match template `labels`"
        )
    return None


def status_to_json(value: ReplicaSetStatus, conditions: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "replicas": value.replicas,
        "fullyLabeledReplicas": value.fully_labeled_replicas,
        "readyReplicas": value.ready_replicas,
        "availableReplicas": value.available_replicas,
        "observedGeneration": value.observed_generation,
    }
    if conditions:
        result["conditions"] = conditions
    return result


class ReplicaSetController:
    name = "replicaset"
    batch_size = 1

    def __init__(self, ctx: ControllerContext, *, rand: random.Random | None = None) -> None:
        self.ctx = ctx
        self.rand = rand or random.Random()

    # -- keys -------------------------------------------------------------------------------

    def keys_for(self, change: Change) -> Iterable[Key]:
        body = change.current
        kind = change.kind
        meta = convert.meta(body)
        namespace = str(meta.get("namespace") or "")
        if kind in KINDS:
            return [(kind, namespace, str(meta.get("name", "")))]
        if kind != "Pod":
            return []
        keys: set[Key] = set()
        for version in (change.old, change.new):
            if version is None:
                continue
            owner = convert.controller_owner(version)
            if owner is not None and owner.get("kind") in KINDS:
                keys.add((str(owner["kind"]), namespace, str(owner.get("name", ""))))
            elif owner is None and change.new is not None:
                labels = convert.meta(version).get("labels") or {}
                for rs_kind in KINDS:  # an orphan: whoever selects it may adopt it
                    for rs_body in self.ctx.cache.objects(rs_kind, namespace):
                        view = self.ctx.cache.view(rs_body, convert.replicaset_view)
                        if selector_matches(view.selector, labels):
                            keys.add((rs_kind, namespace, view.name))
        return keys

    def resync_keys(self) -> Iterable[Key]:
        for kind in KINDS:
            for body in self.ctx.cache.objects(kind):
                meta = convert.meta(body)
                yield (kind, str(meta.get("namespace") or ""), str(meta.get("name", "")))

    # -- sync -------------------------------------------------------------------------------

    def sync(self, items: Sequence[tuple[Key, int | None]]) -> dict[Key, float | None]:
        requeue: dict[Key, float | None] = {}
        for key, causation in items:
            kind, namespace, name = key
            body = self.ctx.cache.get(kind, namespace, name)
            if body is not None:
                requeue[key] = self.sync_one(body, causation)
        return requeue

    def sync_one(self, body: Any, causation: int | None) -> float | None:
        rs = convert.replicaset_view(body)
        component = COMPONENTS[rs.kind]
        actor = controller_actor(component)
        problem = spec_problem(rs)
        cache = self.ctx.cache
        pods = cache.views(cache.claimable_pods(rs.namespace, rs.uid), convert.pod_view)
        now = convert.now_utc()
        if problem is not None:
            self._report_problem(body, rs, problem, causation)
            return None
        plan = plan_replicaset(rs, pods, now, burst=self.ctx.settings.controller_burst)
        pod_bodies = {
            p.uid: self.ctx.cache.by_uid(p.uid) for p in [*plan.adopt, *plan.release, *plan.delete]
        }
        kube_events: list[NewEvent] = []
        written: list[tuple[dict[str, Any], bool]] = []
        engine = self.ctx.writer.store.engine
        with engine.begin() as conn:
            for pod in plan.adopt:
                pod_body = copy.deepcopy(pod_bodies[pod.uid] or {})
                refs = pod_body["metadata"].setdefault("ownerReferences", [])
                refs.append(convert.owner_reference(body))
                written.append((self.ctx.update(conn, pod_body, actor, causation), False))
            for pod in plan.release:
                pod_body = copy.deepcopy(pod_bodies[pod.uid] or {})
                pod_body["metadata"]["ownerReferences"] = [
                    r
                    for r in pod_body["metadata"].get("ownerReferences") or ()
                    if r.get("uid") != rs.uid
                ]
                written.append((self.ctx.update(conn, pod_body, actor, causation), False))
            for pod in plan.delete:
                doomed = pod_bodies[pod.uid]
                if doomed is None:
                    continue
                deleted = self.ctx.delete(
                    conn, doomed, actor, causation, graceful=pod_delete_is_graceful(doomed)
                )
                if deleted is not None:
                    written.append((deleted, not pod_delete_is_graceful(doomed)))
            for event in plan.events:
                kube_events.append(
                    self.ctx.kube_event(event, component=component, uid=rs.uid, causation=causation)
                )
        self.ctx.observe(written)
        if plan.create is not None:
            for batch in plan.create.batches:
                new_pods = self._new_pods(body, rs, batch)
                with engine.begin() as conn:  # one append for the whole slow-start batch
                    created = self.ctx.writer.create_many_in(
                        conn, new_pods, actor=actor, causation=causation
                    )
                for pod_body in created:
                    event = created_pod_event(rs, pod_body["metadata"]["name"])
                    kube_events.append(
                        self.ctx.kube_event(
                            event, component=component, uid=rs.uid, causation=causation
                        )
                    )
                self.ctx.observe([(pod_body, False) for pod_body in created])
        with engine.begin() as conn:
            status = plan_replicaset(
                rs, cache.views(cache.claimable_pods(rs.namespace, rs.uid), convert.pod_view), now
            ).status
            stored = self._write_status(conn, body, status, [], actor, causation)
            self.ctx.record(conn, kube_events)
        if stored is not None:
            self.ctx.cache.observe(stored)
        # Availability after minReadySeconds is a matter of time, not of an event.
        if rs.min_ready_seconds and status.ready_replicas > status.available_replicas:
            return float(rs.min_ready_seconds)
        return None

    def _new_pods(self, owner: Any, rs: ReplicaSetView, count: int) -> list[dict[str, Any]]:
        """``count`` pods from the template, with generated names no cached pod has."""
        template = copy.deepcopy(dict(rs.template))
        metadata = dict(template.get("metadata") or {})
        metadata.pop("name", None)
        names: set[str] = set()
        pods: list[dict[str, Any]] = []
        for _ in range(count):
            for _ in range(5):
                name = generate_name(f"{rs.name}-", self.rand)
                if name not in names and self.ctx.cache.get("Pod", rs.namespace, name) is None:
                    break  # otherwise a generated name collided: draw another, as the API does
            else:
                raise AlreadyExists("pods", f"{rs.name}-*")
            names.add(name)
            # A collision the cache cannot see yet fails this batch; the retry draws anew.
            pods.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        **copy.deepcopy(metadata),
                        "name": name,
                        "generateName": f"{rs.name}-",
                        "namespace": rs.namespace,
                        "ownerReferences": [convert.owner_reference(owner)],
                    },
                    "spec": copy.deepcopy(template.get("spec") or {}),
                    "status": {"phase": "Pending"},
                }
            )
        return pods

    def _write_status(
        self,
        conn: Any,
        body: Any,
        status: ReplicaSetStatus,
        conditions: list[dict[str, Any]],
        actor: Any,
        causation: int | None,
    ) -> dict[str, Any] | None:
        wanted = status_to_json(status, conditions)
        if convert.status(body) == wanted:
            return None
        new = copy.deepcopy(dict(body))
        new["status"] = wanted
        new["metadata"].pop("resourceVersion", None)
        return self.ctx.update(conn, new, actor, causation, status_only=True)

    def _report_problem(
        self, body: Any, rs: ReplicaSetView, problem: str, causation: int | None
    ) -> None:
        current = convert.status(body)
        conditions = [
            c for c in current.get("conditions") or () if c.get("type") != "ReplicaFailure"
        ]
        old = next(
            (c for c in current.get("conditions") or () if c.get("type") == "ReplicaFailure"), None
        )
        if old is not None and old.get("message") == problem:
            return  # reported already: one warning per problem, not one per resync
        now = convert.format_time(convert.now_utc())
        conditions.append(
            {
                "type": "ReplicaFailure",
                "status": "True",
                "reason": "FailedCreate",
                "message": problem,
                "lastTransitionTime": now,
            }
        )
        component = COMPONENTS[rs.kind]
        actor = controller_actor(component)
        event = Event(
            "FailedCreate", f"Error creating: {problem}", "Warning", rs.kind, rs.name, rs.namespace
        )
        status = ReplicaSetStatus(
            replicas=int(current.get("replicas") or 0),
            observed_generation=rs.generation,
        )
        with self.ctx.writer.store.engine.begin() as conn:
            stored = self._write_status(conn, body, status, conditions, actor, causation)
            self.ctx.record(
                conn,
                [self.ctx.kube_event(event, component=component, uid=rs.uid, causation=causation)],
            )
        if stored is not None:
            self.ctx.cache.observe(stored)
