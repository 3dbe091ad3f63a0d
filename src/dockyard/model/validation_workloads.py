"""Spec validation of the controllers (pkg/apis/apps/validation, ReplicationController) and of
Service, Node and Namespace (pkg/apis/core/validation). Paths and messages are Kubernetes'."""

from __future__ import annotations

import re

from dockyard.model import names, selectors
from dockyard.model.cluster import Namespace, Node, Service
from dockyard.model.meta import IntOrString, LabelSelector, int_or_percent_value, to_dict
from dockyard.model.validation import (
    FieldError,
    child,
    duplicate,
    forbidden,
    invalid,
    labels_errors,
    nonnegative,
    not_supported,
    register_validator,
    required,
)
from dockyard.model.validation_pod import pod_spec_errors, port_name_errors, port_number_errors
from dockyard.model.workloads import (
    DaemonSet,
    Deployment,
    PodTemplateSpec,
    ReplicaSet,
    ReplicationController,
    RollingUpdateDaemonSet,
    RollingUpdateDeployment,
)

__all__ = ["label_selector_errors", "pod_template_errors", "register"]

_PERCENT = re.compile(r"[0-9]+%")
_SELECTOR_MISMATCH = "`selector` does not match template `labels`"


def label_selector_errors(selector: LabelSelector, path: str) -> list[FieldError]:
    """``ValidateLabelSelector`` (label values strictly validated)."""
    errors = labels_errors(selector.match_labels, child(path, "matchLabels"))
    for index, requirement in enumerate(selector.match_expressions):
        r_path = child(path, "matchExpressions", index)
        if requirement.operator in ("In", "NotIn"):
            if not requirement.values:
                errors.append(
                    required(
                        child(r_path, "values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    )
                )
        elif requirement.operator in ("Exists", "DoesNotExist"):
            if requirement.values:
                errors.append(
                    forbidden(
                        child(r_path, "values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    )
                )
        else:
            errors.append(
                invalid(
                    child(r_path, "operator"), requirement.operator, "not a valid selector operator"
                )
            )
        errors.extend(
            invalid(child(r_path, "key"), requirement.key, message)
            for message in names.label_key_errors(requirement.key)
        )
        for value_index, value in enumerate(requirement.values):
            errors.extend(
                invalid(child(r_path, "values", value_index), value, message)
                for message in names.label_value_errors(value)
            )
    return errors


def pod_template_errors(template: PodTemplateSpec, path: str) -> list[FieldError]:
    """``ValidatePodTemplateSpec``: note Kubernetes reports template labels at ``<path>.labels``."""
    errors = labels_errors(template.metadata.labels, child(path, "labels"))
    for annotation in template.metadata.annotations:
        errors.extend(
            invalid(child(path, "annotations"), annotation, message)
            for message in names.label_key_errors(annotation.lower())
        )
    errors.extend(pod_spec_errors(template.spec, child(path, "spec")))
    return errors


def _controller_template_errors(
    template: PodTemplateSpec, selector: selectors.Selector, path: str, owner: str
) -> list[FieldError]:
    """``ValidatePodTemplateSpecForReplicaSet`` / ``...ForRC``."""
    errors: list[FieldError] = []
    labels = template.metadata.labels
    if not selector.empty and not selector.matches(labels):
        errors.append(invalid(child(path, "metadata", "labels"), labels, _SELECTOR_MISMATCH))
    errors.extend(pod_template_errors(template, path))
    restart_policy = template.spec.restart_policy
    if restart_policy != "Always":
        errors.append(
            not_supported(child(path, "spec", "restartPolicy"), restart_policy, ["Always"])
        )
    if template.spec.active_deadline_seconds is not None:
        errors.append(
            forbidden(
                child(path, "spec", "activeDeadlineSeconds"),
                f"activeDeadlineSeconds in {owner} is not Supported",
            )
        )
    return errors


def _selector_errors(
    selector: LabelSelector | None, path: str, *, empty_message: str
) -> tuple[list[FieldError], selectors.Selector | None]:
    """Required, valid, non-empty; returns the errors and the parsed selector (None if bad)."""
    errors: list[FieldError] = []
    if selector is None:
        errors.append(required(path))
    else:
        errors.extend(label_selector_errors(selector, path))
        if not selector.match_labels and not selector.match_expressions:
            errors.append(invalid(path, selector, empty_message))
    try:
        parsed = selectors.from_label_selector(None if selector is None else to_dict(selector))
    except selectors.SelectorError:
        errors.append(invalid(path, selector, "invalid label selector"))
        return errors, None
    return errors, parsed


def _positive_int_or_percent_errors(value: IntOrString | None, path: str) -> list[FieldError]:
    """``ValidatePositiveIntOrPercent``."""
    if value is None:
        return []
    if isinstance(value, int):
        return nonnegative(path, value)
    if _PERCENT.fullmatch(value) is None:
        message = names.regex_error(
            "a valid percent string must be a numeric string followed by an ending '%'",
            "[0-9]+%",
            "1%",
            "93%",
        )
        return [invalid(path, value, message)]
    return []


def _not_more_than_100_percent(value: IntOrString | None, path: str) -> list[FieldError]:
    """``IsNotMoreThan100Percent``."""
    if isinstance(value, str) and _PERCENT.fullmatch(value) and int(value[:-1]) > 100:
        return [invalid(path, value, "must not be greater than 100%")]
    return []


def _rolling_update_errors(
    rolling: RollingUpdateDeployment | RollingUpdateDaemonSet, path: str, *, daemon_set: bool
) -> list[FieldError]:
    """``ValidateRollingUpdateDeployment`` / ``ValidateRollingUpdateDaemonSet``."""
    unavailable_path, surge_path = child(path, "maxUnavailable"), child(path, "maxSurge")
    errors = _positive_int_or_percent_errors(rolling.max_unavailable, unavailable_path)
    errors.extend(_positive_int_or_percent_errors(rolling.max_surge, surge_path))
    unavailable = int_or_percent_value(rolling.max_unavailable) or 0
    surge = int_or_percent_value(rolling.max_surge) or 0
    if not daemon_set:
        if not unavailable and not surge:
            errors.append(
                invalid(
                    unavailable_path, rolling.max_unavailable, "may not be 0 when `maxSurge` is 0"
                )
            )
        # A Deployment may surge above 100%.
        errors.extend(_not_more_than_100_percent(rolling.max_unavailable, unavailable_path))
        return errors
    errors.extend(_not_more_than_100_percent(rolling.max_unavailable, unavailable_path))
    errors.extend(_not_more_than_100_percent(rolling.max_surge, surge_path))
    if unavailable and surge:
        errors.append(
            invalid(surge_path, rolling.max_surge, "may not be set when maxUnavailable is non-zero")
        )
    elif not unavailable and not surge:
        errors.append(required(unavailable_path, "cannot be 0 when maxSurge is 0"))
    return errors


def _deployment_errors(deployment: Deployment) -> list[FieldError]:
    """``ValidateDeploymentSpec``."""
    spec = deployment.spec
    errors = nonnegative("spec.replicas", spec.replicas)
    selector_errors, selector = _selector_errors(
        spec.selector, "spec.selector", empty_message="empty selector is invalid for deployment"
    )
    errors.extend(selector_errors)
    if selector is not None:
        errors.extend(
            _controller_template_errors(spec.template, selector, "spec.template", "ReplicaSet")
        )
    strategy = spec.strategy
    if strategy.type == "Recreate" and strategy.rolling_update is not None:
        errors.append(
            forbidden(
                "spec.strategy.rollingUpdate",
                "may not be specified when strategy `type` is 'Recreate'",
            )
        )
    elif strategy.type == "RollingUpdate":
        if strategy.rolling_update is None:
            errors.append(
                required("spec.strategy.rollingUpdate", "this should be defaulted and never be nil")
            )
        else:
            errors.extend(
                _rolling_update_errors(
                    strategy.rolling_update, "spec.strategy.rollingUpdate", daemon_set=False
                )
            )
    errors.extend(nonnegative("spec.minReadySeconds", spec.min_ready_seconds))
    errors.extend(nonnegative("spec.revisionHistoryLimit", spec.revision_history_limit))
    errors.extend(nonnegative("spec.progressDeadlineSeconds", spec.progress_deadline_seconds))
    if spec.progress_deadline_seconds <= spec.min_ready_seconds:
        errors.append(
            invalid(
                "spec.progressDeadlineSeconds",
                spec.progress_deadline_seconds,
                "must be greater than minReadySeconds",
            )
        )
    return errors


def _replica_set_errors(replica_set: ReplicaSet) -> list[FieldError]:
    """``ValidateReplicaSetSpec`` (its empty-selector message does say "deployment")."""
    spec = replica_set.spec
    errors = nonnegative("spec.replicas", spec.replicas)
    errors.extend(nonnegative("spec.minReadySeconds", spec.min_ready_seconds))
    selector_errors, selector = _selector_errors(
        spec.selector, "spec.selector", empty_message="empty selector is invalid for deployment"
    )
    errors.extend(selector_errors)
    if selector is not None:
        errors.extend(
            _controller_template_errors(spec.template, selector, "spec.template", "ReplicaSet")
        )
    return errors


def _replication_controller_errors(rc: ReplicationController) -> list[FieldError]:
    """``ValidateReplicationControllerSpec``."""
    spec = rc.spec
    errors = nonnegative("spec.minReadySeconds", spec.min_ready_seconds)
    if not spec.selector:
        errors.append(required("spec.selector"))
    errors.extend(labels_errors(spec.selector, "spec.selector"))
    errors.extend(nonnegative("spec.replicas", spec.replicas))
    if spec.template is None:
        errors.append(required("spec.template"))
    else:
        selector = selectors.from_set(spec.selector)
        errors.extend(
            _controller_template_errors(
                spec.template, selector, "spec.template", "ReplicationController"
            )
        )
    return errors


def _daemon_set_errors(daemon_set: DaemonSet) -> list[FieldError]:
    """``ValidateDaemonSetSpec`` (plus ``selector`` required, as the apps/v1 schema says)."""
    spec = daemon_set.spec
    errors, selector = _selector_errors(
        spec.selector, "spec.selector", empty_message="empty selector is invalid for daemonset"
    )
    labels = spec.template.metadata.labels
    if selector is not None and not selector.matches(labels):
        errors.append(invalid("spec.template.metadata.labels", labels, _SELECTOR_MISMATCH))
    errors.extend(pod_template_errors(spec.template, "spec.template"))
    restart_policy = spec.template.spec.restart_policy
    if restart_policy != "Always":
        errors.append(not_supported("spec.template.spec.restartPolicy", restart_policy, ["Always"]))
    if spec.template.spec.active_deadline_seconds is not None:
        errors.append(
            invalid(
                "spec.template.spec.activeDeadlineSeconds",
                spec.template.spec.active_deadline_seconds,
                "activeDeadlineSeconds in DaemonSet is not Supported",
            )
        )
    errors.extend(nonnegative("spec.minReadySeconds", spec.min_ready_seconds))
    strategy = spec.update_strategy
    if strategy.type == "RollingUpdate":
        if strategy.rolling_update is None:
            errors.append(required("spec.updateStrategy.rollingUpdate"))
        else:
            errors.extend(
                _rolling_update_errors(
                    strategy.rolling_update, "spec.updateStrategy.rollingUpdate", daemon_set=True
                )
            )
    errors.extend(nonnegative("spec.revisionHistoryLimit", spec.revision_history_limit))
    return errors


def _service_errors(service: Service) -> list[FieldError]:
    """The parts of ``ValidateService`` that Dockyard uses."""
    spec = service.spec
    errors: list[FieldError] = []
    headless = spec.cluster_ip == "None"
    if not spec.ports and not headless and spec.type != "ExternalName":
        errors.append(required("spec.ports"))
    if spec.type == "ExternalName" and not spec.external_name:
        errors.append(required("spec.externalName"))
    seen_names: set[str] = set()
    seen_ports: set[tuple[int, str]] = set()
    for index, port in enumerate(spec.ports):
        path = child("spec.ports", index)
        if len(spec.ports) > 1 and not port.name:
            errors.append(required(child(path, "name")))
        elif port.name:
            errors.extend(
                invalid(child(path, "name"), port.name, message)
                for message in names.dns1123_label_errors(port.name)
            )
            if port.name in seen_names:
                errors.append(duplicate(child(path, "name"), port.name))
            seen_names.add(port.name)
        errors.extend(
            invalid(child(path, "port"), port.port, m) for m in port_number_errors(port.port)
        )
        target = port.target_port
        if isinstance(target, int) and target != 0:
            errors.extend(
                invalid(child(path, "targetPort"), target, m) for m in port_number_errors(target)
            )
        elif isinstance(target, str) and target:
            errors.extend(
                invalid(child(path, "targetPort"), target, m) for m in port_name_errors(target)
            )
        if port.node_port is not None:
            if spec.type == "ClusterIP":
                errors.append(
                    forbidden(child(path, "nodePort"), "may not be used when `type` is 'ClusterIP'")
                )
            elif not 30000 <= port.node_port <= 32767:
                errors.append(
                    invalid(
                        child(path, "nodePort"),
                        port.node_port,
                        "provided port is not in the valid range. "
                        "The range of valid ports is 30000-32767",
                    )
                )
        if (port.port, port.protocol) in seen_ports:
            errors.append(duplicate(path, {"port": port.port, "protocol": port.protocol}))
        seen_ports.add((port.port, port.protocol))
    errors.extend(labels_errors(spec.selector, "spec.selector"))
    config = spec.session_affinity_config
    if spec.session_affinity == "None" and config is not None:
        errors.append(
            forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None")
        )
    timeout = config.client_ip.timeout_seconds if config and config.client_ip else None
    if spec.session_affinity == "ClientIP" and timeout is not None and not 0 < timeout <= 86400:
        errors.append(
            invalid(
                "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                timeout,
                "must be greater than 0 and less than 86400",
            )
        )
    return errors


def _node_errors(node: Node) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for index, taint in enumerate(node.spec.taints):
        path = child("spec.taints", index)
        errors.extend(
            invalid(child(path, "key"), taint.key, m) for m in names.label_key_errors(taint.key)
        )
        if taint.value:
            errors.extend(
                invalid(child(path, "value"), taint.value, m)
                for m in names.label_value_errors(taint.value)
            )
        if (taint.key, taint.effect) in seen:
            errors.append(duplicate(path, {"key": taint.key, "effect": taint.effect}))
        seen.add((taint.key, taint.effect))
    return errors


def _namespace_errors(namespace: Namespace) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, finalizer in enumerate(namespace.spec.finalizers):
        if finalizer != "kubernetes" and "/" not in finalizer:
            errors.append(
                invalid(
                    child("spec.finalizers", index),
                    finalizer,
                    "name is neither a standard finalizer name nor is it fully qualified",
                )
            )
    return errors


def register() -> None:
    register_validator(Deployment, _deployment_errors)
    register_validator(ReplicaSet, _replica_set_errors)
    register_validator(ReplicationController, _replication_controller_errors)
    register_validator(DaemonSet, _daemon_set_errors)
    register_validator(Service, _service_errors)
    register_validator(Node, _node_errors)
    register_validator(Namespace, _namespace_errors)
