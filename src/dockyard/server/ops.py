"""Operations endpoints: ``/healthz``, ``/readyz`` and ``/metrics`` (Prometheus text format)."""

from __future__ import annotations

from dockyard.server.context import ApiContext
from dockyard.server.metrics import Metrics
from dockyard.store import migrations


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
