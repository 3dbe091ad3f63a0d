"""The watch hub's shared reader: many watchers, one read of the log each wake-up.

The hub's buffer is made tiny here so that watchers fall behind it and must read the log
themselves before they catch up: either way each sees every event once, in order.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time

import pytest

from dockyard.server.context import ApiContext
from tests.api.conftest import ApiServer
from tests.api.test_watch_resume import PODS, events, pod

WATCHERS = 4
PODS_WRITTEN = 7  # more than the buffer holds


@pytest.fixture
def api_context(api_context: ApiContext) -> ApiContext:
    return dataclasses.replace(api_context, watch_buffer_events=2)


def test_concurrent_watchers_each_see_every_event_once(api: ApiServer) -> None:
    with api.client() as c:
        start = c.get(PODS).json()["metadata"]["resourceVersion"]
    seen: list[list[str]] = [[] for _ in range(WATCHERS)]
    streaming = threading.Barrier(WATCHERS + 1, timeout=30)

    def watch(index: int) -> None:
        params = {"watch": "1", "resourceVersion": start, "timeoutSeconds": "20"}
        with api.client() as c, c.stream("GET", PODS, params=params) as response:
            assert response.status_code == 200
            streaming.wait()
            for line in response.iter_lines():
                if line:
                    seen[index].append(json.loads(line)["object"]["metadata"]["name"])
                if len(seen[index]) == PODS_WRITTEN:
                    return

    threads = [threading.Thread(target=watch, args=(i,)) for i in range(WATCHERS)]
    for t in threads:
        t.start()
    streaming.wait()
    names = [f"p{i}" for i in range(PODS_WRITTEN)]
    with api.client() as c:
        for name in names:
            assert c.post(PODS, json=pod(name)).status_code == 201
    deadline = time.monotonic() + 30
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    assert seen == [names] * WATCHERS


def test_resume_from_behind_the_buffer_then_follow_it(api: ApiServer) -> None:
    with api.client() as c:
        start = c.get(PODS).json()["metadata"]["resourceVersion"]
        for i in range(PODS_WRITTEN):
            assert c.post(PODS, json=pod(f"p{i}")).status_code == 201
    history = events(api, start)
    assert [(t, n) for t, n, _ in history] == [("ADDED", f"p{i}") for i in range(PODS_WRITTEN)]
    for index, (_, _, rv) in enumerate(history):
        assert events(api, rv) == history[index + 1 :]
