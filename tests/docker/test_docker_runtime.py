"""DockerRuntime against the real Docker engine (busybox:latest, no registry).

Every test gets its own pod uid and namespace; a finalizer removes every container it created.
Without a reachable engine the fixtures raise RuntimeUnavailable: the tests fail, never skip.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import docker
import pytest

from dockyard.agent.docker_runtime import DockerRuntime
from dockyard.agent.oom import with_known_oom
from dockyard.agent.runtime import (
    LABEL_CONTAINER_HASH,
    LABEL_MANAGED,
    ContainerInfo,
    ContainerNotFound,
    ContainerSpec,
    ImageNeverPullError,
    ImageNotFound,
    ImagePullError,
    JoinNetwork,
    RuntimeEvent,
    RuntimeUnavailable,
    SandboxSpec,
    instances_of,
)
from dockyard.agent.status import Terminated, state_from_runtime

pytestmark = pytest.mark.docker

IMAGE = "busybox:latest"
T = TypeVar("T")


def wait_for(check: Callable[[], T | None], *, timeout: float = 10.0, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.05)


@dataclass
class Pod:
    runtime: DockerRuntime
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    namespace: str = field(default_factory=lambda: f"test-{uuid.uuid4().hex[:8]}")
    name: str = "pod"
    sandbox_id: str = ""

    def start_sandbox(self) -> str:
        self.sandbox_id = self.runtime.create_sandbox(
            SandboxSpec(pod_uid=self.uid, namespace=self.namespace, pod_name=self.name)
        )
        return self.sandbox_id

    def spec(self, container: str, **overrides: Any) -> ContainerSpec:
        values: dict[str, Any] = {
            "pod_uid": self.uid,
            "namespace": self.namespace,
            "pod_name": self.name,
            "container_name": container,
            "spec_hash": "hash-" + container,
            "image": IMAGE,
            "network": JoinNetwork(self.sandbox_id),
        }
        values.update(overrides)
        return ContainerSpec(**values)

    def run(self, container: str, **overrides: Any) -> str:
        container_id = self.runtime.create_container(self.spec(container, **overrides))
        self.runtime.start_container(container_id)
        return container_id

    def wait_exited(self, container_id: str, timeout: float = 10.0) -> ContainerInfo:
        def exited() -> ContainerInfo | None:
            found = self.runtime.inspect(container_id)
            return found if found.state == "exited" else None

        return wait_for(exited, timeout=timeout, what=f"{container_id[:12]} to exit")


@pytest.fixture(scope="module")
def runtime() -> Iterator[DockerRuntime]:
    rt = DockerRuntime()
    rt.capacity()  # RuntimeUnavailable here fails every test of the module
    yield rt
    rt.close()


@pytest.fixture
def make_pod(runtime: DockerRuntime) -> Iterator[Callable[[], Pod]]:
    pods: list[Pod] = []

    def make() -> Pod:
        pod = Pod(runtime)
        pods.append(pod)
        return pod

    yield make
    for pod in pods:
        for container in runtime.list_containers(pod_uid=pod.uid):
            runtime.remove_container(container.id, force=True)
        assert runtime.list_containers(pod_uid=pod.uid) == []


@pytest.fixture
def pod(make_pod: Callable[[], Pod]) -> Pod:
    p = make_pod()
    p.start_sandbox()
    return p


class EventReader:
    """Drains an event stream in a thread (docker-engine.md §6: never block the stream)."""

    def __init__(self, runtime: DockerRuntime, since: str | None) -> None:
        self.stream = runtime.events(since=since)
        self.events: queue.Queue[RuntimeEvent] = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        try:
            for event in self.stream:
                self.events.put(event)
        except BaseException as exc:  # reported by the test thread
            self.error = exc

    def wait(self, match: Callable[[RuntimeEvent], bool], timeout: float = 10.0) -> RuntimeEvent:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if match(event):
                return event
        raise AssertionError(f"no matching event (reader error: {self.error!r})")

    def close(self) -> None:
        self.stream.close()
        self.thread.join(5)
        assert not self.thread.is_alive()
        assert self.error is None, self.error


def test_containers_of_a_pod_share_the_sandbox_network(pod: Pod, runtime: DockerRuntime) -> None:
    script = 'mkdir -p /www && echo "$GREETING from $(pwd)" > /www/index.html && exec "$@"'
    server = pod.run(
        "server",
        command=("sh", "-c", script, "sh"),
        args=("httpd", "-f", "-p", "8080", "-h", "/www"),
        env={"GREETING": "hello-pod"},
        working_dir="/tmp",
    )
    fetch = "for i in $(seq 100); do wget -q -O - http://127.0.0.1:8080/ && exit 0; sleep 0.1; done"
    client = pod.run("client", command=("sh", "-c", fetch + "; exit 1"))

    finished = pod.wait_exited(client)
    assert finished.exit_code == 0, runtime.logs(client)
    assert runtime.logs(client) == b"hello-pod from /tmp\n"
    assert runtime.inspect(server).state == "running"

    ip = runtime.pod_ip(pod.sandbox_id)
    assert ip.count(".") == 3
    listed = {c.id: c for c in runtime.list_containers(pod_uid=pod.uid)}
    assert set(listed) == {pod.sandbox_id, server, client}
    sandbox = listed[pod.sandbox_id].identity
    assert sandbox is not None and sandbox.sandbox and sandbox.container_name == ""
    identity = listed[server].identity
    assert identity is not None
    assert (identity.pod_uid, identity.namespace, identity.pod_name) == (
        pod.uid,
        pod.namespace,
        "pod",
    )
    assert (identity.container_name, identity.spec_hash, identity.restart_count) == (
        "server",
        "hash-server",
        0,
    )
    assert listed[server].labels[LABEL_MANAGED] == "true"
    assert listed[server].labels[LABEL_CONTAINER_HASH] == "hash-server"


def test_args_alone_keep_the_image_entrypoint_and_command_alone_drops_cmd(pod: Pod) -> None:
    # busybox:latest has no ENTRYPOINT and CMD ["/bin/sh"]: args replace CMD.
    only_args = pod.run("args", args=("echo", "from-args"))
    only_command = pod.run("command", command=("echo", "from-command"))
    assert pod.wait_exited(only_args).exit_code == 0
    assert pod.wait_exited(only_command).exit_code == 0
    assert pod.runtime.logs(only_args) == b"from-args\n"
    assert pod.runtime.logs(only_command) == b"from-command\n"


def test_exit_code_3_is_reported_as_error(pod: Pod) -> None:
    container = pod.run("fails", command=("sh", "-c", "exit 3"))
    info = pod.wait_exited(container)
    assert (info.exit_code, info.oom_killed) == (3, False)
    assert info.started_at is not None and info.finished_at is not None
    state = state_from_runtime(info)
    assert isinstance(state, Terminated)
    assert (state.reason, state.exit_code) == ("Error", 3)


def test_memory_limit_oom_kill_is_reported(pod: Pod, runtime: DockerRuntime) -> None:
    # The engine reports an OOM kill as State.OOMKilled or as an `oom` event. With cgroup v2
    # the `oom` event may come after `die` (up to ~2 s on a loaded machine), and Engine 20.10
    # then leaves State.OOMKilled false for good (agent/oom.py): wait for either, by deadline.
    reader = EventReader(runtime, since=None)  # live events, subscribed before the start
    try:
        container = pod.run(
            "hog",
            command=("sh", "-c", "head -c 64m /dev/zero | tail"),
            memory_limit_bytes=8 * 1024 * 1024,
        )
        info = pod.wait_exited(container)
        assert (info.exit_code, info.memory_limit_bytes) == (137, 8 * 1024 * 1024)
        if not info.oom_killed:
            reader.wait(lambda e: (e.container_id, e.action) == (container, "oom"), timeout=10)
    finally:
        reader.close()
    state = state_from_runtime(with_known_oom([info], {container})[0])
    assert isinstance(state, Terminated) and (state.reason, state.exit_code) == ("OOMKilled", 137)


def test_resource_limits_reach_the_engine(pod: Pod) -> None:
    container = pod.runtime.create_container(
        pod.spec("limited", command=("true",), memory_limit_bytes=64 << 20, nano_cpus=500_000_000)
    )
    client = docker.DockerClient(version="auto")
    try:
        host_config = client.api.inspect_container(container)["HostConfig"]
    finally:
        client.close()
    assert host_config["Memory"] == 64 << 20
    assert host_config["MemorySwap"] == 64 << 20
    assert host_config["NanoCpus"] == 500_000_000
    assert host_config["NetworkMode"] == f"container:{pod.sandbox_id}"
    assert host_config["RestartPolicy"]["Name"] in ("", "no")


def test_exec_returns_output_and_a_hang_is_bounded(pod: Pod, runtime: DockerRuntime) -> None:
    result = runtime.exec(pod.sandbox_id, ["sh", "-c", "echo out; echo err >&2; exit 4"], timeout=5)
    assert (result.exit_code, result.timed_out) == (4, False)
    assert sorted(result.output.splitlines()) == [b"err", b"out"]

    started = time.monotonic()
    hung = runtime.exec(pod.sandbox_id, ["sleep", "37"], timeout=1.0)
    elapsed = time.monotonic() - started
    assert hung.timed_out and hung.exit_code is None
    assert 1.0 <= elapsed < 4.0

    def sleeper_gone() -> bool:
        ps = runtime.exec(pod.sandbox_id, ["ps"], timeout=5).output
        return b"sleep 37" not in ps

    wait_for(sleeper_gone, timeout=5, what="the timed-out exec to be killed")


def test_stop_gives_grace_then_kills(pod: Pod, runtime: DockerRuntime) -> None:
    polite = pod.run(
        "polite",
        command=(
            "sh",
            "-c",
            "trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 0.1; done",
        ),
    )
    stubborn = pod.run(
        "stubborn",
        command=("sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"),
    )
    for container in (polite, stubborn):
        wait_for(lambda c=container: b"ready" in runtime.logs(c), what="trap installed")

    started = time.monotonic()
    runtime.stop_container(polite, timeout=10)
    assert time.monotonic() - started < 5
    info = runtime.inspect(polite)
    assert (info.state, info.exit_code) == ("exited", 0)
    assert runtime.logs(polite).endswith(b"bye\n")

    started = time.monotonic()
    runtime.stop_container(stubborn, timeout=1)
    elapsed = time.monotonic() - started
    info = runtime.inspect(stubborn)
    assert 1.0 <= elapsed < 6
    assert (info.state, info.exit_code, info.oom_killed) == ("exited", 137, False)

    runtime.kill_container(stubborn)  # already stopped: a no-op, not an error


def test_kill_sends_sigkill(pod: Pod, runtime: DockerRuntime) -> None:
    container = pod.run("victim", command=("sleep", "30"))
    wait_for(lambda: runtime.inspect(container).state == "running", what="running")
    runtime.kill_container(container)
    assert pod.wait_exited(container).exit_code == 137


def test_missing_image_is_an_image_pull_error(pod: Pod, runtime: DockerRuntime) -> None:
    missing = f"dockyard-test/missing-{uuid.uuid4().hex[:8]}:v1"
    with pytest.raises(ImagePullError) as pulled:
        runtime.ensure_image(missing, pull_policy="IfNotPresent")
    assert pulled.value.reason == "ErrImagePull"
    assert f'Failed to pull image "{missing}"' in pulled.value.message

    with pytest.raises(ImageNeverPullError) as never:
        runtime.ensure_image(missing, pull_policy="Never")
    assert never.value.reason == "ErrImageNeverPull"
    assert never.value.message == (
        f'Container image "{missing}" is not present with pull policy of Never'
    )

    with pytest.raises(ImageNotFound):
        runtime.create_container(pod.spec("ghost", image=missing))

    # No registry here: Always fails even though the image is present, as in Kubernetes.
    with pytest.raises(ImagePullError):
        runtime.ensure_image(IMAGE, pull_policy="Always")
    assert runtime.ensure_image(IMAGE, pull_policy="IfNotPresent").startswith("sha256:")
    assert runtime.ensure_image(IMAGE, pull_policy="Never").startswith("sha256:")
    assert runtime.capacity().cpus >= 1  # the runtime is still fine


def test_events_report_die_with_exit_code_and_resume_with_since(
    pod: Pod, runtime: DockerRuntime
) -> None:
    reader = EventReader(runtime, since=f"{int(time.time()) - 1}.000000000")
    try:
        container = pod.run("short", command=("sh", "-c", "exit 7"))
        start = reader.wait(lambda e: e.container_id == container and e.action == "start")
        die = reader.wait(lambda e: e.container_id == container and e.action == "die")
    finally:
        reader.close()
    assert die.exit_code == 7
    assert die.identity is not None and die.identity.container_name == "short"
    assert die.identity.pod_uid == pod.uid
    assert die.time_nano >= start.time_nano

    # Resuming from the start event replays what followed it, the die included.
    resumed = EventReader(runtime, since=start.since)
    try:
        again = resumed.wait(lambda e: e.container_id == container and e.action == "die")
    finally:
        resumed.close()
    assert again.dedupe_key == die.dedupe_key


def test_logs_tail_previous_timestamps_and_follow(pod: Pod, runtime: DockerRuntime) -> None:
    first = pod.run("app", command=("sh", "-c", "echo one; echo two; echo three"))
    pod.wait_exited(first)
    second = pod.run(
        "app",
        restart_count=1,
        command=("sh", "-c", "echo second-run; while :; do echo tick; sleep 0.1; done"),
    )
    current, previous = instances_of(
        runtime.list_containers(pod_uid=pod.uid), pod_uid=pod.uid, container_name="app"
    )
    assert (current.id, previous.id) == (second, first)

    assert runtime.logs(previous.id) == b"one\ntwo\nthree\n"
    assert runtime.logs(previous.id, tail=2) == b"two\nthree\n"
    stamped = runtime.logs(previous.id, tail=1, timestamps=True)
    assert stamped.endswith(b" three\n") and stamped[:2] == b"20"

    stream = runtime.follow_logs(current.id)
    received = b""
    for chunk in stream:
        received += chunk
        if received.count(b"tick") >= 3:
            break
    stream.close()
    assert received.startswith(b"second-run\ntick\n")


def test_foreign_containers_are_invisible_and_untouchable(pod: Pod, runtime: DockerRuntime) -> None:
    client = docker.DockerClient(version="auto")
    foreign = client.containers.run(IMAGE, ["sleep", "30"], detach=True, labels={"x": "1"})
    try:
        ids = {c.id for c in runtime.list_containers()}
        assert pod.sandbox_id in ids
        assert foreign.id not in ids
        with pytest.raises(ContainerNotFound):
            runtime.inspect(foreign.id)
        with pytest.raises(ContainerNotFound):
            runtime.stop_container(foreign.id, timeout=0)
        with pytest.raises(ContainerNotFound):
            runtime.exec(foreign.id, ["true"], timeout=1)
        runtime.remove_container(foreign.id, force=True)  # refused quietly
        foreign.reload()
        assert foreign.status == "running"
    finally:
        foreign.remove(force=True)
        client.close()


def test_unreachable_engine_raises_runtime_unavailable() -> None:
    gone = DockerRuntime(base_url="unix:///nonexistent/docker.sock")
    with pytest.raises(RuntimeUnavailable):
        gone.list_containers()
    with pytest.raises(RuntimeUnavailable):
        gone.events()


def test_capacity_comes_from_docker_info(runtime: DockerRuntime) -> None:
    capacity = runtime.capacity()
    assert capacity.cpus >= 1
    assert capacity.memory_bytes > 64 << 20
    assert capacity.api_version.startswith("1.")
