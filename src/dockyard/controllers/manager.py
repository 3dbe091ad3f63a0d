"""The controller manager: every controller and the scheduler, run while this process leads.

Composition only. On becoming leader it loads a fresh cache from the ``objects`` read model,
starts the runtime (log follower + workers) and an APScheduler job that resyncs every
controller every ``controller_resync_seconds``; on losing leadership it stops them all.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from apscheduler.schedulers.background import BackgroundScheduler

from dockyard.controllers.context import ControllerContext
from dockyard.controllers.daemonset import DaemonSetController
from dockyard.controllers.deployment import DeploymentController
from dockyard.controllers.garbage_collector import GarbageCollector
from dockyard.controllers.leader import LeaderElector
from dockyard.controllers.namespace import NamespaceController
from dockyard.controllers.node_lifecycle import (
    LeaseSource,
    NodeLifecycleController,
    PostgresLeaseSource,
)
from dockyard.controllers.replicaset import ReplicaSetController
from dockyard.controllers.runtime import Controller, ControllerRuntime, ObjectCache
from dockyard.controllers.scheduler import Scheduler
from dockyard.settings import Settings
from dockyard.store.events import EventStore
from dockyard.store.writer import ObjectWriter

log = logging.getLogger(__name__)


def build_controllers(ctx: ControllerContext, leases: LeaseSource) -> list[Controller]:
    return [
        ReplicaSetController(ctx),
        DeploymentController(ctx),
        DaemonSetController(ctx),
        Scheduler(ctx),
        NamespaceController(ctx),
        GarbageCollector(ctx),
        NodeLifecycleController(ctx, leases),
    ]


class ControllerManager:
    """Leader election around a :class:`ControllerRuntime`."""

    def __init__(
        self,
        store: EventStore,
        database_url: str,
        settings: Settings,
        *,
        leases: LeaseSource | None = None,
        identity: str | None = None,
    ) -> None:
        self.store, self.settings, self._url = store, settings, database_url
        self.leases = leases or PostgresLeaseSource(store.engine)
        self.identity = identity or f"{socket.gethostname()}-{os.getpid()}"
        self.runtime: ControllerRuntime | None = None
        self.controllers: list[Controller] = []
        self._lock = threading.Lock()
        self._scheduler: BackgroundScheduler | None = None
        self.elector = LeaderElector(
            database_url,
            lock_key=settings.leader_lock_key,
            on_started=self._start_leading,
            on_stopped=self._stop_leading,
            retry_seconds=settings.leader_retry_seconds,
            identity=self.identity,
        )

    def start(self) -> ControllerManager:
        self.elector.start()
        return self

    def stop(self) -> None:
        self.elector.stop()

    @property
    def is_leader(self) -> bool:
        return self.elector.is_leader

    def _start_leading(self) -> None:
        with self._lock:
            cache = ObjectCache()
            cache.load(self.store.engine)
            ctx = ControllerContext(ObjectWriter(self.store), cache, self.settings)
            self.controllers = build_controllers(ctx, self.leases)
            s = self.settings
            self.runtime = ControllerRuntime(
                self.store,
                self._url,
                cache,
                self.controllers,
                workers=s.controller_workers,
                backoff_base=s.controller_backoff_base_seconds,
                backoff_cap=s.controller_backoff_cap_seconds,
                max_retries=s.controller_max_retries,
                poll_interval=s.poll_interval_seconds,
            )
            self.runtime.start()
            self._scheduler = BackgroundScheduler(daemon=True)
            self._scheduler.add_job(
                self.runtime.resync,
                "interval",
                seconds=s.controller_resync_seconds,
                id="resync",
                max_instances=1,
                coalesce=True,
            )
            self._scheduler.start()
            log.info("controllers started at log position %d", cache.position)

    def _stop_leading(self) -> None:
        with self._lock:
            if self._scheduler is not None:
                self._scheduler.shutdown(wait=False)
                self._scheduler = None
            if self.runtime is not None:
                self.runtime.stop()
                self.runtime = None
