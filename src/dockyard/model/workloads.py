"""Workload controllers: ReplicaSet, ReplicationController, Deployment, DaemonSet.

Static defaults are field defaults; the rest (the rolling-update parameters, which exist only
for the ``RollingUpdate`` strategy, and the ReplicationController selector and labels taken from
the template) are applied by the ``default_*`` functions, as pkg/apis/apps/v1/defaults.go and
pkg/apis/core/v1/defaults.go do.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dockyard.model.meta import (
    IntOrString,
    KubeModel,
    KubeObject,
    LabelSelector,
    ObjectMeta,
    Time,
)
from dockyard.model.pod import PodSpec, default_pod_spec

__all__ = [
    "DaemonSet",
    "DaemonSetSpec",
    "DaemonSetStatus",
    "DaemonSetUpdateStrategy",
    "Deployment",
    "DeploymentCondition",
    "DeploymentSpec",
    "DeploymentStatus",
    "DeploymentStrategy",
    "PodTemplateSpec",
    "ReplicaSet",
    "ReplicaSetCondition",
    "ReplicaSetSpec",
    "ReplicaSetStatus",
    "ReplicationController",
    "ReplicationControllerSpec",
    "ReplicationControllerStatus",
    "RollingUpdateDaemonSet",
    "RollingUpdateDeployment",
    "default_daemon_set",
    "default_deployment",
    "default_replica_set",
    "default_replication_controller",
]


class PodTemplateSpec(KubeModel):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PodSpec = Field(default_factory=PodSpec)


def _default_template(template: PodTemplateSpec) -> PodTemplateSpec:
    return template.model_copy(update={"spec": default_pod_spec(template.spec)})


# --- ReplicaSet --------------------------------------------------------------------------------


class ReplicaSetCondition(KubeModel):
    type: str
    status: Literal["True", "False", "Unknown"]
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class ReplicaSetSpec(KubeModel):
    replicas: int = 1
    min_ready_seconds: int = 0
    selector: LabelSelector | None = None
    template: PodTemplateSpec = Field(default_factory=PodTemplateSpec)


class ReplicaSetStatus(KubeModel):
    replicas: int = 0
    fully_labeled_replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    terminating_replicas: int | None = None
    observed_generation: int | None = None
    conditions: list[ReplicaSetCondition] = Field(default_factory=list)


class ReplicaSet(KubeObject):
    api_version: str = "apps/v1"
    kind: str = "ReplicaSet"
    spec: ReplicaSetSpec = Field(default_factory=ReplicaSetSpec)
    status: ReplicaSetStatus = Field(default_factory=ReplicaSetStatus)


def default_replica_set(rs: ReplicaSet) -> ReplicaSet:
    spec = rs.spec.model_copy(update={"template": _default_template(rs.spec.template)})
    return rs.model_copy(update={"spec": spec})


# --- ReplicationController ---------------------------------------------------------------------


class ReplicationControllerSpec(KubeModel):
    replicas: int = 1
    min_ready_seconds: int = 0
    # A plain equality map, defaulted from the template labels.
    selector: dict[str, str] = Field(default_factory=dict)
    template: PodTemplateSpec | None = None


class ReplicationControllerStatus(ReplicaSetStatus):
    pass


class ReplicationController(KubeObject):
    api_version: str = "v1"
    kind: str = "ReplicationController"
    spec: ReplicationControllerSpec = Field(default_factory=ReplicationControllerSpec)
    status: ReplicationControllerStatus = Field(default_factory=ReplicationControllerStatus)


def default_replication_controller(rc: ReplicationController) -> ReplicationController:
    """``SetDefaults_ReplicationController``: selector and labels default to the template's."""
    template = rc.spec.template
    if template is None:
        return rc
    labels = template.metadata.labels
    spec = rc.spec.model_copy(
        update={
            "selector": rc.spec.selector or dict(labels),
            "template": _default_template(template),
        }
    )
    metadata = rc.metadata
    if labels and not metadata.labels:
        metadata = metadata.model_copy(update={"labels": dict(labels)})
    return rc.model_copy(update={"spec": spec, "metadata": metadata})


# --- Deployment --------------------------------------------------------------------------------


class RollingUpdateDeployment(KubeModel):
    max_unavailable: IntOrString | None = None
    max_surge: IntOrString | None = None


class DeploymentStrategy(KubeModel):
    type: Literal["Recreate", "RollingUpdate"] = "RollingUpdate"
    rolling_update: RollingUpdateDeployment | None = None


class DeploymentCondition(KubeModel):
    type: str
    status: Literal["True", "False", "Unknown"]
    last_update_time: Time | None = None
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class DeploymentSpec(KubeModel):
    replicas: int = 1
    selector: LabelSelector | None = None
    template: PodTemplateSpec = Field(default_factory=PodTemplateSpec)
    strategy: DeploymentStrategy = Field(default_factory=DeploymentStrategy)
    min_ready_seconds: int = 0
    revision_history_limit: int = 10
    paused: bool | None = None
    progress_deadline_seconds: int = 600


class DeploymentStatus(KubeModel):
    observed_generation: int | None = None
    replicas: int | None = None
    updated_replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    unavailable_replicas: int | None = None
    terminating_replicas: int | None = None
    collision_count: int | None = None
    conditions: list[DeploymentCondition] = Field(default_factory=list)


class Deployment(KubeObject):
    api_version: str = "apps/v1"
    kind: str = "Deployment"
    spec: DeploymentSpec = Field(default_factory=DeploymentSpec)
    status: DeploymentStatus = Field(default_factory=DeploymentStatus)


def default_deployment(deployment: Deployment) -> Deployment:
    """``SetDefaults_Deployment``: RollingUpdate gets maxUnavailable and maxSurge of 25%."""
    strategy = deployment.spec.strategy
    if strategy.type == "RollingUpdate":
        rolling = strategy.rolling_update or RollingUpdateDeployment()
        rolling = rolling.model_copy(
            update={
                "max_unavailable": "25%"
                if rolling.max_unavailable is None
                else rolling.max_unavailable,
                "max_surge": "25%" if rolling.max_surge is None else rolling.max_surge,
            }
        )
        strategy = strategy.model_copy(update={"rolling_update": rolling})
    spec = deployment.spec.model_copy(
        update={"strategy": strategy, "template": _default_template(deployment.spec.template)}
    )
    return deployment.model_copy(update={"spec": spec})


# --- DaemonSet ---------------------------------------------------------------------------------


class RollingUpdateDaemonSet(KubeModel):
    max_unavailable: IntOrString | None = None
    max_surge: IntOrString | None = None


class DaemonSetUpdateStrategy(KubeModel):
    type: Literal["RollingUpdate", "OnDelete"] = "RollingUpdate"
    rolling_update: RollingUpdateDaemonSet | None = None


class DaemonSetSpec(KubeModel):
    selector: LabelSelector | None = None
    template: PodTemplateSpec = Field(default_factory=PodTemplateSpec)
    update_strategy: DaemonSetUpdateStrategy = Field(default_factory=DaemonSetUpdateStrategy)
    min_ready_seconds: int = 0
    revision_history_limit: int = 10


class DaemonSetStatus(KubeModel):
    current_number_scheduled: int = 0
    number_misscheduled: int = 0
    desired_number_scheduled: int = 0
    number_ready: int = 0
    observed_generation: int | None = None
    updated_number_scheduled: int | None = None
    number_available: int | None = None
    number_unavailable: int | None = None
    collision_count: int | None = None
    conditions: list[ReplicaSetCondition] = Field(default_factory=list)


class DaemonSet(KubeObject):
    api_version: str = "apps/v1"
    kind: str = "DaemonSet"
    spec: DaemonSetSpec = Field(default_factory=DaemonSetSpec)
    status: DaemonSetStatus = Field(default_factory=DaemonSetStatus)


def default_daemon_set(daemon_set: DaemonSet) -> DaemonSet:
    """``SetDefaults_DaemonSet``: RollingUpdate gets maxUnavailable 1 and maxSurge 0."""
    strategy = daemon_set.spec.update_strategy
    if strategy.type == "RollingUpdate":
        rolling = strategy.rolling_update or RollingUpdateDaemonSet()
        rolling = rolling.model_copy(
            update={
                "max_unavailable": 1
                if rolling.max_unavailable is None
                else rolling.max_unavailable,
                "max_surge": 0 if rolling.max_surge is None else rolling.max_surge,
            }
        )
        strategy = strategy.model_copy(update={"rolling_update": rolling})
    spec = daemon_set.spec.model_copy(
        update={
            "update_strategy": strategy,
            "template": _default_template(daemon_set.spec.template),
        }
    )
    return daemon_set.model_copy(update={"spec": spec})
