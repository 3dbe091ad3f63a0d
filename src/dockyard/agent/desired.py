"""The pod as the agent needs it: typed values read from the stored Pod object (JSON).

Pods in the ``objects`` table were defaulted and validated on the way in, so reading them here
only picks fields and turns quantities into Docker's units. Anything still unusable (a quantity
that does not parse) becomes a ``config_error`` naming the field, reported as the container's
``CreateContainerConfigError`` instead of crashing the agent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from dockyard.agent.runtime import ContainerPort, PullPolicy, default_pull_policy
from dockyard.agent.spec_hash import container_spec_hash
from dockyard.model.quantity import QuantityError, cpu_millis, memory_bytes

__all__ = ["DesiredContainer", "DesiredPod", "desired_pod"]

JsonObject = Mapping[str, Any]


@dataclass(frozen=True)
class DesiredContainer:
    name: str
    image: str
    spec_hash: str
    pull_policy: PullPolicy
    command: tuple[str, ...] | None = None
    args: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    ports: tuple[ContainerPort, ...] = ()
    memory_limit_bytes: int | None = None
    nano_cpus: int | None = None
    post_start: JsonObject | None = None
    pre_stop: JsonObject | None = None
    stop_signal: str | None = None
    liveness: JsonObject | None = None
    readiness: JsonObject | None = None
    startup: JsonObject | None = None
    config_error: str = ""


@dataclass(frozen=True)
class DesiredPod:
    uid: str
    namespace: str
    name: str
    restart_policy: Literal["Always", "OnFailure", "Never"]
    grace_seconds: float
    host_network: bool
    hostname: str | None
    deleting: bool
    containers: tuple[DesiredContainer, ...]
    phase: str | None = None  # the phase last written to status
    named_ports: Mapping[str, int] = field(default_factory=dict)  # for probes and hooks

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def _container(raw: JsonObject) -> DesiredContainer:
    image = str(raw.get("image") or "")
    lifecycle = raw.get("lifecycle") or {}
    limits = (raw.get("resources") or {}).get("limits") or {}
    config_error = ""
    memory = nano_cpus = None
    try:
        if limits.get("memory") is not None:
            memory = memory_bytes(str(limits["memory"]))
        if limits.get("cpu") is not None:
            nano_cpus = cpu_millis(str(limits["cpu"])) * 1_000_000
    except QuantityError as exc:
        config_error = f"resources.limits: {exc}"
    env = {
        str(e["name"]): str(e.get("value") or "")
        for e in raw.get("env") or ()
        if e.get("valueFrom") is None
    }
    ports = tuple(
        ContainerPort(
            container_port=int(p["containerPort"]),
            protocol=cast(Any, p.get("protocol") or "TCP"),
            host_port=p.get("hostPort"),
            host_ip=str(p.get("hostIP") or ""),
        )
        for p in raw.get("ports") or ()
    )
    policy = raw.get("imagePullPolicy") or default_pull_policy(image)
    return DesiredContainer(
        name=str(raw["name"]),
        image=image,
        spec_hash=container_spec_hash(raw),
        pull_policy=cast(PullPolicy, policy),
        command=tuple(raw["command"]) if raw.get("command") else None,
        args=tuple(raw["args"]) if raw.get("args") else None,
        env=env,
        working_dir=raw.get("workingDir") or None,
        ports=ports,
        memory_limit_bytes=memory,
        nano_cpus=nano_cpus,
        post_start=lifecycle.get("postStart"),
        pre_stop=lifecycle.get("preStop"),
        stop_signal=lifecycle.get("stopSignal"),
        liveness=raw.get("livenessProbe"),
        readiness=raw.get("readinessProbe"),
        startup=raw.get("startupProbe"),
        config_error=config_error,
    )


def desired_pod(body: JsonObject) -> DesiredPod:
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    # A deletion may shorten the grace period (kubectl delete --grace-period / --now).
    grace = meta.get("deletionGracePeriodSeconds")
    if grace is None:
        grace = spec.get("terminationGracePeriodSeconds")
    return DesiredPod(
        uid=str(meta["uid"]),
        namespace=str(meta.get("namespace") or "default"),
        name=str(meta["name"]),
        restart_policy=cast(Any, spec.get("restartPolicy") or "Always"),
        grace_seconds=30.0 if grace is None else float(grace),
        host_network=bool(spec.get("hostNetwork")),
        hostname=spec.get("hostname"),
        deleting=meta.get("deletionTimestamp") is not None,
        containers=tuple(_container(c) for c in spec.get("containers") or ()),
        phase=status.get("phase"),
        named_ports={
            str(p["name"]): int(p["containerPort"])
            for c in spec.get("containers") or ()
            for p in c.get("ports") or ()
            if p.get("name")
        },
    )
