"""Real manifests from the Kubernetes documentation load, default and validate; broken ones fail
with the exact Kubernetes field path and error kind (written in each file's ``# expect:`` lines)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.model.cluster import Namespace, Service
from dockyard.model.kinds import UnknownKind
from dockyard.model.manifests import load_path
from dockyard.model.meta import KubeObject, to_dict
from dockyard.model.pod import Pod
from dockyard.model.validation import InvalidObject, parse_object, validate
from dockyard.model.workloads import DaemonSet, Deployment, ReplicaSet, ReplicationController

MANIFESTS = Path(__file__).parent / "manifests"
GOOD = sorted((MANIFESTS / "good").iterdir())
BAD = sorted((MANIFESTS / "bad").iterdir())


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_documentation_manifest_loads_and_validates(path: Path) -> None:
    (document,) = load_path(path)
    obj = parse_object(document.data)
    assert validate(obj) == []
    # What we serialise is accepted again and comes back identical (a stored object round-trips).
    assert to_dict(parse_object(to_dict(obj))) == to_dict(obj)


def _parse_good(name: str) -> KubeObject:
    (document,) = load_path(MANIFESTS / "good" / name)
    return parse_object(document.data)


def test_nginx_deployment_gets_kubernetes_defaults() -> None:
    deployment = _parse_good("nginx-deployment.yaml")
    assert isinstance(deployment, Deployment)
    assert deployment.metadata.namespace == "default"
    assert deployment.spec.replicas == 3
    assert deployment.spec.strategy.type == "RollingUpdate"
    assert deployment.spec.strategy.rolling_update is not None
    assert deployment.spec.strategy.rolling_update.max_surge == "25%"
    assert deployment.spec.strategy.rolling_update.max_unavailable == "25%"
    assert deployment.spec.revision_history_limit == 10
    assert deployment.spec.progress_deadline_seconds == 600
    pod_spec = deployment.spec.template.spec
    assert pod_spec.restart_policy == "Always"
    assert pod_spec.termination_grace_period_seconds == 30
    (container,) = pod_spec.containers
    assert container.image_pull_policy == "IfNotPresent"
    assert container.ports[0].protocol == "TCP"


def test_frontend_replicaset_untagged_image_pulls_always() -> None:
    replica_set = _parse_good("frontend.yaml")
    assert isinstance(replica_set, ReplicaSet)
    assert replica_set.spec.template.spec.containers[0].image_pull_policy == "Always"


def test_exec_liveness_probe_keeps_given_values_and_defaults_the_rest() -> None:
    pod = _parse_good("exec-liveness.yaml")
    assert isinstance(pod, Pod)
    probe = pod.spec.containers[0].liveness_probe
    assert probe is not None and probe.exec is not None
    assert probe.exec.command == ["cat", "/tmp/healthy"]
    assert (probe.initial_delay_seconds, probe.period_seconds) == (5, 5)
    assert (probe.timeout_seconds, probe.success_threshold, probe.failure_threshold) == (1, 1, 3)


def test_http_liveness_probe_defaults_scheme() -> None:
    pod = _parse_good("http-liveness.yaml")
    assert isinstance(pod, Pod)
    probe = pod.spec.containers[0].liveness_probe
    assert probe is not None and probe.http_get is not None
    assert probe.http_get.port == 8080
    assert probe.http_get.scheme == "HTTP"
    assert probe.http_get.http_headers[0].name == "Custom-Header"


def test_lifecycle_events_hooks() -> None:
    pod = _parse_good("lifecycle-events.yaml")
    assert isinstance(pod, Pod)
    lifecycle = pod.spec.containers[0].lifecycle
    assert lifecycle is not None
    assert lifecycle.post_start is not None and lifecycle.post_start.exec is not None
    assert lifecycle.post_start.exec.command[:2] == ["/bin/sh", "-c"]
    assert lifecycle.pre_stop is not None and lifecycle.pre_stop.exec is not None


def test_daemonset_update_strategy_defaults_and_requests() -> None:
    daemon_set = _parse_good("daemonset.yaml")
    assert isinstance(daemon_set, DaemonSet)
    assert daemon_set.metadata.namespace == "kube-system"
    rolling = daemon_set.spec.update_strategy.rolling_update
    assert rolling is not None
    assert (rolling.max_unavailable, rolling.max_surge) == (1, 0)
    resources = daemon_set.spec.template.spec.containers[0].resources
    assert resources.requests == {"cpu": "100m", "memory": "200Mi"}
    assert daemon_set.spec.template.spec.tolerations[0].effect == "NoSchedule"


def test_replication_controller_yaml_and_flow_style_are_the_same_object() -> None:
    block = _parse_good("replication.yaml")
    flow = _parse_good("replication-flow.yaml")
    assert isinstance(block, ReplicationController)
    assert to_dict(block) == to_dict(flow)
    assert block.spec.selector == {"app": "nginx"}


def test_service_defaults() -> None:
    service = _parse_good("nginx-service.yaml")
    assert isinstance(service, Service)
    assert service.spec.type == "ClusterIP"
    assert service.spec.session_affinity == "None"
    assert service.spec.ports[0].target_port == 80


def test_namespace_json() -> None:
    namespace = _parse_good("namespace-dev.json")
    assert isinstance(namespace, Namespace)
    assert namespace.metadata.namespace is None
    assert namespace.metadata.labels["kubernetes.io/metadata.name"] == "development"
    assert namespace.status.phase == "Active"


def _expected(path: Path) -> list[str]:
    prefix = "# expect: "
    lines = path.read_text().splitlines()
    return [line.removeprefix(prefix) for line in lines if line.startswith(prefix)]


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_broken_manifest_names_the_field(path: Path) -> None:
    expected = _expected(path)
    assert expected, f"{path.name} has no '# expect:' line"
    (document,) = load_path(path)
    with pytest.raises((InvalidObject, UnknownKind)) as caught:
        parse_object(document.data)
    error = caught.value
    if isinstance(error, InvalidObject):
        assert [str(field_error) for field_error in error.errors] == expected
    else:
        assert [str(error)] == expected
