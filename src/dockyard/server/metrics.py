"""Request metrics for ``/metrics``, summed over every worker process of one server.

With ``dockyard server --workers N`` each request lands on one of N processes, and a scrape
lands on one of them too. So that a scrape sees the whole server, each worker writes a snapshot
of its own totals to a directory the workers share (``<pid>.json``, replaced atomically, at most
``flush_interval`` after a change), and the worker that answers a scrape adds up its live totals
and every other worker's latest snapshot. A worker that exits leaves its file behind: its
requests happened, and counters never go down (Prometheus' multiprocess mode does the same).
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Totals:
    """Request counts by (verb, resource, code); latency buckets and sums by (verb, resource)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str], int] = defaultdict(int)
        self.buckets: dict[tuple[str, str], list[int]] = {}
        self.sums: dict[tuple[str, str], float] = defaultdict(float)

    def _buckets_of(self, pair: tuple[str, str]) -> list[int]:
        return self.buckets.setdefault(pair, [0] * (len(BUCKETS) + 1))

    def observe(self, verb: str, resource: str, code: int, seconds: float) -> None:
        self.counts[(verb, resource, str(code))] += 1
        self._buckets_of((verb, resource))[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.sums[(verb, resource)] += seconds

    def add(self, other: Totals) -> None:
        for key, n in other.counts.items():
            self.counts[key] += n
        for pair, buckets in other.buckets.items():
            mine = self._buckets_of(pair)
            self.buckets[pair] = [a + b for a, b in zip(mine, buckets, strict=True)]
            self.sums[pair] += other.sums.get(pair, 0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "counts": [[*key, n] for key, n in self.counts.items()],
            "latency": [[*pair, b, self.sums[pair]] for pair, b in self.buckets.items()],
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Totals:
        totals = cls()
        for verb, resource, code, n in document["counts"]:
            totals.counts[(verb, resource, code)] = int(n)
        for verb, resource, buckets, seconds in document["latency"]:
            totals.buckets[(verb, resource)] = [int(b) for b in buckets]
            totals.sums[(verb, resource)] = float(seconds)
        return totals


class Metrics:
    """Request counts and latency histograms by verb, resource and code. Thread-safe.

    ``share_dir`` (several worker processes): see the module doc.
    """

    def __init__(self, share_dir: Path | None = None, *, flush_interval: float = 0.5) -> None:
        self._lock = threading.Lock()
        self._totals = Totals()
        self._share_dir = share_dir
        self._flush_interval = flush_interval
        self._flush_pending = False

    def observe(self, verb: str, resource: str, code: int, seconds: float) -> None:
        with self._lock:
            self._totals.observe(verb, resource, code, seconds)
            schedule = self._share_dir is not None and not self._flush_pending
            self._flush_pending = self._flush_pending or schedule
        if schedule:  # one timer per interval, not one write per request
            timer = threading.Timer(self._flush_interval, self._flush)
            timer.daemon = True
            timer.start()

    def _own_file(self) -> Path:
        assert self._share_dir is not None
        return self._share_dir / f"{os.getpid()}.json"

    def _flush(self) -> None:
        with self._lock:
            self._flush_pending = False
            document = self._totals.to_json()
        target = self._own_file()
        partial = target.with_suffix(".tmp")
        # (The directory goes away when the server stops: the last snapshot is not needed.)
        with contextlib.suppress(OSError):
            partial.write_text(json.dumps(document))
            os.replace(partial, target)  # a reader sees the old snapshot or the new, never half

    def totals(self) -> Totals:
        """This process's totals plus every other worker's latest snapshot."""
        combined = Totals()
        with self._lock:
            combined.add(self._totals)
        if self._share_dir is not None:
            own = self._own_file()
            for path in sorted(self._share_dir.glob("*.json")):
                if path == own:
                    continue
                with contextlib.suppress(OSError, ValueError, KeyError):
                    combined.add(Totals.from_json(json.loads(path.read_text())))
        return combined

    def render(self, gauges: dict[str, tuple[str, float]], labelled: dict[str, Any]) -> str:
        totals = self.totals()
        lines = [
            "# HELP apiserver_request_total Requests by verb, resource and HTTP code.",
            "# TYPE apiserver_request_total counter",
        ]
        for (verb, resource, code), n in sorted(totals.counts.items()):
            lines.append(
                f'apiserver_request_total{{verb="{verb}",resource="{resource}",code="{code}"}} {n}'
            )
        lines += [
            "# HELP apiserver_request_duration_seconds Request latency by verb and resource.",
            "# TYPE apiserver_request_duration_seconds histogram",
        ]
        for (verb, resource), buckets in sorted(totals.buckets.items()):
            labels = f'verb="{verb}",resource="{resource}"'
            running = 0
            for bound, n in zip(BUCKETS, buckets, strict=False):
                running += n
                lines.append(
                    f'apiserver_request_duration_seconds_bucket{{{labels},le="{bound}"}} {running}'
                )
            total = sum(buckets)
            lines.append(f'apiserver_request_duration_seconds_bucket{{{labels},le="+Inf"}} {total}')
            lines.append(
                f"apiserver_request_duration_seconds_sum{{{labels}}} "
                f"{totals.sums[(verb, resource)]:.6f}"
            )
            lines.append(f"apiserver_request_duration_seconds_count{{{labels}}} {total}")
        for name, (help_text, value) in gauges.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value}"]
        for name, (help_text, label, values) in labelled.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            lines += [f'{name}{{{label}="{k}"}} {v}' for k, v in sorted(values.items())]
        return "\n".join(lines) + "\n"
