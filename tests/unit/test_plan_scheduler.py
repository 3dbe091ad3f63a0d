"""Scheduler planner (controllers/scheduler_plan.py): filters, scores, FailedScheduling."""

from __future__ import annotations

import pytest

from dockyard.controllers.scheduler_plan import (
    Binding,
    NodeView,
    Unschedulable,
    failed_scheduling_message,
    filter_node,
    least_allocated_score,
    pod_requests,
    schedule,
)
from dockyard.controllers.views import HostPort, PodView, Taint, Toleration

GI = 2**30


def node(name: str = "n1", **kwargs: object) -> NodeView:
    fields: dict[str, object] = {
        "name": name,
        "allocatable_cpu_millis": 2000,
        "allocatable_memory_bytes": 4 * GI,
        "labels": {"disk": "ssd"},
    }
    fields.update(kwargs)
    return NodeView(**fields)  # type: ignore[arg-type]


def pod(name: str = "p", **kwargs: object) -> PodView:
    fields: dict[str, object] = {"uid": f"uid-{name}", "name": name}
    fields.update(kwargs)
    return PodView(**fields)  # type: ignore[arg-type]


BUSY = pod(
    "busy",
    node_name="n1",
    cpu_request_millis=1500,
    memory_request_bytes=3 * GI,
    host_ports=(HostPort(8080),),
)


@pytest.mark.parametrize(
    ("the_pod", "the_node", "bound", "reasons"),
    [
        (pod(), node(), [], ()),
        (pod(), node(unschedulable=True), [], ("node(s) were unschedulable",)),
        (
            pod(tolerations=(Toleration("node.kubernetes.io/unschedulable", "Exists"),)),
            node(unschedulable=True),
            [],
            (),
        ),
        (
            pod(),
            node(taints=(Taint("gpu", "NoSchedule", "yes"),)),
            [],
            ("node(s) had untolerated taint {gpu: yes}",),
        ),
        (
            pod(),
            node(taints=(Taint("gpu", "NoExecute", "yes"),)),
            [],
            ("node(s) had untolerated taint {gpu: yes}",),
        ),
        (pod(), node(taints=(Taint("gpu", "PreferNoSchedule", "yes"),)), [], ()),
        (
            pod(tolerations=(Toleration("gpu", "Equal", "yes", "NoSchedule"),)),
            node(taints=(Taint("gpu", "NoSchedule", "yes"),)),
            [],
            (),
        ),
        (
            pod(tolerations=(Toleration("gpu", "Equal", "no"),)),
            node(taints=(Taint("gpu", "NoSchedule", "yes"),)),
            [],
            ("node(s) had untolerated taint {gpu: yes}",),
        ),
        (
            pod(tolerations=(Toleration("gpu", "Exists"),)),
            node(taints=(Taint("gpu", "NoSchedule", "yes"),)),
            [],
            (),
        ),
        (
            pod(tolerations=(Toleration(operator="Exists"),)),
            node(taints=(Taint("anything", "NoExecute"),)),
            [],
            (),
        ),
        (
            pod(),
            node(ready="False"),
            [],
            ("node(s) had untolerated taint {node.kubernetes.io/not-ready: }",),
        ),
        (
            pod(),
            node(ready="Unknown"),
            [],
            ("node(s) had untolerated taint {node.kubernetes.io/unreachable: }",),
        ),
        (
            pod(node_selector={"disk": "hdd"}),
            node(),
            [],
            ("node(s) didn't match Pod's node affinity/selector",),
        ),
        (pod(node_selector={"disk": "ssd"}), node(), [], ()),
        (
            pod(host_ports=(HostPort(8080),)),
            node(),
            [BUSY],
            ("node(s) didn't have free ports for the requested pod ports",),
        ),
        (pod(host_ports=(HostPort(8080, "UDP"),)), node(), [BUSY], ()),
        (
            pod(host_ports=(HostPort(8080, host_ip="10.0.0.1"),)),
            node(),
            [BUSY],
            ("node(s) didn't have free ports for the requested pod ports",),
        ),
        (pod(cpu_request_millis=600), node(), [BUSY], ("Insufficient cpu",)),
        (pod(cpu_request_millis=500), node(), [BUSY], ()),
        (
            pod(cpu_request_millis=600, memory_request_bytes=2 * GI),
            node(),
            [BUSY],
            ("Insufficient cpu", "Insufficient memory"),
        ),
        (pod(), node(allocatable_pods=1), [BUSY], ("Too many pods",)),
        (
            pod(cpu_request_millis=600),
            node(),
            [pod("gone", node_name="n1", phase="Succeeded", cpu_request_millis=2000)],
            (),
        ),
    ],
)
def test_filters(
    the_pod: PodView, the_node: NodeView, bound: list[PodView], reasons: tuple[str, ...]
) -> None:
    assert filter_node(the_pod, the_node, bound) == reasons


@pytest.mark.parametrize(
    ("reasons", "message"),
    [
        (
            {
                "a": ("Insufficient cpu",),
                "b": ("Insufficient cpu",),
                "c": ("node(s) didn't match Pod's node affinity/selector",),
            },
            "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
            "2 Insufficient cpu.",
        ),
        (
            {
                "a": ("Insufficient cpu", "Insufficient memory"),
                "b": ("node(s) had untolerated taint {node.kubernetes.io/unreachable: }",),
            },
            "0/2 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, "
            "1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }.",
        ),
    ],
)
def test_failed_scheduling_message(reasons: dict[str, tuple[str, ...]], message: str) -> None:
    assert failed_scheduling_message(len(reasons), reasons) == message


def test_schedule_reports_failed_scheduling_over_all_nodes() -> None:
    nodes = [node("a"), node("b"), node("c", labels={})]
    bound = [pod(f"x{n.name}", node_name=n.name, cpu_request_millis=1800) for n in nodes[:2]]
    result = schedule(pod(cpu_request_millis=500, node_selector={"disk": "ssd"}), nodes, bound)
    assert isinstance(result, Unschedulable)
    assert result.message == (
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "2 Insufficient cpu."
    )


def test_schedule_without_nodes() -> None:
    result = schedule(pod(), [], [])
    assert isinstance(result, Unschedulable)
    assert result.message == "no nodes available to schedule pods"


@pytest.mark.parametrize(
    ("requested", "allocatable", "score"),
    [
        (0, 1000, 100),
        (500, 1000, 50),
        (1000, 1000, 0),
        (1500, 1000, 0),
        (10, 0, 0),
        (333, 1000, 66),
    ],
)
def test_least_allocated_score(requested: int, allocatable: int, score: int) -> None:
    assert least_allocated_score(requested, allocatable) == score


def test_schedule_prefers_the_least_allocated_node() -> None:
    nodes = [node("a"), node("b")]
    bound = [pod("x", node_name="a", cpu_request_millis=1000, memory_request_bytes=GI)]
    result = schedule(pod(cpu_request_millis=100), nodes, bound)
    assert isinstance(result, Binding)
    assert result.node_name == "b"
    assert result.message == "Successfully assigned default/p to b"


def test_schedule_spreads_pods_of_the_same_owner() -> None:
    nodes = [node("a"), node("b")]
    # Node b is a little busier, but a already runs a sibling of the same ReplicaSet.
    bound = [
        pod("sibling", node_name="a", owner_uid="rs-1"),
        pod("other", node_name="b", cpu_request_millis=100),
    ]
    result = schedule(pod(owner_uid="rs-1"), nodes, bound)
    assert isinstance(result, Binding) and result.node_name == "b"
    assert result.scores["b"] > result.scores["a"]


def test_schedule_avoids_prefer_no_schedule_taints() -> None:
    nodes = [node("a", taints=(Taint("old", "PreferNoSchedule"),)), node("b")]
    result = schedule(pod(), nodes, [])
    assert isinstance(result, Binding) and result.node_name == "b"
    tolerant = pod(tolerations=(Toleration("old", "Exists", effect="PreferNoSchedule"),))
    result = schedule(tolerant, nodes, [])
    assert isinstance(result, Binding) and result.node_name == "a"  # tie → first by name


def test_ties_go_to_the_first_node_by_name() -> None:
    result = schedule(pod(), [node("z"), node("m")], [])
    assert isinstance(result, Binding) and result.node_name == "m"


@pytest.mark.parametrize(
    ("containers", "inits", "overhead", "expected"),
    [
        ([(100, 10), (200, 20)], [], (0, 0), (300, 30)),
        ([(100, 10)], [(500, 5)], (0, 0), (500, 10)),
        ([(100, 10)], [], (50, 1), (150, 11)),
    ],
)
def test_pod_requests(
    containers: list[tuple[int, int]],
    inits: list[tuple[int, int]],
    overhead: tuple[int, int],
    expected: tuple[int, int],
) -> None:
    assert pod_requests(containers, inits, overhead) == expected
