"""Pod (core/v1): spec, containers, probes, lifecycle handlers, status, and their defaults.

Static defaults (``restartPolicy: Always``, probe periods, ``protocol: TCP`` ...) are field
defaults; the ones that depend on other fields (``imagePullPolicy`` from the image tag, probe
values given as 0, requests from limits, ``hostPort`` under ``hostNetwork``) are applied by
:func:`default_pod_spec`, which ``kinds.apply_defaults`` calls, as ``SetDefaults_PodSpec`` and
friends do in pkg/apis/core/v1/defaults.go.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from dockyard.model.meta import IntOrString, KubeModel, KubeObject, Time, invalid
from dockyard.model.quantity import QuantityError, parse_quantity

__all__ = [
    "DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS",
    "Affinity",
    "Container",
    "ContainerPort",
    "ContainerState",
    "ContainerStateRunning",
    "ContainerStateTerminated",
    "ContainerStateWaiting",
    "ContainerStatus",
    "EnvFromSource",
    "EnvVar",
    "EnvVarSource",
    "ExecAction",
    "GRPCAction",
    "HTTPGetAction",
    "HTTPHeader",
    "Lifecycle",
    "LifecycleHandler",
    "NodeAffinity",
    "NodeSelector",
    "NodeSelectorRequirement",
    "NodeSelectorTerm",
    "NotifyAction",
    "Pod",
    "PodCondition",
    "PodSpec",
    "PodStatus",
    "Probe",
    "Quantity",
    "ResourceRequirements",
    "SleepAction",
    "TCPSocketAction",
    "Toleration",
    "Volume",
    "VolumeMount",
    "default_image_pull_policy",
    "default_pod_spec",
]

DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS = 30

# --- Quantities ------------------------------------------------------------------------------


def _quantity(value: Any) -> Any:
    # A YAML `cpu: 1` or `cpu: 0.5` is a number; Kubernetes accepts it and prints it as text.
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        try:
            parse_quantity(value)
        except QuantityError as error:
            raise invalid(str(error)) from None
    return value


Quantity = Annotated[str, BeforeValidator(_quantity)]

# --- Handlers ----------------------------------------------------------------------------------


class ExecAction(KubeModel):
    command: list[str] = Field(default_factory=list)


class HTTPHeader(KubeModel):
    name: str
    value: str


class HTTPGetAction(KubeModel):
    path: str = "/"
    port: IntOrString
    host: str | None = None
    scheme: Literal["HTTP", "HTTPS"] = "HTTP"
    http_headers: list[HTTPHeader] = Field(default_factory=list)


class TCPSocketAction(KubeModel):
    port: IntOrString
    host: str | None = None


class GRPCAction(KubeModel):
    port: int
    service: str | None = None


class SleepAction(KubeModel):
    seconds: int


class NotifyAction(KubeModel):
    """Dockyard extension: post a message (to Slack) when the hook fires."""

    route: str | None = None
    channel: str | None = None
    template: str | None = None


class LifecycleHandler(KubeModel):
    """Exactly one of the actions must be set (checked by validation)."""

    exec: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None  # deprecated, accepted for compatibility
    sleep: SleepAction | None = None
    notify: NotifyAction | None = None


class Lifecycle(KubeModel):
    post_start: LifecycleHandler | None = None
    pre_stop: LifecycleHandler | None = None
    stop_signal: str | None = None


class Probe(KubeModel):
    exec: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    grpc: GRPCAction | None = None
    initial_delay_seconds: int = 0
    timeout_seconds: int = 1
    period_seconds: int = 10
    success_threshold: int = 1
    failure_threshold: int = 3
    termination_grace_period_seconds: int | None = None


# --- Container ---------------------------------------------------------------------------------


class ContainerPort(KubeModel):
    name: str | None = None
    container_port: int
    host_port: int | None = None
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    host_ip: str | None = Field(default=None, alias="hostIP")


class ObjectFieldSelector(KubeModel):
    api_version: str | None = None
    field_path: str


class ResourceFieldSelector(KubeModel):
    container_name: str | None = None
    resource: str
    divisor: Quantity | None = None


class KeySelector(KubeModel):
    """ConfigMapKeySelector / SecretKeySelector."""

    name: str | None = None
    key: str
    optional: bool | None = None


class EnvVarSource(KubeModel):
    field_ref: ObjectFieldSelector | None = None
    resource_field_ref: ResourceFieldSelector | None = None
    config_map_key_ref: KeySelector | None = None
    secret_key_ref: KeySelector | None = None


class EnvVar(KubeModel):
    name: str
    value: str | None = None
    value_from: EnvVarSource | None = None


class SourceRef(KubeModel):
    """ConfigMapEnvSource / SecretEnvSource."""

    name: str | None = None
    optional: bool | None = None


class EnvFromSource(KubeModel):
    prefix: str | None = None
    config_map_ref: SourceRef | None = None
    secret_ref: SourceRef | None = None


class ResourceRequirements(KubeModel):
    limits: dict[str, Quantity] = Field(default_factory=dict)
    requests: dict[str, Quantity] = Field(default_factory=dict)


class VolumeMount(KubeModel):
    name: str
    mount_path: str
    read_only: bool | None = None
    sub_path: str | None = None
    sub_path_expr: str | None = None
    mount_propagation: str | None = None


class Container(KubeModel):
    name: str
    image: str
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    working_dir: str | None = None
    ports: list[ContainerPort] = Field(default_factory=list)
    env_from: list[EnvFromSource] = Field(default_factory=list)
    env: list[EnvVar] = Field(default_factory=list)
    resources: ResourceRequirements = Field(default_factory=ResourceRequirements)
    volume_mounts: list[VolumeMount] = Field(default_factory=list)
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    startup_probe: Probe | None = None
    lifecycle: Lifecycle | None = None
    termination_message_path: str = "/dev/termination-message"
    termination_message_policy: Literal["File", "FallbackToLogsOnError"] = "File"
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    # Only for init containers: "Always" makes a sidecar.
    restart_policy: Literal["Always"] | None = None
    security_context: dict[str, Any] | None = None
    stdin: bool | None = None
    stdin_once: bool | None = None
    tty: bool | None = None


# --- Scheduling --------------------------------------------------------------------------------


class Toleration(KubeModel):
    # Plain strings: "" is meaningful (empty operator = Equal, empty effect = all effects).
    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None
    toleration_seconds: int | None = None


class NodeSelectorRequirement(KubeModel):
    key: str
    operator: str
    values: list[str] = Field(default_factory=list)


class NodeSelectorTerm(KubeModel):
    match_expressions: list[NodeSelectorRequirement] = Field(default_factory=list)
    match_fields: list[NodeSelectorRequirement] = Field(default_factory=list)


class NodeSelector(KubeModel):
    node_selector_terms: list[NodeSelectorTerm] = Field(default_factory=list)


class PreferredSchedulingTerm(KubeModel):
    weight: int
    preference: NodeSelectorTerm


class NodeAffinity(KubeModel):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] = Field(
        default_factory=list
    )


class Affinity(KubeModel):
    node_affinity: NodeAffinity | None = None
    # Accepted but not interpreted by Dockyard's scheduler yet.
    pod_affinity: dict[str, Any] | None = None
    pod_anti_affinity: dict[str, Any] | None = None


# --- Volumes -----------------------------------------------------------------------------------


class HostPathVolumeSource(KubeModel):
    path: str
    type: str | None = None


class EmptyDirVolumeSource(KubeModel):
    medium: str | None = None
    size_limit: Quantity | None = None


class KeyToPath(KubeModel):
    key: str
    path: str
    mode: int | None = None


class ConfigMapVolumeSource(KubeModel):
    name: str | None = None
    items: list[KeyToPath] = Field(default_factory=list)
    default_mode: int | None = None
    optional: bool | None = None


class SecretVolumeSource(KubeModel):
    secret_name: str | None = None
    items: list[KeyToPath] = Field(default_factory=list)
    default_mode: int | None = None
    optional: bool | None = None


class PersistentVolumeClaimVolumeSource(KubeModel):
    claim_name: str
    read_only: bool | None = None


class Volume(KubeModel):
    name: str
    host_path: HostPathVolumeSource | None = None
    empty_dir: EmptyDirVolumeSource | None = None
    config_map: ConfigMapVolumeSource | None = None
    secret: SecretVolumeSource | None = None
    persistent_volume_claim: PersistentVolumeClaimVolumeSource | None = None


class LocalObjectReference(KubeModel):
    name: str | None = None


class HostAlias(KubeModel):
    ip: str
    hostnames: list[str] = Field(default_factory=list)


# --- Pod ---------------------------------------------------------------------------------------


class PodSpec(KubeModel):
    containers: list[Container] = Field(default_factory=list)
    init_containers: list[Container] = Field(default_factory=list)
    volumes: list[Volume] = Field(default_factory=list)
    restart_policy: Literal["Always", "OnFailure", "Never"] = "Always"
    termination_grace_period_seconds: int = DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS
    active_deadline_seconds: int | None = None
    dns_policy: Literal["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"] | None = None
    dns_config: dict[str, Any] | None = None
    node_selector: dict[str, str] = Field(default_factory=dict)
    node_name: str | None = None
    service_account_name: str | None = None
    service_account: str | None = None
    automount_service_account_token: bool | None = None
    host_network: bool | None = None
    host_pid: bool | None = Field(default=None, alias="hostPID")
    host_ipc: bool | None = Field(default=None, alias="hostIPC")
    share_process_namespace: bool | None = None
    security_context: dict[str, Any] | None = None
    image_pull_secrets: list[LocalObjectReference] = Field(default_factory=list)
    hostname: str | None = None
    subdomain: str | None = None
    affinity: Affinity | None = None
    scheduler_name: str | None = None
    tolerations: list[Toleration] = Field(default_factory=list)
    host_aliases: list[HostAlias] = Field(default_factory=list)
    priority_class_name: str | None = None
    priority: int | None = None
    runtime_class_name: str | None = None
    enable_service_links: bool | None = None
    topology_spread_constraints: list[dict[str, Any]] = Field(default_factory=list)


class PodCondition(KubeModel):
    type: str
    status: Literal["True", "False", "Unknown"]
    last_probe_time: Time | None = None
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class ContainerStateWaiting(KubeModel):
    reason: str | None = None
    message: str | None = None


class ContainerStateRunning(KubeModel):
    started_at: Time | None = None


class ContainerStateTerminated(KubeModel):
    exit_code: int
    signal: int | None = None
    reason: str | None = None
    message: str | None = None
    started_at: Time | None = None
    finished_at: Time | None = None
    container_id: str | None = Field(default=None, alias="containerID")


class ContainerState(KubeModel):
    """At most one of the three is set."""

    waiting: ContainerStateWaiting | None = None
    running: ContainerStateRunning | None = None
    terminated: ContainerStateTerminated | None = None


class ContainerStatus(KubeModel):
    name: str
    state: ContainerState = Field(default_factory=ContainerState)
    last_state: ContainerState = Field(default_factory=ContainerState)
    ready: bool = False
    started: bool | None = None
    restart_count: int = 0
    image: str = ""
    image_id: str = Field(default="", alias="imageID")
    container_id: str | None = Field(default=None, alias="containerID")


class PodIP(KubeModel):
    ip: str


class PodStatus(KubeModel):
    phase: Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"] | None = None
    conditions: list[PodCondition] = Field(default_factory=list)
    message: str | None = None
    reason: str | None = None
    nominated_node_name: str | None = None
    host_ip: str | None = Field(default=None, alias="hostIP")
    host_ips: list[PodIP] = Field(default_factory=list, alias="hostIPs")
    pod_ip: str | None = Field(default=None, alias="podIP")
    pod_ips: list[PodIP] = Field(default_factory=list, alias="podIPs")
    start_time: Time | None = None
    init_container_statuses: list[ContainerStatus] = Field(default_factory=list)
    container_statuses: list[ContainerStatus] = Field(default_factory=list)
    qos_class: str | None = None


class Pod(KubeObject):
    api_version: str = "v1"
    kind: str = "Pod"
    spec: PodSpec = Field(default_factory=PodSpec)
    status: PodStatus = Field(default_factory=PodStatus)


# --- Defaults ----------------------------------------------------------------------------------


def default_image_pull_policy(image: str) -> Literal["Always", "IfNotPresent"]:
    """``Always`` for the ``latest`` tag or no tag at all (unless pinned by digest)."""
    name, _, digest = image.partition("@")
    last_part = name.rsplit("/", 1)[-1]
    if ":" in last_part:
        tag = last_part.rsplit(":", 1)[1]
    else:
        tag = "" if digest else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_probe(probe: Probe | None) -> Probe | None:
    if probe is None:
        return None
    # SetDefaults_Probe: a zero means "not set" for these four.
    return probe.model_copy(
        update={
            "timeout_seconds": probe.timeout_seconds or 1,
            "period_seconds": probe.period_seconds or 10,
            "success_threshold": probe.success_threshold or 1,
            "failure_threshold": probe.failure_threshold or 3,
        }
    )


def _default_container(container: Container, *, host_network: bool) -> Container:
    requests = dict(container.resources.requests)
    for resource, limit in container.resources.limits.items():
        requests.setdefault(resource, limit)  # requests default to limits
    ports = [
        port.model_copy(update={"host_port": port.container_port})
        if host_network and not port.host_port
        else port
        for port in container.ports
    ]
    return container.model_copy(
        update={
            "image_pull_policy": container.image_pull_policy
            or default_image_pull_policy(container.image),
            "resources": container.resources.model_copy(update={"requests": requests}),
            "ports": ports,
            "liveness_probe": _default_probe(container.liveness_probe),
            "readiness_probe": _default_probe(container.readiness_probe),
            "startup_probe": _default_probe(container.startup_probe),
        }
    )


def default_pod_spec(spec: PodSpec) -> PodSpec:
    """The field-dependent defaults of a pod spec (a new spec; the argument is not changed)."""
    host_network = bool(spec.host_network)
    return spec.model_copy(
        update={
            "containers": [
                _default_container(c, host_network=host_network) for c in spec.containers
            ],
            "init_containers": [
                _default_container(c, host_network=host_network) for c in spec.init_containers
            ],
        }
    )
