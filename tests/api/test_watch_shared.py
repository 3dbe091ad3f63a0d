"""Every watch -- plain, with label or field selectors, as a Table -- is served from the hub's
shared read of the log: many selecting and Table watchers see exactly their events, in order,
without one log read of their own; and a selecting watch resumed from an old resourceVersion
(behind the hub's buffer) is still exact, then follows the hub."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from dockyard.server import loghub
from dockyard.server import watch as watch_module
from dockyard.server.context import ApiContext
from tests.api.conftest import ApiServer, running_server

PODS = "/api/v1/namespaces/default/pods"
MERGE = {"content-type": "application/merge-patch+json"}
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
Seen = list[tuple[str, str, str]]  # (type, name, resourceVersion)

# Watchers: (query, accept). Their expected events for the scenario below are in EXPECTED.
WATCHERS: dict[str, tuple[dict[str, str], str]] = {
    "plain": ({}, "application/json"),
    "web": ({"labelSelector": "tier=web"}, "application/json"),
    "db": ({"labelSelector": "tier=db"}, "application/json"),
    "not-web": ({"labelSelector": "tier!=web"}, "application/json"),
    "name=c": ({"fieldSelector": "metadata.name=c"}, "application/json"),
    "running": ({"fieldSelector": "status.phase=Running"}, "application/json"),
    "table": ({}, TABLE),
    "table-web": ({"labelSelector": "tier=web"}, TABLE),
    "web-running": (
        {"labelSelector": "tier=web", "fieldSelector": "status.phase=Running"},
        "application/json",
    ),
}
ALL = [
    ("ADDED", "a"),
    ("ADDED", "b"),
    ("ADDED", "c"),
    ("MODIFIED", "a"),
    ("MODIFIED", "b"),
    ("MODIFIED", "c"),
    ("DELETED", "a"),
    ("DELETED", "b"),
]
WEB = [("ADDED", "a"), ("ADDED", "c"), ("DELETED", "a"), ("ADDED", "b"), ("MODIFIED", "c"),
       ("DELETED", "b")]  # fmt: skip
DB = [("ADDED", "b"), ("ADDED", "a"), ("DELETED", "b"), ("DELETED", "a")]
EXPECTED = {
    "plain": ALL,
    "web": WEB,
    "db": DB,
    "not-web": DB,
    "name=c": [("ADDED", "c"), ("MODIFIED", "c")],
    "running": [("ADDED", "c")],
    "table": ALL,
    "table-web": WEB,
    "web-running": [("ADDED", "c")],
}


def pod(name: str, tier: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"tier": tier}},
        "spec": {"containers": [{"name": "c", "image": "busybox:latest"}]},
    }


def scenario(c: httpx.Client) -> None:
    """a, c enter tier=web; a moves to db and b to web; c starts Running; a and b go."""
    for name, tier in (("a", "web"), ("b", "db"), ("c", "web")):
        assert c.post(PODS, json=pod(name, tier)).status_code == 201
    for name, tier in (("a", "db"), ("b", "web")):
        patch = {"metadata": {"labels": {"tier": tier}}}
        assert c.patch(f"{PODS}/{name}", json=patch, headers=MERGE).status_code == 200
    running = {"status": {"phase": "Running"}}
    assert c.patch(f"{PODS}/c/status", json=running, headers=MERGE).status_code == 200
    for name in ("a", "b"):
        assert c.delete(f"{PODS}/{name}").status_code == 200


def parse(line: str, table: bool) -> tuple[str, str, str]:
    event = json.loads(line)
    obj = event["object"]
    if table:
        assert obj["kind"] == "Table" and len(obj["rows"]) == 1, obj
        meta = obj["rows"][0]["object"]["metadata"]
        assert obj["rows"][0]["cells"][0] == meta["name"]  # NAME column
    else:
        meta = obj["metadata"]
    return event["type"], meta["name"], meta["resourceVersion"]


def watch(api: ApiServer, rv: str, query: dict[str, str], accept: str, timeout: int) -> Seen:
    params = {"watch": "1", "resourceVersion": rv, "timeoutSeconds": str(timeout), **query}
    with (
        api.client() as c,
        c.stream("GET", PODS, params=params, headers={"accept": accept}) as response,
    ):
        assert response.status_code == 200, response.read()
        return [parse(line, accept == TABLE) for line in response.iter_lines() if line]


class ReadSpy:
    """Counts the watchers' own log reads (the real function still runs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = watch_module.read_changes

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(watch_module, "read_changes", counted)


def wait_until_the_hub_serves(api: ApiServer, spy: ReadSpy) -> None:
    """Poll: a watch from the head (its first BOOKMARK proves a full pass) reads no log."""
    deadline = time.monotonic() + 20
    while True:
        spy.calls = 0
        with api.client() as c:
            rv = c.get(PODS).json()["metadata"]["resourceVersion"]
            params = {"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true",
                      "timeoutSeconds": "10"}  # fmt: skip
            with c.stream("GET", PODS, params=params) as response:
                for line in response.iter_lines():
                    if line and json.loads(line)["type"] == "BOOKMARK":
                        break
        if spy.calls == 0:
            return
        assert time.monotonic() < deadline, "the watch hub never covered the head"


def test_many_selecting_and_table_watchers_share_one_read(
    api: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = ReadSpy(monkeypatch)
    wait_until_the_hub_serves(api, spy)
    with api.client() as c:
        start = c.get(PODS).json()["metadata"]["resourceVersion"]
    spy.calls = 0
    seen: dict[str, Seen] = {}
    errors: list[BaseException] = []

    def run(name: str, copy: int) -> None:
        query, accept = WATCHERS[name]
        try:
            seen[f"{name}#{copy}"] = watch(api, start, query, accept, timeout=4)
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(name, copy)) for name in WATCHERS for copy in range(2)
    ]
    for t in threads:
        t.start()
    with api.client() as c:
        scenario(c)
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert len(seen) == 2 * len(WATCHERS)
    rv_of = {(t, n): rv for t, n, rv in seen["plain#0"]}
    for key, events in seen.items():
        name = key.split("#")[0]
        assert [(t, n) for t, n, _ in events] == EXPECTED[name], key
        rvs = [int(rv) for _, _, rv in events]
        assert rvs == sorted(set(rvs)), key  # in log order, none repeated
        for t, n, rv in events:  # a selection change carries the update's resourceVersion
            assert int(rv) > int(start)
            if (t, n) in rv_of and t != "ADDED":
                assert int(rv) >= int(rv_of[("ADDED", n)])
    assert spy.calls == 0  # 18 watchers, no log read of their own: the hub read for them all


@pytest.fixture
def small_buffer_api(
    api_context: ApiContext, tmp_path: Path, tls: tuple[Path, Path]
) -> Iterator[ApiServer]:
    ctx = dataclasses.replace(api_context, watch_buffer_events=2)
    with running_server(ctx, tls) as url:
        yield ApiServer(url, ctx, tmp_path, tls[0])


def test_selecting_watch_resumes_exactly_from_every_old_version(
    small_buffer_api: ApiServer,
) -> None:
    api = small_buffer_api
    with api.client() as c:
        start = c.get(PODS).json()["metadata"]["resourceVersion"]
        scenario(c)
    with ThreadPoolExecutor(max_workers=16) as pool:  # each watch ends on its 1 s timeout
        futures = {n: pool.submit(watch, api, start, *WATCHERS[n], timeout=1) for n in WATCHERS}
        history = {name: future.result() for name, future in futures.items()}
        for name, events in history.items():
            assert [(t, n) for t, n, _ in events] == EXPECTED[name], name
        # From each old version of the log (far behind the 2-event buffer): exactly the rest.
        resumed = {
            (name, rv): pool.submit(watch, api, rv, *WATCHERS[name], timeout=1)
            for _, _, rv in history["plain"]
            for name in ("web", "db", "running", "table-web")
        }
        for (name, rv), future in resumed.items():
            expected = [e for e in history[name] if int(e[2]) > int(rv)]
            assert future.result() == expected, (name, rv)


def test_a_selecting_watch_behind_the_buffer_catches_up_and_follows(
    small_buffer_api: ApiServer,
) -> None:
    api = small_buffer_api
    with api.client() as c:
        start = c.get(PODS).json()["metadata"]["resourceVersion"]
        scenario(c)
    result: list[Seen] = []
    query, accept = WATCHERS["web"]
    watcher = threading.Thread(
        target=lambda: result.append(watch(api, start, query, accept, timeout=4))
    )
    watcher.start()
    with api.client() as c:
        # Whether these land before or after the watcher has caught up, it sees each once.
        assert c.post(PODS, json=pod("d", "web")).status_code == 201
        patch = {"metadata": {"labels": {"tier": "db"}}}
        assert c.patch(f"{PODS}/d", json=patch, headers=MERGE).status_code == 200
    watcher.join(timeout=30)
    assert [(t, n) for t, n, _ in result[0]] == [*WEB, ("ADDED", "d"), ("DELETED", "d")]


def test_objects_too_large_for_a_notification_reach_every_watcher(
    api: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub takes events from their notifications; one too large for a notification comes
    as its position, and the hub reads that one (and only that one) for all its watchers."""
    spy = ReadSpy(monkeypatch)
    hub_reads: list[int] = []
    real_read = loghub.read_events

    async def counted(conn: Any, positions: list[int]) -> Any:
        hub_reads.extend(positions)
        return await real_read(conn, positions)

    monkeypatch.setattr(loghub, "read_events", counted)
    with api.client() as c:
        rv = c.get(PODS).json()["metadata"]["resourceVersion"]
    with ThreadPoolExecutor(max_workers=3) as pool:
        # Attached throughout, so that the hub keeps every event for the watchers below.
        keeper = pool.submit(watch, api, rv, {}, "application/json", timeout=8)
        wait_until_the_hub_serves(api, spy)
        spy.calls = 0
        with api.client() as c:
            start = c.get(PODS).json()["metadata"]["resourceVersion"]
        plain = pool.submit(watch, api, start, {}, "application/json", timeout=3)
        web = pool.submit(watch, api, start, {"labelSelector": "tier=web"}, "application/json", 3)
        big = pod("big", "web")
        big["metadata"]["annotations"] = {"note": "x" * 9000}  # beyond a notification's 8,000
        with api.client() as c:
            created = c.post(PODS, json=big)
            assert created.status_code == 201
            moved = {"metadata": {"labels": {"tier": "db"}}}
            modified = c.patch(f"{PODS}/big", json=moved, headers=MERGE)
            assert modified.status_code == 200
            assert c.post(PODS, json=pod("small", "web")).status_code == 201
        plain_seen, web_seen = plain.result(), web.result()
        keeper.result()
    assert [(t, n) for t, n, _ in plain_seen] == [
        ("ADDED", "big"),
        ("MODIFIED", "big"),
        ("ADDED", "small"),
    ]
    # Leaving the selection is judged against the state before the update, read with it.
    assert [(t, n) for t, n, _ in web_seen] == [
        ("ADDED", "big"),
        ("DELETED", "big"),
        ("ADDED", "small"),
    ]
    assert spy.calls == 0  # served from the hub
    big_positions = [int(r.json()["metadata"]["resourceVersion"]) for r in (created, modified)]
    assert sorted(hub_reads) == big_positions  # the small ones came with their notification
