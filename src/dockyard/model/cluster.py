"""Cluster-level kinds: Namespace, Node and Service (all core/v1)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dockyard.model.meta import IntOrString, KubeModel, KubeObject, Time
from dockyard.model.pod import Quantity

__all__ = [
    "CLIENT_IP_AFFINITY_TIMEOUT_SECONDS",
    "NAMESPACE_NAME_LABEL",
    "ClientIPConfig",
    "Namespace",
    "NamespaceCondition",
    "NamespaceSpec",
    "NamespaceStatus",
    "Node",
    "NodeAddress",
    "NodeCondition",
    "NodeSpec",
    "NodeStatus",
    "NodeSystemInfo",
    "Service",
    "ServicePort",
    "ServiceSpec",
    "ServiceStatus",
    "SessionAffinityConfig",
    "Taint",
    "default_namespace",
    "default_service",
]

# SetDefaults_Namespace labels every namespace with its own name.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
CLIENT_IP_AFFINITY_TIMEOUT_SECONDS = 10800


# --- Namespace ---------------------------------------------------------------------------------


class NamespaceSpec(KubeModel):
    finalizers: list[str] = Field(default_factory=list)


class NamespaceCondition(KubeModel):
    type: str
    status: Literal["True", "False", "Unknown"]
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class NamespaceStatus(KubeModel):
    phase: Literal["Active", "Terminating"] = "Active"
    conditions: list[NamespaceCondition] = Field(default_factory=list)


class Namespace(KubeObject):
    api_version: str = "v1"
    kind: str = "Namespace"
    spec: NamespaceSpec = Field(default_factory=NamespaceSpec)
    status: NamespaceStatus = Field(default_factory=NamespaceStatus)


def default_namespace(namespace: Namespace) -> Namespace:
    name = namespace.metadata.name
    if not name or namespace.metadata.labels.get(NAMESPACE_NAME_LABEL) == name:
        return namespace
    labels = {**namespace.metadata.labels, NAMESPACE_NAME_LABEL: name}
    return namespace.model_copy(
        update={"metadata": namespace.metadata.model_copy(update={"labels": labels})}
    )


# --- Node --------------------------------------------------------------------------------------


class Taint(KubeModel):
    key: str
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
    time_added: Time | None = None


class NodeSpec(KubeModel):
    pod_cidr: str | None = Field(default=None, alias="podCIDR")
    pod_cidrs: list[str] = Field(default_factory=list, alias="podCIDRs")
    provider_id: str | None = Field(default=None, alias="providerID")
    unschedulable: bool | None = None
    taints: list[Taint] = Field(default_factory=list)


class NodeCondition(KubeModel):
    type: str
    status: Literal["True", "False", "Unknown"]
    last_heartbeat_time: Time | None = None
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class NodeAddress(KubeModel):
    type: str  # InternalIP, ExternalIP, Hostname, InternalDNS, ExternalDNS
    address: str


class NodeSystemInfo(KubeModel):
    machine_id: str = Field(default="", alias="machineID")
    system_uuid: str = Field(default="", alias="systemUUID")
    boot_id: str = Field(default="", alias="bootID")
    kernel_version: str = ""
    os_image: str = ""
    container_runtime_version: str = ""
    kubelet_version: str = ""
    kube_proxy_version: str = ""
    operating_system: str = ""
    architecture: str = ""


class DaemonEndpoint(KubeModel):
    port: int = Field(alias="Port")


class NodeDaemonEndpoints(KubeModel):
    kubelet_endpoint: DaemonEndpoint | None = None


class ContainerImage(KubeModel):
    names: list[str] = Field(default_factory=list)
    size_bytes: int | None = None


class NodeStatus(KubeModel):
    capacity: dict[str, Quantity] = Field(default_factory=dict)
    allocatable: dict[str, Quantity] = Field(default_factory=dict)
    phase: str | None = None
    conditions: list[NodeCondition] = Field(default_factory=list)
    addresses: list[NodeAddress] = Field(default_factory=list)
    daemon_endpoints: NodeDaemonEndpoints | None = None
    node_info: NodeSystemInfo | None = None
    images: list[ContainerImage] = Field(default_factory=list)


class Node(KubeObject):
    api_version: str = "v1"
    kind: str = "Node"
    spec: NodeSpec = Field(default_factory=NodeSpec)
    status: NodeStatus = Field(default_factory=NodeStatus)


# --- Service -----------------------------------------------------------------------------------


class ServicePort(KubeModel):
    name: str | None = None
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    app_protocol: str | None = None
    port: int
    # Defaults to ``port`` (default_service); a string names a container port.
    target_port: IntOrString | None = None
    node_port: int | None = None


class ClientIPConfig(KubeModel):
    timeout_seconds: int | None = None


class SessionAffinityConfig(KubeModel):
    client_ip: ClientIPConfig | None = Field(default=None, alias="clientIP")


class ServiceSpec(KubeModel):
    type: Literal["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"] = "ClusterIP"
    # A plain equality map; a Service without one gets no managed endpoints.
    selector: dict[str, str] = Field(default_factory=dict)
    ports: list[ServicePort] = Field(default_factory=list)
    cluster_ip: str | None = Field(default=None, alias="clusterIP")
    cluster_ips: list[str] = Field(default_factory=list, alias="clusterIPs")
    external_ips: list[str] = Field(default_factory=list, alias="externalIPs")
    external_name: str | None = None
    load_balancer_ip: str | None = Field(default=None, alias="loadBalancerIP")
    load_balancer_source_ranges: list[str] = Field(default_factory=list)
    load_balancer_class: str | None = None
    allocate_load_balancer_node_ports: bool | None = None
    external_traffic_policy: Literal["Cluster", "Local"] | None = None
    internal_traffic_policy: Literal["Cluster", "Local"] | None = None
    health_check_node_port: int | None = None
    publish_not_ready_addresses: bool | None = None
    session_affinity: Literal["ClientIP", "None"] = "None"
    session_affinity_config: SessionAffinityConfig | None = None
    ip_families: list[Literal["IPv4", "IPv6"]] = Field(default_factory=list)
    ip_family_policy: Literal["SingleStack", "PreferDualStack", "RequireDualStack"] | None = None


class LoadBalancerIngress(KubeModel):
    ip: str | None = None
    hostname: str | None = None


class LoadBalancerStatus(KubeModel):
    ingress: list[LoadBalancerIngress] = Field(default_factory=list)


class ServiceStatus(KubeModel):
    load_balancer: LoadBalancerStatus = Field(default_factory=LoadBalancerStatus)
    conditions: list[NamespaceCondition] = Field(default_factory=list)


class Service(KubeObject):
    api_version: str = "v1"
    kind: str = "Service"
    spec: ServiceSpec = Field(default_factory=ServiceSpec)
    status: ServiceStatus = Field(default_factory=ServiceStatus)


def default_service(service: Service) -> Service:
    """``SetDefaults_Service``: targetPort = port; ClientIP affinity gets its 10800 s timeout."""
    ports = [
        port.model_copy(update={"target_port": port.port})
        if port.target_port in (None, 0, "")
        else port
        for port in service.spec.ports
    ]
    update: dict[str, object] = {"ports": ports}
    spec = service.spec
    if spec.session_affinity == "ClientIP" and (
        spec.session_affinity_config is None
        or spec.session_affinity_config.client_ip is None
        or spec.session_affinity_config.client_ip.timeout_seconds is None
    ):
        update["session_affinity_config"] = SessionAffinityConfig(
            client_ip=ClientIPConfig(timeout_seconds=CLIENT_IP_AFFINITY_TIMEOUT_SECONDS)
        )
    if spec.type in ("NodePort", "LoadBalancer") and spec.external_traffic_policy is None:
        update["external_traffic_policy"] = "Cluster"
    if spec.type != "ExternalName" and spec.internal_traffic_policy is None:
        update["internal_traffic_policy"] = "Cluster"
    return service.model_copy(update={"spec": spec.model_copy(update=update)})
