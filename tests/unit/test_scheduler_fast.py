"""``schedule_fast`` (bound pods summed up per node) decides exactly as ``schedule``."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from dockyard.controllers.scheduler import schedule_fast
from dockyard.controllers.scheduler_plan import Binding, NodeUsage, NodeView, schedule
from dockyard.controllers.views import HostPort, PodView, Taint, Toleration


def _random_case(rand: random.Random) -> tuple[PodView, list[NodeView], list[PodView]]:
    nodes = [
        NodeView(
            name=f"n{i}",
            labels={"zone": rand.choice("ab")},
            taints=tuple(
                Taint("dedicated", rand.choice(["NoSchedule", "PreferNoSchedule"]), "x")
                for _ in range(rand.randint(0, 1))
            ),
            allocatable_cpu_millis=rand.choice([1000, 2000, 4000]),
            allocatable_memory_bytes=rand.choice([2, 4, 8]) * 2**30,
            allocatable_pods=rand.choice([3, 10, 110]),
            ready=rand.choice(["True", "True", "True", "False", "Unknown"]),
        )
        for i in range(rand.randint(1, 6))
    ]
    bound = [
        PodView(
            uid=f"b{i}",
            name=f"b{i}",
            owner_uid=rand.choice(["rs1", "rs2", None]),
            node_name=rand.choice(nodes).name,
            phase=rand.choice(["Running", "Running", "Succeeded"]),
            cpu_request_millis=rand.choice([0, 100, 500]),
            memory_request_bytes=rand.choice([0, 2**28]),
            host_ports=(HostPort(8080),) if rand.random() < 0.1 else (),
        )
        for i in range(rand.randint(0, 25))
    ]
    pod = PodView(
        uid="p",
        name="p",
        owner_uid=rand.choice(["rs1", None]),
        cpu_request_millis=rand.choice([0, 250, 1500]),
        memory_request_bytes=rand.choice([0, 2**29]),
        node_selector={"zone": "a"} if rand.random() < 0.3 else {},
        tolerations=(Toleration("dedicated", "Exists"),) if rand.random() < 0.3 else (),
        host_ports=(HostPort(8080),) if rand.random() < 0.2 else (),
    )
    return pod, nodes, bound


@pytest.mark.parametrize("seed", range(300))
def test_schedule_fast_matches_schedule(seed: int) -> None:
    pod, nodes, bound = _random_case(random.Random(seed))
    usage: dict[str, NodeUsage] = {}
    for other in bound:
        usage.setdefault(other.node_name, NodeUsage()).add(other)
    assert schedule_fast(pod, nodes, usage) == schedule(pod, nodes, bound)


@pytest.mark.parametrize("seed", range(100))
def test_running_totals_follow_a_batch_of_bindings(seed: int) -> None:
    """Binding pods one after another and adding each to its node's totals decides as
    re-reading every bound pod would."""
    rand = random.Random(seed)
    _, nodes, bound = _random_case(rand)
    usage: dict[str, NodeUsage] = {}
    for other in bound:
        usage.setdefault(other.node_name, NodeUsage()).add(other)
    for index in range(10):
        pod, _, _ = _random_case(rand)
        pod = replace(pod, uid=f"new{index}", name=f"new{index}")
        decision = schedule_fast(pod, nodes, usage)
        assert decision == schedule(pod, nodes, bound)
        if isinstance(decision, Binding):
            placed = replace(pod, node_name=decision.node_name, phase="Running")
            bound.append(placed)
            usage.setdefault(decision.node_name, NodeUsage()).add(placed)


def test_daemon_pod_only_considers_its_node() -> None:
    nodes = [NodeView("a", allocatable_cpu_millis=1000), NodeView("b", allocatable_cpu_millis=9000)]
    pod = PodView(uid="p", name="p", affinity_node="a")
    decision = schedule_fast(pod, nodes, {})
    assert getattr(decision, "node_name", None) == "a"
