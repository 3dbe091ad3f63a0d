"""Rolling a Deployment back to an earlier revision, as a pure planner.

The server-side rollback of pkg/controller/deployment/rollback.go (``rollback``,
``rollbackToTemplate``), which ``kubectl rollout undo`` reproduces client-side for apps/v1:
copy the template of the ReplicaSet with that revision into the Deployment (without its
``pod-template-hash`` label), together with its annotations. The next sync then finds that
ReplicaSet as the new one and gives it the next revision number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.controllers import deployment_util as du
from dockyard.controllers.deployment_util import DeploymentView
from dockyard.controllers.views import Event, EventType, ReplicaSetView

__all__ = ["RollbackPlan", "last_revision", "plan_rollback"]

ROLLBACK_REVISION_NOT_FOUND = "DeploymentRollbackRevisionNotFound"
ROLLBACK_TEMPLATE_UNCHANGED = "DeploymentRollbackTemplateUnchanged"
ROLLBACK_DONE = "DeploymentRollback"


@dataclass(frozen=True)
class RollbackPlan:
    """``template``/``annotations`` are the Deployment's new values (None: leave it alone);
    ``revision`` is the revision rolled back to (0 when none was found)."""

    template: Mapping[str, Any] | None
    annotations: Mapping[str, str] | None
    revision: int
    events: tuple[Event, ...]


def last_revision(replicasets: Iterable[ReplicaSetView]) -> int:
    """``LastRevision``: the second highest revision (the one before the current)."""
    highest = second = 0
    for rs in replicasets:
        value = du.revision(rs)
        if value is None:
            continue
        if value >= highest:
            highest, second = value, highest
        elif value > second:
            second = value
    return second


def plan_rollback(
    deployment: DeploymentView, replicasets: Iterable[ReplicaSetView], to_revision: int = 0
) -> RollbackPlan:
    """Roll ``deployment`` back to ``to_revision`` (0 = the previous revision)."""
    owned = [rs for rs in replicasets if rs.owner_uid == deployment.uid]

    def event(reason: str, message: str, type_: EventType) -> Event:
        return Event(reason, message, type_, "Deployment", deployment.name, deployment.namespace)

    if to_revision == 0:
        to_revision = last_revision(owned)
        if to_revision == 0:
            warning = event(ROLLBACK_REVISION_NOT_FOUND, "Unable to find last revision.", "Warning")
            return RollbackPlan(None, None, 0, (warning,))
    for rs in owned:
        if du.revision(rs) != to_revision:
            continue
        if du.equal_ignore_hash(deployment.template, rs.template):
            message = (
                "The rollback revision contains the same template as current deployment "
                f'"{deployment.name}"'
            )
            warning = event(ROLLBACK_TEMPLATE_UNCHANGED, message, "Warning")
            return RollbackPlan(None, None, to_revision, (warning,))
        # SetDeploymentAnnotationsTo: keep the skipped annotations, take the others from the RS.
        annotations = {
            key: value
            for key, value in deployment.annotations.items()
            if key in du.ANNOTATIONS_TO_SKIP
        }
        annotations.update(
            (key, value)
            for key, value in rs.annotations.items()
            if key not in du.ANNOTATIONS_TO_SKIP
        )
        done = event(
            ROLLBACK_DONE,
            f'Rolled back deployment "{deployment.name}" to revision {to_revision}',
            "Normal",
        )
        return RollbackPlan(
            du.template_without_hash(rs.template), annotations, to_revision, (done,)
        )
    warning = event(
        ROLLBACK_REVISION_NOT_FOUND, "Unable to find the revision to rollback to.", "Warning"
    )
    return RollbackPlan(None, None, to_revision, (warning,))
