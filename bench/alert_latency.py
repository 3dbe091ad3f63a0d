"""Alert latency: from a container's death to the Slack server receiving the message.

Run: .venv/bin/python -m bench.alert_latency [--restarts N] [--burst PODS] [--synthetic]
     [--command 'sleep 0.3; exit 3']
(uses DOCKYARD_DATABASE_URL or a throwaway PostgreSQL, the local Docker engine with the offline
``busybox:latest`` image, and a local fake Slack Web API from tests/notify/fake_slack.py).

1. Latency with the real node agent (default): an in-process Agent runs a crash-looping pod
   (``sh -c 'exit 3'``, or ``--command``; restart back-off capped at RESTART_CAP s so restarts
   stay a little over the two messages per restart, reply + in-place update, that Slack's one
   message per second per channel allows). Latency = the fake Slack's receive time of the
   message that reports a death minus Docker's ``die`` event time for that container (same
   host clock); the k-th death is reported by the root (k = 1) or the reply ``restartCount k``.
   Floor: Docker's own create -> start time for each new container.
1b. With ``--synthetic``: N times, a real container exits (``sh -c 'exit 1'``); as soon as
   its death is seen (``wait()``), the pod's status is reported the way the agent reports it
   (``ObjectStatusUpdated``, restartCount + 1). The notifier and sender run in this process as
   ``dockyard notifier`` runs them (NOTIFY wake-ups, paced senders). Latency = the fake Slack's
   receive time minus the engine's ``State.FinishedAt`` (same host clock). Restarts are spaced
   a little over Slack's one-message-per-second pacing, so the figure is the pipeline's, not
   the queue's. Floor: the time Docker takes to start the same container again.
2. Burst: PODS pods of one Deployment crash at once: how many messages, how many 429s, how
   long until all is delivered (the fake answers 429 to a second post within 1 s per channel).

Alertmanager's defaults for comparison: group_wait 30 s before the first notification of a
group (plus the scrape interval and any ``for:``; kubernetes-mixin's KubePodCrashLooping uses
``for: 15m``), and 429s are not retried.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time
from datetime import datetime
from typing import Any

import docker
from tests.docker.agent_support import AgentHarness, container
from tests.notify.conftest import crash, make_deployment, make_pod, make_route, set_status
from tests.notify.docker_events import ContainerEvents
from tests.notify.fake_slack import TOKEN, FakeSlack

import dockyard.notify  # noqa: F401  (registers AlertRoute)
from bench._db import bench_database
from dockyard.notify.service import NotifierService
from dockyard.settings import Settings
from dockyard.store import migrations
from dockyard.store.db import make_engine
from dockyard.store.events import EventStore
from dockyard.store.writer import ObjectWriter

IMAGE = "busybox:latest"
RESTART_CAP = 2.0  # the agent's crash back-off cap in the agent mode (kubelet's is 300 s)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def _finished_at(container: Any) -> float:
    container.reload()
    text = container.attrs["State"]["FinishedAt"]
    head, _, rest = text.partition(".")
    fraction = rest.rstrip("Z")[:6]
    return datetime.fromisoformat(f"{head}.{fraction:0<6}+00:00").timestamp()


def _service(url: str, store: EventStore, slack: FakeSlack) -> NotifierService:
    settings = Settings(
        database_url=url,
        slack_token=TOKEN,  # type: ignore[arg-type]
        slack_api_url=slack.url,
        poll_interval_seconds=1.0,
        notify_channel_interval_seconds=1.0,
        notify_sender_concurrency=2,
    )
    service = NotifierService(store.engine, store, url, settings)
    service.start()
    return service


def latency(url: str, restarts: int) -> tuple[list[float], list[float]]:
    engine = make_engine(url, pool_size=10)
    store = EventStore(engine)
    writer = ObjectWriter(store)
    slack = FakeSlack(enforce_rate=0.9)
    client = docker.from_env()
    container = client.containers.create(
        IMAGE, ["sh", "-c", "exit 1"], labels={"io.dockyard.bench": "alert-latency"}
    )
    service = _service(url, store, slack)
    latencies: list[float] = []
    floors: list[float] = []
    try:
        make_route(writer, "bench", namespaces=["bench"])
        pod = make_pod(writer, "bench", "crasher")
        for n in range(1, restarts + 1):
            started = time.perf_counter()
            container.start()
            floors.append(time.perf_counter() - started)
            container.wait()
            died = _finished_at(container)
            set_status(writer, pod, restart_count=n, exit_code=1, reason="Error", running=True)
            want = re.compile(rf"restartCount {n}(?!\d)")
            deadline = time.monotonic() + 30
            while True:
                with slack.lock:
                    # Restart 1 opens the thread (its root); later ones are thread replies.
                    hit = next(
                        (
                            m
                            for m in slack.messages
                            if (n == 1 and m.thread_ts is None)
                            or (m.thread_ts is not None and want.search(m.text))
                        ),
                        None,
                    )
                if hit is not None:
                    received_wall = time.time() - (time.monotonic() - hit.received)
                    latencies.append(received_wall - died)
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"restart {n} never reached Slack")
                time.sleep(0.005)
            time.sleep(1.1)  # stay under the channel's one message per second
    finally:
        service.stop()
        container.remove(force=True)
        slack.close()
        store.dispose()
        engine.dispose()
    return latencies, floors


def agent_latency(
    url: str, restarts: int, command: str = "exit 3"
) -> tuple[list[float], list[float], list[float]]:
    """Death -> Slack with the real agent; also Docker's start time and death -> next start.

    ``command`` is the crashing container's shell command: ``exit 3`` is usually dead before
    the agent's relist after the start, ``sleep 0.3; exit 3`` is always seen running first
    (its death then goes from running into the back-off, the case that used to lag)."""
    engine = make_engine(url, pool_size=10)
    store = EventStore(engine)
    slack = FakeSlack(enforce_rate=0.9)
    service = _service(url, store, slack)
    agent = AgentHarness(store, max_container_restart_period=RESTART_CAP)
    events = ContainerEvents(agent.namespace, "app")
    try:
        make_route(agent.writer, "bench-agent", namespaces=[agent.namespace])
        agent.start_agent()
        agent.create_pod("crasher", [container("app", "sh", "-c", command)], restartPolicy="Always")
        want = re.compile(rf"restartCount {restarts}(?!\d)")
        deadline = time.monotonic() + 60 + restarts * (RESTART_CAP + 2)
        while True:
            with slack.lock:
                done = any(m.thread_ts is not None and want.search(m.text) for m in slack.messages)
            if done:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"restart {restarts} never reached Slack")
            time.sleep(0.05)
        agent.stop_agent()
        offset = time.time() - time.monotonic()
        with slack.lock:
            received: dict[int, float] = {}
            for message in slack.messages:
                if message.thread_ts is None:
                    received[1] = message.received + offset
                elif found := re.search(r"restartCount (\d+)", message.text):
                    received.setdefault(int(found.group(1)), message.received + offset)
    finally:
        service.stop()
        agent.cleanup()
        events.close()
        slack.close()
        store.dispose()
        engine.dispose()
    deaths, creates, starts = (events.times(s) for s in ("die", "create", "start"))
    latencies = [received[k] - died for k, died in enumerate(deaths, 1) if k in received]
    floors = [start - create for create, start in zip(creates, starts, strict=False)]
    to_next_start = [start - died for died, start in zip(deaths, starts[1:], strict=False)]
    if len(latencies) < restarts or min(latencies) < 0:
        raise RuntimeError(f"deaths and messages do not pair up: {len(deaths)} deaths, {received}")
    return latencies[:restarts], floors, to_next_start


def burst(url: str, pods: int) -> dict[str, float]:
    engine = make_engine(url, pool_size=10)
    store = EventStore(engine)
    writer = ObjectWriter(store)
    slack = FakeSlack(enforce_rate=0.9)
    try:
        make_route(writer, "burst", namespaces=["burst"])
        _deployment, rs = make_deployment(writer, "burst", "api")
        created = [make_pod(writer, "burst", f"api-{n}", owner=rs) for n in range(pods)]
        service = _service(url, store, slack)
        start = time.monotonic()
        for pod in created:
            crash(writer, pod, 1)
        deadline = time.monotonic() + 300
        while True:
            with engine.connect() as conn:
                pending = conn.exec_driver_sql(
                    "SELECT count(*) FROM notify_outbox WHERE state = 'pending'"
                ).scalar_one()
                total = conn.exec_driver_sql("SELECT count(*) FROM notify_outbox").scalar_one()
            if total and not pending:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("burst not delivered in 300 s")
            time.sleep(0.1)
        elapsed = time.monotonic() - start
        service.stop()
        return {
            "pods": pods,
            "roots": len(slack.roots()),
            "messages": len(slack.messages),
            "updates": sum(m.updates for m in slack.messages),
            "429s": slack.rate_limited,
            "seconds": elapsed,
        }
    finally:
        slack.close()
        store.dispose()
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=50)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument(
        "--synthetic",
        action="store_true",
        help="report the Pod status from the bench instead of running the real agent",
    )
    parser.add_argument(
        "--command",
        default="exit 3",
        help="the crashing container's shell command in the agent mode (default: exit 3; "
        "'sleep 0.3; exit 3' is seen running before each death)",
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    with bench_database() as url:
        engine = make_engine(url)
        migrations.upgrade(engine)
        engine.dispose()
        backoff: list[float] = []
        if args.synthetic:
            latencies, floors = latency(url, args.restarts)
        else:
            latencies, floors, backoff = agent_latency(url, args.restarts, args.command)
        result = burst(url, args.burst) if args.burst else None
    mode = "bench writes the Pod status" if args.synthetic else f"real node agent, {args.command!r}"
    print(
        f"alert latency over {len(latencies)} restarts ({mode}; container death -> Slack receives)"
    )
    print(
        f"  Dockyard        p50 {statistics.median(latencies):6.3f} s   "
        f"p99 {percentile(latencies, 0.99):6.3f} s   max {max(latencies):6.3f} s"
    )
    print(
        f"  Docker floor    p50 {statistics.median(floors):6.3f} s   "
        f"p99 {percentile(floors, 0.99):6.3f} s   (container create -> start)"
    )
    if backoff:
        print(
            f"  death -> next start p50 {statistics.median(backoff):6.3f} s "
            f"(agent crash back-off, capped at {RESTART_CAP} s here; kubelet: 10 s .. 300 s)"
        )
    print("  Alertmanager    >= 30 s (group_wait default, before scrape interval and for:)")
    load_after = os.getloadavg()
    print(f"load average (1, 5, 15 min): before {load_before}, after {load_after}")
    if result is None:
        return
    print(
        f"burst: {result['pods']} pods of one Deployment crash at once -> "
        f"{result['roots']} root, {result['messages']} messages, {result['updates']} "
        f"in-place updates, {result['429s']} 429s (all retried), "
        f"{result['seconds']:.1f} s to deliver everything"
    )


if __name__ == "__main__":
    main()
