"""``pods/log`` served from a real Docker container through :class:`RuntimeLogSource`."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from dockyard.agent.docker_runtime import DockerRuntime
from dockyard.agent.runtime import ContainerSpec, HostNetwork
from dockyard.server.logs import RuntimeLogSource
from tests.api.conftest import ApiServer
from tests.docker.conftest import busybox_image

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures(busybox_image.__name__)]
PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture
def runtime() -> Iterator[DockerRuntime]:
    rt = DockerRuntime()
    yield rt
    rt.close()


def test_pod_log_reads_the_container_log(api: ApiServer, runtime: DockerRuntime) -> None:
    api.ctx.log_source = RuntimeLogSource(runtime)
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "logger"},
        "spec": {"containers": [{"name": "c", "image": "busybox:latest"}]},
    }
    with api.client() as c:
        uid = c.post(PODS, json=body).json()["metadata"]["uid"]
        assert c.get(f"{PODS}/logger/log").status_code == 400  # no container yet
        spec = ContainerSpec(
            pod_uid=uid,
            namespace="default",
            pod_name="logger",
            container_name="c",
            spec_hash="h",
            image="busybox:latest",
            network=HostNetwork(),
            command=("sh", "-c", "for i in 1 2 3; do echo line $i; done"),
        )
        container = runtime.create_container(spec)
        try:
            runtime.start_container(container)
            deadline = time.monotonic() + 10
            while runtime.inspect(container).state != "exited":
                assert time.monotonic() < deadline, "the container did not exit"
                time.sleep(0.05)
            full = c.get(f"{PODS}/logger/log")
            assert full.status_code == 200 and full.text == "line 1\nline 2\nline 3\n"
            assert c.get(f"{PODS}/logger/log", params={"tailLines": "1"}).text == "line 3\n"
            assert api.kubectl("logs", "logger", "--tail=2").stdout == "line 2\nline 3\n"
            limited = c.get(f"{PODS}/logger/log", params={"limitBytes": "4"})
            assert limited.text == "line"
            assert c.get(f"{PODS}/logger/log", params={"container": "c"}).text.count("\n") == 3
            previous = c.get(f"{PODS}/logger/log", params={"previous": "true"})
            assert previous.status_code == 400 and "previous" in previous.json()["message"]
            followed = c.get(f"{PODS}/logger/log", params={"follow": "true"})
            assert followed.text == "line 1\nline 2\nline 3\n"  # ends: the container exited
            wrong = c.get(f"{PODS}/logger/log", params={"container": "nope"})
            assert wrong.status_code == 400
        finally:
            runtime.remove_container(container, force=True)
