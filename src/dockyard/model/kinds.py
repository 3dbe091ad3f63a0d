"""The kind registry: apiVersion + kind -> model class, resource names, scope and defaulting.

A later kind registers itself with :func:`register` (for example ``dockyard.io/v1 AlertRoute``);
everything that dispatches on kinds (parsing, defaulting, the API server's discovery and routing,
the CLI's ``kubectl get po`` style names) goes through this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from dockyard.model.cluster import Namespace, Node, Service, default_namespace, default_service
from dockyard.model.meta import KubeObject
from dockyard.model.pod import Pod, default_pod_spec
from dockyard.model.workloads import (
    DaemonSet,
    Deployment,
    ReplicaSet,
    ReplicationController,
    default_daemon_set,
    default_deployment,
    default_replica_set,
    default_replication_controller,
)

__all__ = [
    "DEFAULT_NAMESPACE",
    "KindInfo",
    "NameRule",
    "UnknownKind",
    "all_kinds",
    "apply_defaults",
    "find_kind",
    "info_for",
    "kind_for",
    "register",
    "resource_for_name",
    "resource_for_plural",
    "split_api_version",
]

DEFAULT_NAMESPACE = "default"

T = TypeVar("T", bound=KubeObject)


class UnknownKind(LookupError):
    """No registered kind for an apiVersion and kind (kubectl: ``no matches for kind ...``)."""

    def __init__(self, api_version: str, kind: str) -> None:
        super().__init__(f'no matches for kind "{kind}" in version "{api_version}"')
        self.api_version = api_version
        self.kind = kind


# Which name validation applies to ``metadata.name`` (see validation.py).
NameRule = Literal["dns1123-subdomain", "dns1123-label", "dns1035-label"]


def _no_defaults(obj: KubeObject) -> KubeObject:
    return obj


@dataclass(frozen=True)
class KindInfo:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    singular: str
    model: type[KubeObject]
    namespaced: bool
    short_names: tuple[str, ...] = ()
    name_rule: NameRule = "dns1123-subdomain"
    # Field-dependent defaults, a pure function returning a new object (kinds.apply_defaults).
    defaulter: Callable[[Any], KubeObject] = field(default=_no_defaults, compare=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """``deployments.apps`` / ``pods``: the form kubectl prints (``deployment.apps/x``)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


_BY_KIND: dict[tuple[str, str], KindInfo] = {}
_BY_MODEL: dict[type[KubeObject], KindInfo] = {}


_generation = 0  # goes up with every change of the registry: caches built from it compare it


def register(info: KindInfo) -> KindInfo:
    """Add a kind; registering the same apiVersion and kind again replaces the entry."""
    global _generation
    _BY_KIND[(info.api_version, info.kind)] = info
    _BY_MODEL[info.model] = info
    _generation += 1
    return info


def unregister(info: KindInfo) -> None:
    """Remove a kind (tests that register one for a while)."""
    global _generation
    _BY_KIND.pop((info.api_version, info.kind), None)
    _BY_MODEL.pop(info.model, None)
    _generation += 1


def registry_generation() -> int:
    return _generation


def split_api_version(api_version: str) -> tuple[str, str]:
    """``"apps/v1"`` -> ``("apps", "v1")``; ``"v1"`` -> ``("", "v1")``."""
    group, _, version = api_version.rpartition("/")
    return group, version


def find_kind(api_version: str, kind: str) -> KindInfo | None:
    return _BY_KIND.get((api_version, kind))


def kind_for(api_version: str, kind: str) -> KindInfo:
    """The registered kind, or :class:`UnknownKind`."""
    info = find_kind(api_version, kind)
    if info is None:
        raise UnknownKind(api_version, kind)
    return info


def info_for(obj_or_model: KubeObject | type[KubeObject]) -> KindInfo:
    model = obj_or_model if isinstance(obj_or_model, type) else type(obj_or_model)
    try:
        return _BY_MODEL[model]
    except KeyError:
        raise UnknownKind(getattr(obj_or_model, "api_version", ""), model.__name__) from None


def resource_for_plural(group: str, version: str, plural: str) -> KindInfo | None:
    """The kind served at ``/apis/<group>/<version>/<plural>`` (``/api/v1/<plural>`` for core)."""
    return next(
        (
            info
            for info in _BY_KIND.values()
            if (info.group, info.version, info.plural) == (group, version, plural)
        ),
        None,
    )


def resource_for_name(name: str) -> KindInfo | None:
    """What ``kubectl get <name>`` means: plural, singular, short name or kind, any case,
    optionally qualified by group (``deployments.apps``, ``deploy.apps``)."""
    lowered = name.lower()
    for info in _BY_KIND.values():
        names = {info.plural, info.singular, info.kind.lower(), *info.short_names}
        if lowered in names or (
            info.group and lowered in {f"{candidate}.{info.group}" for candidate in names}
        ):
            return info
    return None


def all_kinds() -> Iterator[KindInfo]:
    return iter(list(_BY_KIND.values()))


def apply_defaults(obj: T, *, namespace: str = DEFAULT_NAMESPACE) -> T:
    """Kubernetes defaulting, as the API server does before validation; returns a new object.

    ``namespace`` is what a namespaced object without ``metadata.namespace`` gets (the request's
    or kubeconfig's namespace; ``default`` otherwise). Static defaults are model field defaults;
    this adds the field-dependent ones (``KindInfo.defaulter``).
    """
    info = info_for(obj)
    if info.namespaced and not obj.metadata.namespace:
        obj = obj.model_copy(
            update={"metadata": obj.metadata.model_copy(update={"namespace": namespace})}
        )
    defaulted = info.defaulter(obj)
    assert isinstance(defaulted, type(obj))
    return defaulted


def _default_pod(pod: Pod) -> Pod:
    return pod.model_copy(update={"spec": default_pod_spec(pod.spec)})


register(KindInfo("", "v1", "Pod", "pods", "pod", Pod, True, ("po",), defaulter=_default_pod))
register(
    KindInfo(
        "",
        "v1",
        "Namespace",
        "namespaces",
        "namespace",
        Namespace,
        False,
        ("ns",),
        name_rule="dns1123-label",
        defaulter=default_namespace,
    )
)
register(KindInfo("", "v1", "Node", "nodes", "node", Node, False, ("no",)))
register(
    KindInfo(
        "",
        "v1",
        "Service",
        "services",
        "service",
        Service,
        True,
        ("svc",),
        name_rule="dns1035-label",
        defaulter=default_service,
    )
)
register(
    KindInfo(
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        "replicationcontroller",
        ReplicationController,
        True,
        ("rc",),
        defaulter=default_replication_controller,
    )
)
register(
    KindInfo(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "deployment",
        Deployment,
        True,
        ("deploy",),
        defaulter=default_deployment,
    )
)
register(
    KindInfo(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        "replicaset",
        ReplicaSet,
        True,
        ("rs",),
        defaulter=default_replica_set,
    )
)
register(
    KindInfo(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        "daemonset",
        DaemonSet,
        True,
        ("ds",),
        defaulter=default_daemon_set,
    )
)
