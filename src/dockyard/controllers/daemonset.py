"""DaemonSet executor: runs ``plan_daemonset`` and writes pods pinned to their nodes.

Each pod is created from the template with ``controller-revision-hash``, the DaemonSet's
automatic tolerations and a required node affinity ``matchFields metadata.name In [node]``;
the scheduler binds it to that node (as Kubernetes' default scheduler does for DaemonSets).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable, Sequence
from typing import Any

from dockyard.controllers import convert
from dockyard.controllers.context import ControllerContext, controller_actor, pod_delete_is_graceful
from dockyard.controllers.daemonset_plan import (
    CONTROLLER_REVISION_HASH_LABEL,
    CreateDaemonPod,
    DaemonSetStatus,
    daemon_pod_tolerations,
    plan_daemonset,
)
from dockyard.controllers.names import generate_name
from dockyard.controllers.runtime import Change, Key
from dockyard.store.writer import AlreadyExists

COMPONENT = "daemonset-controller"


def status_to_json(value: DaemonSetStatus) -> dict[str, Any]:
    return {
        "desiredNumberScheduled": value.desired_number_scheduled,
        "currentNumberScheduled": value.current_number_scheduled,
        "numberMisscheduled": value.number_misscheduled,
        "numberReady": value.number_ready,
        "updatedNumberScheduled": value.updated_number_scheduled,
        "numberAvailable": value.number_available,
        "numberUnavailable": value.number_unavailable,
        "observedGeneration": value.observed_generation,
    }


class DaemonSetController:
    name = "daemonset"
    batch_size = 1

    def __init__(self, ctx: ControllerContext, *, rand: random.Random | None = None) -> None:
        self.ctx = ctx
        self.actor = controller_actor(COMPONENT)
        self.rand = rand or random.Random()

    def keys_for(self, change: Change) -> Iterable[Key]:
        meta = convert.meta(change.current)
        if change.kind == "DaemonSet":
            return [(str(meta.get("namespace") or ""), str(meta.get("name", "")))]
        if change.kind == "Pod":
            owner = convert.controller_owner(change.current)
            if owner is not None and owner.get("kind") == "DaemonSet":
                return [(str(meta.get("namespace") or ""), str(owner.get("name", "")))]
        if change.kind == "Node":
            return self.resync_keys()
        return []

    def resync_keys(self) -> list[Key]:
        return [
            (str(convert.meta(b).get("namespace") or ""), str(convert.meta(b).get("name", "")))
            for b in self.ctx.cache.objects("DaemonSet")
        ]

    def sync(self, items: Sequence[tuple[Key, int | None]]) -> dict[Key, float | None]:
        requeue: dict[Key, float | None] = {}
        for key, causation in items:
            namespace, name = key
            body = self.ctx.cache.get("DaemonSet", namespace, name)
            if body is not None and not convert.meta(body).get("deletionTimestamp"):
                requeue[key] = self._sync_one(body, causation)
        return requeue

    def _sync_one(self, body: Any, causation: int | None) -> float | None:
        ds = convert.daemonset_view(body)
        cache = self.ctx.cache
        nodes = cache.views(cache.objects("Node"), convert.node_view)
        pod_bodies = {cache.view(p, convert.pod_view).uid: p for p in cache.dependents(ds.uid)}
        now = convert.now_utc()
        plan = plan_daemonset(ds, nodes, cache.views(pod_bodies.values(), convert.pod_view), now)
        written: list[tuple[dict[str, Any], bool]] = []
        with self.ctx.writer.store.engine.begin() as conn:
            for pod in plan.delete:
                pod_body = pod_bodies.get(pod.uid)
                if pod_body is None:
                    continue
                graceful = pod_delete_is_graceful(pod_body)
                stored = self.ctx.delete(conn, pod_body, self.actor, causation, graceful=graceful)
                if stored is not None:
                    written.append((stored, not graceful))
            for create in plan.create:
                written.append((self._create(conn, body, create, causation), False))
            events = [
                self.ctx.kube_event(e, component=COMPONENT, uid=ds.uid, causation=causation)
                for e in plan.events
            ]
            wanted = status_to_json(plan.status)
            if convert.status(body) != wanted:
                new = copy.deepcopy(dict(body))
                new["metadata"].pop("resourceVersion", None)
                new["status"] = wanted
                written.append(
                    (self.ctx.update(conn, new, self.actor, causation, status_only=True), False)
                )
            self.ctx.record(conn, events)
        self.ctx.observe(written)
        if plan.status.number_ready > plan.status.number_available and ds.min_ready_seconds:
            return float(ds.min_ready_seconds)
        return None

    def _create(
        self, conn: Any, owner: Any, create: CreateDaemonPod, causation: int | None
    ) -> dict[str, Any]:
        ds = convert.daemonset_view(owner)
        template = copy.deepcopy(dict(ds.template))
        metadata = dict(template.get("metadata") or {})
        labels = {
            **(metadata.get("labels") or {}),
            CONTROLLER_REVISION_HASH_LABEL: create.revision_hash,
        }
        spec = dict(template.get("spec") or {})
        spec["tolerations"] = [
            convert.toleration_to_json(t)
            for t in daemon_pod_tolerations(ds.tolerations, host_network=ds.host_network)
        ]
        spec["affinity"] = {
            **(spec.get("affinity") or {}),
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchFields": [
                                {
                                    "key": "metadata.name",
                                    "operator": "In",
                                    "values": [create.node_name],
                                }
                            ]
                        }
                    ]
                }
            },
        }
        for _ in range(5):
            pod: dict[str, Any] = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    **metadata,
                    "name": generate_name(create.generate_name, self.rand),
                    "generateName": create.generate_name,
                    "namespace": ds.namespace,
                    "labels": labels,
                    "ownerReferences": [convert.owner_reference(owner)],
                },
                "spec": spec,
                "status": {"phase": "Pending"},
            }
            if self.ctx.cache.get("Pod", ds.namespace, pod["metadata"]["name"]) is not None:
                continue  # a generated name collided: draw another
            return self.ctx.create(conn, pod, self.actor, causation)
        raise AlreadyExists("pods", f"{create.generate_name}*")
