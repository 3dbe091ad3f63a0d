"""Pod spec validation: ``ValidatePodSpec`` and its helpers (pkg/apis/core/validation).

Pure functions from a model to a list of :class:`FieldError`; see validation.py for the entry
points. Field paths and messages are Kubernetes'.
"""

from __future__ import annotations

import re
from fractions import Fraction

from dockyard.model import names
from dockyard.model.meta import IntOrString, KubeModel
from dockyard.model.pod import (
    Container,
    ContainerPort,
    EnvVar,
    LifecycleHandler,
    NodeSelectorTerm,
    Pod,
    PodSpec,
    Probe,
    ResourceRequirements,
    Toleration,
    Volume,
)
from dockyard.model.quantity import parse_quantity
from dockyard.model.validation import (
    FieldError,
    child,
    duplicate,
    forbidden,
    invalid,
    key,
    labels_errors,
    nonnegative,
    not_found,
    not_supported,
    register_validator,
    required,
)

__all__ = ["pod_spec_errors", "port_name_errors", "port_number_errors", "register"]

_PORT_RANGE = "must be between 1 and 65535, inclusive"
_HEADER_NAME = re.compile(r"[-A-Za-z0-9!#$%&'*+.^_`|~]+")
_RELAXED_ENV_NAME = re.compile(r"[ -<>-~]+")
_STANDARD_RESOURCES = {"cpu", "memory", "ephemeral-storage"}


def port_number_errors(port: int) -> list[str]:
    """``IsValidPortNum``."""
    return [] if 1 <= port <= 65535 else [_PORT_RANGE]


def port_name_errors(port: str) -> list[str]:
    """``IsValidPortName`` (an IANA_SVC_NAME)."""
    errors: list[str] = []
    if len(port) > 15:
        errors.append(names.max_len_error(15))
    if re.fullmatch(r"[-a-z0-9]+", port) is None:
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    elif re.search(r"[a-z]", port) is None:
        errors.append("must contain at least one letter (a-z)")
    if "--" in port:
        errors.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errors.append("must not begin or end with a hyphen")
    return errors


def _port_num_or_name(port: IntOrString, path: str) -> list[FieldError]:
    """``ValidatePortNumOrName``."""
    if isinstance(port, int):
        return [invalid(path, port, m) for m in port_number_errors(port)]
    return [invalid(path, port, m) for m in port_name_errors(port)]


def _handler_errors(
    handler: LifecycleHandler | Probe, path: str, *, grace_period: int
) -> list[FieldError]:
    """``validateHandler``: exactly one action, each valid."""
    errors: list[FieldError] = []
    actions: list[tuple[str, KubeModel | None]] = [
        ("exec", handler.exec),
        ("httpGet", handler.http_get),
        ("tcpSocket", handler.tcp_socket),
    ]
    if isinstance(handler, Probe):
        actions.append(("grpc", handler.grpc))
    else:
        actions += [("sleep", handler.sleep), ("notify", handler.notify)]
    chosen = 0
    for name, action in actions:
        if action is None:
            continue
        if chosen:
            errors.append(forbidden(child(path, name), "may not specify more than 1 handler type"))
            continue
        chosen += 1
        errors.extend(_action_errors(handler, name, child(path, name), grace_period=grace_period))
    if not chosen:
        errors.append(required(path, "must specify a handler type"))
    return errors


def _action_errors(
    handler: LifecycleHandler | Probe, name: str, path: str, *, grace_period: int
) -> list[FieldError]:
    errors: list[FieldError] = []
    if name == "exec" and handler.exec is not None and not handler.exec.command:
        errors.append(required(child(path, "command")))
    if name == "httpGet" and handler.http_get is not None:
        action = handler.http_get
        if not action.path:
            errors.append(required(child(path, "path")))
        errors.extend(_port_num_or_name(action.port, child(path, "port")))
        for header in action.http_headers:
            if _HEADER_NAME.fullmatch(header.name) is None:
                errors.append(
                    invalid(
                        child(path, "httpHeaders"),
                        header.name,
                        "name must be a valid HTTP header name",
                    )
                )
    if name == "tcpSocket" and handler.tcp_socket is not None:
        errors.extend(_port_num_or_name(handler.tcp_socket.port, child(path, "port")))
    if isinstance(handler, Probe):
        if name == "grpc" and handler.grpc is not None:
            port = handler.grpc.port
            errors.extend(invalid(child(path, "port"), port, m) for m in port_number_errors(port))
        return errors
    if name == "sleep" and handler.sleep is not None:
        seconds = handler.sleep.seconds
        if seconds < 0 or seconds > grace_period:
            detail = (
                f"must be non-negative and less than terminationGracePeriodSeconds ({grace_period})"
            )
            errors.append(invalid(child(path, "seconds"), seconds, detail))
    if name == "notify" and handler.notify is not None and handler.notify.route:
        route = handler.notify.route
        errors.extend(
            invalid(child(path, "route"), route, message)
            for message in names.dns1123_subdomain_errors(route)
        )
    if name == "notify" and handler.notify is not None and handler.notify.template:
        # The notifier owns the template language; imported here, at call time, because the
        # notify package builds on this one.
        from dockyard.notify.routes import template_errors

        errors.extend(template_errors(handler.notify.template, child(path, "template")))
    return errors


def _probe_errors(probe: Probe, path: str, *, grace_period: int) -> list[FieldError]:
    """``validateProbe``."""
    errors = _handler_errors(probe, path, grace_period=grace_period)
    for name, value in (
        ("initialDelaySeconds", probe.initial_delay_seconds),
        ("timeoutSeconds", probe.timeout_seconds),
        ("periodSeconds", probe.period_seconds),
        ("successThreshold", probe.success_threshold),
        ("failureThreshold", probe.failure_threshold),
    ):
        errors.extend(nonnegative(child(path, name), value))
    grace = probe.termination_grace_period_seconds
    if grace is not None and grace <= 0:
        errors.append(
            invalid(child(path, "terminationGracePeriodSeconds"), grace, "must be greater than 0")
        )
    return errors


def _ports_errors(ports: list[ContainerPort], path: str) -> list[FieldError]:
    """``validateContainerPorts``."""
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, port in enumerate(ports):
        port_path = child(path, index)
        if port.name:
            messages = port_name_errors(port.name)
            errors.extend(invalid(child(port_path, "name"), port.name, m) for m in messages)
            if not messages and port.name in seen:
                errors.append(duplicate(child(port_path, "name"), port.name))
            seen.add(port.name)
        if port.container_port == 0:
            errors.append(required(child(port_path, "containerPort")))
        else:
            errors.extend(
                invalid(child(port_path, "containerPort"), port.container_port, m)
                for m in port_number_errors(port.container_port)
            )
        if port.host_port:
            errors.extend(
                invalid(child(port_path, "hostPort"), port.host_port, m)
                for m in port_number_errors(port.host_port)
            )
    return errors


def _env_errors(env: list[EnvVar], path: str) -> list[FieldError]:
    """``ValidateEnv`` with RelaxedEnvironmentVariableValidation (GA in 1.32)."""
    errors: list[FieldError] = []
    for index, var in enumerate(env):
        var_path = child(path, index)
        if not var.name:
            errors.append(required(child(var_path, "name")))
        elif _RELAXED_ENV_NAME.fullmatch(var.name) is None:
            errors.append(
                invalid(
                    child(var_path, "name"),
                    var.name,
                    "a valid environment variable name must consist only of printable ASCII "
                    "characters other than '='",
                )
            )
        source = var.value_from
        if source is None:
            continue
        from_path = child(var_path, "valueFrom")
        count = sum(
            ref is not None
            for ref in (
                source.field_ref,
                source.resource_field_ref,
                source.config_map_key_ref,
                source.secret_key_ref,
            )
        )
        if count == 0:
            errors.append(
                invalid(
                    from_path,
                    "",
                    "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` "
                    "or `secretKeyRef`",
                )
            )
        elif count > 1:
            errors.append(
                invalid(from_path, "", "may not have more than one field specified at a time")
            )
        if var.value and count:
            errors.append(invalid(from_path, "", "may not be specified when `value` is not empty"))
    return errors


def _resources_errors(resources: ResourceRequirements, path: str) -> list[FieldError]:
    """``ValidateResourceRequirements`` (names, non-negative, requests <= limits)."""
    errors: list[FieldError] = []
    parsed: dict[str, dict[str, Fraction]] = {"limits": {}, "requests": {}}
    for group, values in (("limits", resources.limits), ("requests", resources.requests)):
        for resource, text in values.items():
            resource_path = key(child(path, group), resource)
            standard = resource in _STANDARD_RESOURCES or resource.startswith("hugepages-")
            if not standard and "/" not in resource:
                errors.append(
                    invalid(resource_path, resource, "must be a standard resource for containers")
                )
            amount = parse_quantity(text)  # the decoder already rejected malformed quantities
            if amount < 0:
                errors.append(invalid(resource_path, text, "must be greater than or equal to 0"))
            parsed[group][resource] = amount
    for resource, request in parsed["requests"].items():
        limit = parsed["limits"].get(resource)
        if limit is not None and request > limit:
            errors.append(
                invalid(
                    key(child(path, "requests"), resource),
                    resources.requests[resource],
                    f"must be less than or equal to {resource} limit of "
                    f"{resources.limits[resource]}",
                )
            )
    return errors


def _container_errors(
    container: Container, path: str, *, volumes: set[str], grace_period: int, init: bool
) -> list[FieldError]:
    errors: list[FieldError] = []
    if not container.image.strip():
        errors.append(required(child(path, "image")))
    elif container.image != container.image.strip():
        errors.append(
            invalid(
                child(path, "image"),
                container.image,
                "must not have leading or trailing whitespace",
            )
        )
    sidecar = init and container.restart_policy == "Always"
    if not init and container.restart_policy is not None:
        errors.append(
            forbidden(child(path, "restartPolicy"), "may not be set for non-init containers")
        )
    probes = (
        ("livenessProbe", container.liveness_probe),
        ("readinessProbe", container.readiness_probe),
        ("startupProbe", container.startup_probe),
    )
    for name, probe in probes:
        if probe is None:
            continue
        probe_path = child(path, name)
        if init and not sidecar:
            errors.append(
                forbidden(
                    probe_path, "may not be set for init containers without restartPolicy=Always"
                )
            )
            continue
        errors.extend(_probe_errors(probe, probe_path, grace_period=grace_period))
        if name != "readinessProbe" and probe.success_threshold != 1:
            errors.append(
                invalid(child(probe_path, "successThreshold"), probe.success_threshold, "must be 1")
            )
        if name == "readinessProbe" and probe.termination_grace_period_seconds is not None:
            errors.append(
                invalid(
                    child(probe_path, "terminationGracePeriodSeconds"),
                    probe.termination_grace_period_seconds,
                    "must not be set for readinessProbes",
                )
            )
    if container.lifecycle is not None:
        lifecycle_path = child(path, "lifecycle")
        if init and not sidecar:
            errors.append(
                forbidden(
                    lifecycle_path,
                    "may not be set for init containers without restartPolicy=Always",
                )
            )
        else:
            for name, handler in (
                ("postStart", container.lifecycle.post_start),
                ("preStop", container.lifecycle.pre_stop),
            ):
                if handler is not None:
                    errors.extend(
                        _handler_errors(
                            handler, child(lifecycle_path, name), grace_period=grace_period
                        )
                    )
    errors.extend(_ports_errors(container.ports, child(path, "ports")))
    errors.extend(_env_errors(container.env, child(path, "env")))
    for index, mount in enumerate(container.volume_mounts):
        mount_path = child(path, "volumeMounts", index)
        if not mount.name:
            errors.append(required(child(mount_path, "name")))
        elif mount.name not in volumes:
            errors.append(not_found(child(mount_path, "name"), mount.name))
        if not mount.mount_path:
            errors.append(required(child(mount_path, "mountPath")))
    errors.extend(_resources_errors(container.resources, child(path, "resources")))
    return errors


def _containers_errors(spec: PodSpec, path: str, volumes: set[str]) -> list[FieldError]:
    """``validateInitContainers`` + ``validateContainers``: names unique across both lists."""
    errors: list[FieldError] = []
    seen: set[str] = set()
    if not spec.containers:
        errors.append(required(child(path, "containers")))
    groups = (
        ("initContainers", spec.init_containers, True),
        ("containers", spec.containers, False),
    )
    for field_name, containers, init in groups:
        for index, container in enumerate(containers):
            container_path = child(path, field_name, index)
            name_path = child(container_path, "name")
            if not container.name:
                errors.append(required(name_path))
            else:
                errors.extend(
                    invalid(name_path, container.name, message)
                    for message in names.dns1123_label_errors(container.name)
                )
                if container.name in seen:
                    errors.append(duplicate(name_path, container.name))
                seen.add(container.name)
            errors.extend(
                _container_errors(
                    container,
                    container_path,
                    volumes=volumes,
                    grace_period=spec.termination_grace_period_seconds,
                    init=init,
                )
            )
    return errors


def _volumes_errors(volumes: list[Volume], path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, volume in enumerate(volumes):
        volume_path = child(path, index)
        if not volume.name:
            errors.append(required(child(volume_path, "name")))
        else:
            errors.extend(
                invalid(child(volume_path, "name"), volume.name, message)
                for message in names.dns1123_label_errors(volume.name)
            )
            if volume.name in seen:
                errors.append(duplicate(child(volume_path, "name"), volume.name))
            seen.add(volume.name)
        sources = [
            name
            for name, source in (
                ("hostPath", volume.host_path),
                ("emptyDir", volume.empty_dir),
                ("configMap", volume.config_map),
                ("secret", volume.secret),
                ("persistentVolumeClaim", volume.persistent_volume_claim),
            )
            if source is not None
        ]
        if not sources:
            errors.append(required(volume_path, "must specify a volume type"))
        errors.extend(
            forbidden(child(volume_path, extra), "may not specify more than 1 volume type")
            for extra in sources[1:]
        )
    return errors


def _toleration_errors(tolerations: list[Toleration], path: str) -> list[FieldError]:
    """``ValidateTolerations``."""
    errors: list[FieldError] = []
    for index, toleration in enumerate(tolerations):
        t_path = child(path, index)
        toleration_key = toleration.key or ""
        operator = toleration.operator or ""
        if toleration_key:
            errors.extend(
                invalid(child(t_path, "key"), toleration_key, message)
                for message in names.label_key_errors(toleration_key)
            )
        if not toleration_key and operator != "Exists":
            errors.append(
                invalid(
                    child(t_path, "operator"),
                    operator,
                    'operator must be Exists when `key` is empty, which means "match all values '
                    'and all keys"',
                )
            )
        if toleration.toleration_seconds is not None and toleration.effect != "NoExecute":
            errors.append(
                invalid(
                    child(t_path, "effect"),
                    toleration.effect or "",
                    "effect must be 'NoExecute' when `tolerationSeconds` is set",
                )
            )
        value = toleration.value or ""
        if operator in ("Equal", ""):
            messages = names.label_value_errors(value)
            if messages:
                errors.append(invalid(child(t_path, "operator"), value, ";".join(messages)))
        elif operator == "Exists":
            if value:
                errors.append(
                    invalid(
                        child(t_path, "operator"),
                        value,
                        "value must be empty when `operator` is 'Exists'",
                    )
                )
        else:
            errors.append(not_supported(child(t_path, "operator"), operator, ["Equal", "Exists"]))
        if toleration.effect:
            effects = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
            if toleration.effect not in effects:
                errors.append(not_supported(child(t_path, "effect"), toleration.effect, effects))
    return errors


def _node_selector_term_errors(term: NodeSelectorTerm, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for field_name, requirements in (
        ("matchExpressions", term.match_expressions),
        ("matchFields", term.match_fields),
    ):
        for index, requirement in enumerate(requirements):
            r_path = child(path, field_name, index)
            operator, values = requirement.operator, requirement.values
            if operator in ("In", "NotIn"):
                if not values:
                    errors.append(
                        required(
                            child(r_path, "values"),
                            "must be specified when `operator` is 'In' or 'NotIn'",
                        )
                    )
            elif operator in ("Exists", "DoesNotExist"):
                if values:
                    errors.append(
                        forbidden(
                            child(r_path, "values"),
                            "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                        )
                    )
            elif operator in ("Gt", "Lt"):
                if len(values) != 1:
                    errors.append(
                        required(
                            child(r_path, "values"),
                            "must be specified single value when `operator` is 'Lt' or 'Gt'",
                        )
                    )
            else:
                errors.append(
                    invalid(child(r_path, "operator"), operator, "not a valid selector operator")
                )
    return errors


def pod_spec_errors(spec: PodSpec, path: str) -> list[FieldError]:
    """``ValidatePodSpec``: everything under ``path`` (``spec`` or ``spec.template.spec``)."""
    volume_names = {volume.name for volume in spec.volumes}
    errors = _volumes_errors(spec.volumes, child(path, "volumes"))
    errors.extend(_containers_errors(spec, path, volume_names))
    if spec.host_network:
        for index, container in enumerate(spec.containers):
            for port_index, port in enumerate(container.ports):
                if port.host_port != port.container_port:
                    errors.append(
                        invalid(
                            child(path, "containers", index, "ports", port_index, "containerPort"),
                            port.container_port,
                            "must match `hostPort` when `hostNetwork` is true",
                        )
                    )
    errors.extend(labels_errors(spec.node_selector, child(path, "nodeSelector")))
    errors.extend(
        nonnegative(
            child(path, "terminationGracePeriodSeconds"), spec.termination_grace_period_seconds
        )
    )
    deadline = spec.active_deadline_seconds
    if deadline is not None and not 1 <= deadline <= 2**31 - 1:
        errors.append(
            invalid(
                child(path, "activeDeadlineSeconds"),
                deadline,
                "must be between 1 and 2147483647, inclusive",
            )
        )
    for field_name, value in (("hostname", spec.hostname), ("subdomain", spec.subdomain)):
        if value:
            errors.extend(
                invalid(child(path, field_name), value, message)
                for message in names.dns1123_label_errors(value)
            )
    errors.extend(_toleration_errors(spec.tolerations, child(path, "tolerations")))
    node_affinity = spec.affinity.node_affinity if spec.affinity else None
    if node_affinity is not None:
        affinity_path = child(path, "affinity", "nodeAffinity")
        selector = node_affinity.required_during_scheduling_ignored_during_execution
        if selector is not None:
            selector_path = child(affinity_path, "requiredDuringSchedulingIgnoredDuringExecution")
            if not selector.node_selector_terms:
                errors.append(
                    required(
                        child(selector_path, "nodeSelectorTerms"),
                        "must have at least one node selector term",
                    )
                )
            for index, term in enumerate(selector.node_selector_terms):
                errors.extend(
                    _node_selector_term_errors(
                        term, child(selector_path, "nodeSelectorTerms", index)
                    )
                )
        for index, preferred in enumerate(
            node_affinity.preferred_during_scheduling_ignored_during_execution
        ):
            pref_path = child(
                affinity_path, "preferredDuringSchedulingIgnoredDuringExecution", index
            )
            if not 1 <= preferred.weight <= 100:
                errors.append(
                    invalid(
                        child(pref_path, "weight"), preferred.weight, "must be in the range 1-100"
                    )
                )
            errors.extend(
                _node_selector_term_errors(preferred.preference, child(pref_path, "preference"))
            )
    return errors


def _pod_errors(pod: Pod) -> list[FieldError]:
    return pod_spec_errors(pod.spec, "spec")


def register() -> None:
    register_validator(Pod, _pod_errors)
