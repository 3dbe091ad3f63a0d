"""The scheduler's decision for one pod: filter the nodes, score the rest, bind or explain.

Filters run per node in kube-scheduler's default plugin order and stop at the first failure
(``RunFilterPlugins``): NodeUnschedulable, TaintToleration, NodeAffinity (nodeSelector),
NodePorts, NodeResourcesFit. Each returns Kubernetes' reason strings. An unready node counts as
tainted ``node.kubernetes.io/not-ready`` (Ready=False) or ``node.kubernetes.io/unreachable``
(Ready=Unknown) ``NoSchedule``, the taints TaintNodesByCondition puts on it.

Scores (0–100 each, summed with the default weights): NodeResourcesFit ``LeastAllocated``
(weight 1), TaintToleration for ``PreferNoSchedule`` (weight 3) and a SelectorSpread-like spread
of the pods of the same owner (weight 1; the default profile now uses PodTopologySpread, whose
default constraints spread the same way across nodes). Ties go to the first node by name,
where Kubernetes picks one at random.

The ``FailedScheduling`` message is ``FitError.Error()`` without the preemption suffix
(Dockyard has no pod priorities): ``0/3 nodes are available: 1 Insufficient cpu, 2 node(s)
didn't match Pod's node affinity/selector.`` — "<count> <reason>" strings sorted as strings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from dockyard.controllers.views import (
    HostPort,
    PodView,
    Taint,
    find_untolerated_taint,
    is_pod_active,
)

__all__ = [
    "DEFAULT_MAX_PODS",
    "Binding",
    "NodeView",
    "Unschedulable",
    "effective_taints",
    "failed_scheduling_message",
    "NodeUsage",
    "filter_node",
    "filter_node_usage",
    "least_allocated_score",
    "pod_requests",
    "schedule",
    "score_nodes",
]

DEFAULT_MAX_PODS = 110
MAX_NODE_SCORE = 100
# DefaultMilliCPURequest / DefaultMemoryRequest: what a pod without requests counts as when
# scoring (never when filtering), so empty pods still spread.
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024

REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_NODE_SELECTOR = "node(s) didn't match Pod's node affinity/selector"
REASON_NODE_PORTS = "node(s) didn't have free ports for the requested pod ports"
REASON_TOO_MANY_PODS = "Too many pods"


@dataclass(frozen=True)
class NodeView:
    """A node as the scheduler reads it; ``ready`` is the Ready condition's status."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    allocatable_cpu_millis: int = 0
    allocatable_memory_bytes: int = 0
    allocatable_pods: int = DEFAULT_MAX_PODS
    ready: str = "True"
    unschedulable: bool = False


@dataclass(frozen=True)
class Binding:
    """Bind the pod to ``node_name`` (then ``Scheduled``: ``Successfully assigned ...``)."""

    pod_name: str
    namespace: str
    node_name: str
    scores: Mapping[str, int]

    @property
    def message(self) -> str:
        return f"Successfully assigned {self.namespace}/{self.pod_name} to {self.node_name}"


@dataclass(frozen=True)
class Unschedulable:
    """No node fits: ``message`` is the ``FailedScheduling`` event text; ``reasons`` per node."""

    message: str
    reasons: Mapping[str, tuple[str, ...]]


def pod_requests(
    containers: Iterable[tuple[int, int]],
    init_containers: Iterable[tuple[int, int]] = (),
    overhead: tuple[int, int] = (0, 0),
) -> tuple[int, int]:
    """``(cpu millis, memory bytes)`` a pod requests: max(sum of containers, largest init
    container) per resource, plus the pod overhead (``resourcehelper.PodRequests``)."""
    containers, inits = list(containers), list(init_containers)
    cpu = max(sum(c for c, _ in containers), max((c for c, _ in inits), default=0))
    memory = max(sum(m for _, m in containers), max((m for _, m in inits), default=0))
    return cpu + overhead[0], memory + overhead[1]


def effective_taints(node: NodeView) -> tuple[Taint, ...]:
    """The node's taints plus the NoSchedule taint its Ready condition implies."""
    implied = {"False": "node.kubernetes.io/not-ready", "Unknown": "node.kubernetes.io/unreachable"}
    key = implied.get(node.ready)
    if key is None or any(t.key == key and t.effect == "NoSchedule" for t in node.taints):
        return node.taints
    return (*node.taints, Taint(key, "NoSchedule"))


def _ports_conflict(wanted: HostPort, used: HostPort) -> bool:
    if wanted.port != used.port or wanted.protocol != used.protocol:
        return False
    wildcard = ("", "0.0.0.0")
    return wanted.host_ip in wildcard or used.host_ip in wildcard or wanted.host_ip == used.host_ip


def _pods_on(node: NodeView, bound_pods: Iterable[PodView]) -> list[PodView]:
    # Terminating pods still hold their resources until they are gone, as in the scheduler cache.
    return [
        p for p in bound_pods if p.node_name == node.name and p.phase not in ("Succeeded", "Failed")
    ]


@dataclass
class NodeUsage:
    """Running totals of the pods on one node: what filters and scores need, kept up to date
    with :meth:`add` so a decision costs O(nodes), not O(pods on every node)."""

    pods: int = 0
    cpu_millis: int = 0
    memory_bytes: int = 0
    # Requests as scoring counts them (DefaultMilliCPURequest/DefaultMemoryRequest for zero).
    non_zero_cpu_millis: int = 0
    non_zero_memory_bytes: int = 0
    host_ports: list[HostPort] = field(default_factory=list)
    # (namespace, controller owner uid) -> active pods: the spread score's siblings.
    active_by_owner: Counter[tuple[str, str]] = field(default_factory=Counter)

    @classmethod
    def of(cls, pods: Iterable[PodView]) -> NodeUsage:
        usage = cls()
        for pod in pods:
            usage.add(pod)
        return usage

    def add(self, pod: PodView) -> None:
        """Count ``pod`` (bound to this node); finished pods hold nothing."""
        if pod.phase in ("Succeeded", "Failed"):
            return
        self.pods += 1
        self.cpu_millis += pod.cpu_request_millis
        self.memory_bytes += pod.memory_request_bytes
        cpu, memory = _non_zero(pod)
        self.non_zero_cpu_millis += cpu
        self.non_zero_memory_bytes += memory
        self.host_ports.extend(pod.host_ports)
        if pod.owner_uid is not None and is_pod_active(pod):
            self.active_by_owner[(pod.namespace, pod.owner_uid)] += 1

    def siblings(self, pod: PodView) -> int:
        """Active pods here with ``pod``'s controller owner."""
        if pod.owner_uid is None:
            return 0
        return self.active_by_owner.get((pod.namespace, pod.owner_uid), 0)


def filter_node(pod: PodView, node: NodeView, bound_pods: Iterable[PodView]) -> tuple[str, ...]:
    """The reasons ``pod`` cannot go to ``node`` (empty: it fits), from the first failing
    filter plugin."""
    return filter_node_usage(pod, node, NodeUsage.of(_pods_on(node, bound_pods)))


def filter_node_usage(pod: PodView, node: NodeView, usage: NodeUsage) -> tuple[str, ...]:
    """:func:`filter_node` against the running totals of the pods on ``node``."""
    if node.unschedulable and find_untolerated_taint(
        [Taint("node.kubernetes.io/unschedulable", "NoSchedule")], pod.tolerations, ["NoSchedule"]
    ):
        return (REASON_UNSCHEDULABLE,)
    taint = find_untolerated_taint(
        effective_taints(node), pod.tolerations, ["NoSchedule", "NoExecute"]
    )
    if taint is not None:
        return (f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}",)
    if any(node.labels.get(key) != value for key, value in pod.node_selector.items()):
        return (REASON_NODE_SELECTOR,)
    if pod.host_ports and any(
        _ports_conflict(w, u) for w in pod.host_ports for u in usage.host_ports
    ):
        return (REASON_NODE_PORTS,)
    reasons: list[str] = []
    if usage.pods + 1 > node.allocatable_pods:
        reasons.append(REASON_TOO_MANY_PODS)
    if (
        pod.cpu_request_millis
        and pod.cpu_request_millis > node.allocatable_cpu_millis - usage.cpu_millis
    ):
        reasons.append("Insufficient cpu")
    if (
        pod.memory_request_bytes
        and pod.memory_request_bytes > node.allocatable_memory_bytes - usage.memory_bytes
    ):
        reasons.append("Insufficient memory")
    return tuple(reasons)


def least_allocated_score(requested: int, allocatable: int) -> int:
    """``leastRequestedScore``: ``(allocatable - requested) * 100 / allocatable``, 0 if over."""
    if allocatable == 0 or requested > allocatable:
        return 0
    return (allocatable - requested) * MAX_NODE_SCORE // allocatable


def _non_zero(pod: PodView) -> tuple[int, int]:
    cpu = pod.cpu_request_millis or DEFAULT_MILLI_CPU_REQUEST
    memory = pod.memory_request_bytes or DEFAULT_MEMORY_REQUEST
    return cpu, memory


def _normalize_reverse(counts: Mapping[str, int]) -> dict[str, int]:
    """``helper.DefaultNormalizeScore(max, reverse=true)``: fewer is better."""
    highest = max(counts.values(), default=0)
    if highest == 0:
        return {name: MAX_NODE_SCORE for name in counts}
    return {
        name: MAX_NODE_SCORE - count * MAX_NODE_SCORE // highest for name, count in counts.items()
    }


def score_nodes(
    pod: PodView, nodes: Sequence[NodeView], bound_pods: Sequence[PodView]
) -> dict[str, int]:
    """Weighted sum of LeastAllocated (1), TaintToleration (3) and owner spread (1)."""
    cpu, memory = _non_zero(pod)
    resources: dict[str, int] = {}
    intolerable: dict[str, int] = {}
    siblings: dict[str, int] = {}
    for node in nodes:
        on_node = _pods_on(node, bound_pods)
        used = [_non_zero(p) for p in on_node]
        cpu_score = least_allocated_score(
            cpu + sum(c for c, _ in used), node.allocatable_cpu_millis
        )
        memory_score = least_allocated_score(
            memory + sum(m for _, m in used), node.allocatable_memory_bytes
        )
        resources[node.name] = (cpu_score + memory_score) // 2
        intolerable[node.name] = sum(
            1
            for taint in node.taints
            if taint.effect == "PreferNoSchedule"
            and not any(
                t.tolerates(taint) for t in pod.tolerations if t.effect in ("", "PreferNoSchedule")
            )
        )
        siblings[node.name] = sum(
            1
            for p in on_node
            if pod.owner_uid is not None
            and p.owner_uid == pod.owner_uid
            and p.namespace == pod.namespace
            and is_pod_active(p)
        )
    taint_scores = _normalize_reverse(intolerable)
    spread_scores = _normalize_reverse(siblings)
    return {
        node.name: resources[node.name] + 3 * taint_scores[node.name] + spread_scores[node.name]
        for node in nodes
    }


def failed_scheduling_message(node_count: int, reasons: Mapping[str, Iterable[str]]) -> str:
    """``FitError.Error()``: ``0/N nodes are available: <count> <reason>, ....``."""
    histogram: Counter[str] = Counter()
    for node_reasons in reasons.values():
        histogram.update(node_reasons)
    message = f"0/{node_count} nodes are available:"
    parts = sorted(f"{count} {reason}" for reason, count in histogram.items())
    if parts:
        message += f" {', '.join(parts)}."
    return message


def schedule(
    pod: PodView, nodes: Sequence[NodeView], bound_pods: Sequence[PodView]
) -> Binding | Unschedulable:
    """Pick the best feasible node for ``pod`` given the pods already bound to nodes."""
    if not nodes:
        return Unschedulable("no nodes available to schedule pods", {})
    reasons: dict[str, tuple[str, ...]] = {}
    feasible: list[NodeView] = []
    for node in nodes:
        node_reasons = filter_node(pod, node, bound_pods)
        if node_reasons:
            reasons[node.name] = node_reasons
        else:
            feasible.append(node)
    if not feasible:
        return Unschedulable(failed_scheduling_message(len(nodes), reasons), reasons)
    scores = score_nodes(pod, feasible, bound_pods)
    best = min(feasible, key=lambda node: (-scores[node.name], node.name))
    return Binding(pod.name, pod.namespace, best.name, scores)
