"""Crash-loop and image-pull back-off against k8s-semantics.md §3."""

from __future__ import annotations

import json

import pytest

from dockyard.agent.backoff import (
    Backoff,
    BackoffEntry,
    BackoffPolicy,
    ContainerRun,
    crash_loop_event_message,
    crash_loop_key,
    crash_loop_message,
    format_go_duration,
    image_pull_backoff_message,
    image_pull_key,
    replay_restarts,
)

KEY = crash_loop_key(
    pod_name="web", namespace="default", pod_uid="u1", container_name="app", spec_hash="h1"
)


def simulate_crash_loop(
    backoff: Backoff, *, restarts: int, run_for: float, tick: float = 0.5
) -> list[tuple[float, float]]:
    """Drive the kubelet's doBackOff with a clock ticking every ``tick`` seconds.

    Each instance runs ``run_for`` seconds and exits. Returns (finishedAt, restartedAt) pairs.
    """
    now = 0.0
    started = now
    history = []
    while len(history) < restarts:
        finished = started + run_for
        now = max(now, finished)
        while backoff.is_in_backoff_since(KEY, finished, now):
            now += tick
        backoff.next(KEY, finished, now)
        history.append((finished, now))
        started = now
    return history


def test_key_is_the_kubelet_stable_key() -> None:
    assert KEY == "web_default_u1_app_h1"
    assert image_pull_key(pod_uid="u1", image="busybox:1.36") == "u1_busybox:1.36"


def test_crash_loop_sequence_is_immediate_then_10s_doubling_to_300s() -> None:
    backoff = Backoff(BackoffPolicy.crash_loop())
    history = simulate_crash_loop(backoff, restarts=9, run_for=1.0)
    waits = [restarted - finished for finished, restarted in history]
    assert waits == [0, 10, 20, 40, 80, 160, 300, 300, 300]


def test_crash_loop_resets_after_running_more_than_600s() -> None:
    backoff = Backoff(BackoffPolicy.crash_loop())
    simulate_crash_loop(backoff, restarts=5, run_for=1.0)
    assert backoff.get(KEY) == 160  # the wait before the sixth restart
    entry = backoff.entries[KEY]
    # The next instance ran 600.5 s since the last restart decision: expired, back to 10 s.
    finished = entry.last_update + 600.5
    assert not backoff.is_in_backoff_since(KEY, finished, finished)
    assert backoff.next(KEY, finished, finished) == 10


def test_exactly_600s_is_not_yet_a_reset() -> None:
    backoff = Backoff(BackoffPolicy.crash_loop())
    backoff.next(KEY, 0, 0)
    backoff.next(KEY, 5, 20)  # backoff 20 s, last_update 20
    assert backoff.is_in_backoff_since(KEY, 620, 621)
    assert backoff.next(KEY, 620, 660) == 40


@pytest.mark.parametrize(
    ("max_period", "expected_waits"),
    [
        (5.0, [0, 5, 5, 5]),  # below 10 s the max is also the initial delay
        (1.0, [0, 1, 1, 1]),
        (30.0, [0, 10, 20, 30, 30]),
        (300.0, [0, 10, 20, 40, 80]),
    ],
)
def test_max_container_restart_period(max_period: float, expected_waits: list[float]) -> None:
    backoff = Backoff(BackoffPolicy.crash_loop(max_period))
    history = simulate_crash_loop(backoff, restarts=len(expected_waits), run_for=0.5, tick=0.25)
    assert [restarted - finished for finished, restarted in history] == expected_waits


def test_crash_loop_messages() -> None:
    names = {"container_name": "app", "pod_name": "web", "namespace": "default", "pod_uid": "u1"}
    assert crash_loop_message(20, **names) == (
        "back-off 20s restarting failed container=app pod=web_default(u1)"
    )
    assert crash_loop_message(300, **names) == (
        "back-off 5m0s restarting failed container=app pod=web_default(u1)"
    )
    assert crash_loop_event_message(**names) == (
        "Back-off restarting failed container app in pod web_default(u1)"
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.5, "500ms"),
        (1, "1s"),
        (1.5, "1.5s"),
        (10, "10s"),
        (59, "59s"),
        (60, "1m0s"),
        (80, "1m20s"),
        (160, "2m40s"),
        (300, "5m0s"),
        (3600, "1h0m0s"),
        (3725, "1h2m5s"),
    ],
)
def test_format_go_duration(seconds: float, text: str) -> None:
    assert format_go_duration(seconds) == text


def test_image_pull_backoff_counts_from_the_failed_attempt() -> None:
    backoff = Backoff(BackoffPolicy.image_pull())
    key = image_pull_key(pod_uid="u1", image="nope:1")
    assert not backoff.is_in_backoff_since_update(key, 0)
    assert backoff.next(key, 0, 0) == 10  # first failed pull
    assert backoff.is_in_backoff_since_update(key, 9.9)
    assert not backoff.is_in_backoff_since_update(key, 10)
    assert backoff.next(key, 10, 10) == 20
    assert backoff.is_in_backoff_since_update(key, 29)
    for now in (30, 70, 150, 310, 610):
        backoff.next(key, now, now)
    assert backoff.get(key) == 300
    # client-go's default expiry: idle for more than 2 × max (600 s) starts over.
    assert not backoff.is_in_backoff_since_update(key, 610 + 600.1)
    assert backoff.next(key, 1211, 1211) == 10
    assert image_pull_backoff_message("nope:1") == 'Back-off pulling image "nope:1"'


def test_gc_drops_entries_idle_for_twice_the_max() -> None:
    backoff = Backoff(BackoffPolicy.crash_loop())
    backoff.next("a", 0, 0)
    backoff.next("b", 0, 500)
    backoff.gc(now=600.5)
    assert set(backoff.entries) == {"b"}
    backoff.reset("b")
    assert backoff.entries == {}


def test_state_round_trips_through_json() -> None:
    backoff = Backoff(BackoffPolicy.crash_loop(30))
    simulate_crash_loop(backoff, restarts=3, run_for=1.0)
    restored = Backoff.from_dict(json.loads(json.dumps(backoff.to_dict())))
    assert restored == backoff
    assert restored.retry_at(KEY, 100.0) == 100.0 + backoff.get(KEY)


def test_replay_from_history_matches_the_live_entry() -> None:
    live = Backoff(BackoffPolicy.crash_loop())
    history = simulate_crash_loop(live, restarts=6, run_for=2.0)
    runs = [ContainerRun(started_at=0.0, finished_at=history[0][0])]
    for index, (_, restarted) in enumerate(history):
        finished = history[index + 1][0] if index + 1 < len(history) else None
        runs.append(ContainerRun(started_at=restarted, finished_at=finished))
    assert replay_restarts(reversed(runs)) == live.entries[KEY]
    assert replay_restarts([ContainerRun(started_at=5.0)]) is None
    assert replay_restarts(
        [ContainerRun(0.0, 1.0), ContainerRun(1.0, 700.0), ContainerRun(700.0, None)]
    ) == BackoffEntry(backoff=10.0, last_update=700.0)
