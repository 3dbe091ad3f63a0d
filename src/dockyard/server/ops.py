"""Operations endpoints: ``/healthz``, ``/readyz`` and ``/metrics`` (Prometheus text format)."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from typing import Any

from dockyard.server.context import ApiContext
from dockyard.store import migrations

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Request counts and latency histograms by verb, resource and code. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str], int] = defaultdict(int)
        self._buckets: dict[tuple[str, str], list[int]] = {}
        self._sums: dict[tuple[str, str], float] = defaultdict(float)

    def observe(self, verb: str, resource: str, code: int, seconds: float) -> None:
        with self._lock:
            self._counts[(verb, resource, str(code))] += 1
            key = (verb, resource)
            buckets = self._buckets.setdefault(key, [0] * (len(BUCKETS) + 1))
            buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
            self._sums[key] += seconds

    def render(self, gauges: dict[str, tuple[str, float]], labelled: dict[str, Any]) -> str:
        lines = [
            "# HELP apiserver_request_total Requests by verb, resource and HTTP code.",
            "# TYPE apiserver_request_total counter",
        ]
        with self._lock:
            for (verb, resource, code), n in sorted(self._counts.items()):
                lines.append(
                    f'apiserver_request_total{{verb="{verb}",resource="{resource}",'
                    f'code="{code}"}} {n}'
                )
            lines += [
                "# HELP apiserver_request_duration_seconds Request latency by verb and resource.",
                "# TYPE apiserver_request_duration_seconds histogram",
            ]
            for (verb, resource), buckets in sorted(self._buckets.items()):
                labels = f'verb="{verb}",resource="{resource}"'
                running = 0
                for bound, n in zip(BUCKETS, buckets, strict=False):
                    running += n
                    lines.append(
                        f'apiserver_request_duration_seconds_bucket{{{labels},le="{bound}"}} '
                        f"{running}"
                    )
                total = sum(buckets)
                lines.append(
                    f'apiserver_request_duration_seconds_bucket{{{labels},le="+Inf"}} {total}'
                )
                lines.append(
                    f"apiserver_request_duration_seconds_sum{{{labels}}} "
                    f"{self._sums[(verb, resource)]:.6f}"
                )
                lines.append(f"apiserver_request_duration_seconds_count{{{labels}}} {total}")
        for name, (help_text, value) in gauges.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value}"]
        for name, (help_text, label, values) in labelled.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            lines += [f'{name}{{{label}="{k}"}} {v}' for k, v in sorted(values.items())]
        return "\n".join(lines) + "\n"


def _positions(ctx: ApiContext) -> tuple[int, dict[str, int]]:
    with ctx.engine.connect() as conn:
        head = int(
            conn.exec_driver_sql("SELECT coalesce(max(position), 0) FROM events").scalar_one()
        )
        rows = conn.exec_driver_sql("SELECT name, position FROM projection_checkpoints").all()
    return head, {str(r[0]): int(r[1]) for r in rows}


def readiness(ctx: ApiContext, *, max_lag: int = 1000) -> list[tuple[str, bool, str]]:
    """Each check: (name, ok, detail). Ready when every check is ok."""
    checks: list[tuple[str, bool, str]] = []
    try:
        head, checkpoints = _positions(ctx)
        checks.append(("database", True, "reachable"))
    except Exception as exc:  # the database is down: not ready, and say why
        checks.append(("database", False, type(exc).__name__))
        return checks
    try:
        current, wanted = migrations.current_revision(ctx.engine), migrations.head_revision()
        checks.append(("schema", current == wanted, f"at {current}, code wants {wanted}"))
    except Exception as exc:
        checks.append(("schema", False, type(exc).__name__))
    lagging = {n: head - p for n, p in checkpoints.items() if head - p > max_lag}
    detail = ", ".join(f"{n} {lag} behind" for n, lag in lagging.items()) or "caught up"
    checks.append(("projections", not lagging, detail))
    return checks


def readyz_text(checks: list[tuple[str, bool, str]]) -> tuple[int, str]:
    lines = [
        f"[{'+' if ok else '-'}]{name} {'ok' if ok else 'failed'}: {d}" for name, ok, d in checks
    ]
    ok = all(ok for _, ok, _ in checks)
    lines.append("readyz check passed" if ok else "readyz check failed")
    return (200 if ok else 503), "\n".join(lines) + "\n"


def metrics_text(ctx: ApiContext, metrics: Metrics) -> str:
    head, checkpoints = _positions(ctx)
    return metrics.render(
        {"dockyard_log_head_position": ("Newest position in the event log.", head)},
        {
            "dockyard_projection_lag_events": (
                "Positions between the log head and each projection's checkpoint.",
                "projection",
                {name: head - pos for name, pos in checkpoints.items()},
            )
        },
    )
