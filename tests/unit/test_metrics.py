"""/metrics of a server with several worker processes: each worker's totals are added up."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from dockyard.server.metrics import Metrics, Totals


def count(text: str, verb: str, resource: str, code: str) -> int:
    labels = f'verb="{verb}",resource="{resource}",code="{code}"'
    found = re.search(rf"^apiserver_request_total\{{{re.escape(labels)}\}} (\d+)$", text, re.M)
    return int(found.group(1)) if found else 0


def histogram_count(text: str, verb: str, resource: str) -> int:
    labels = f'verb="{verb}",resource="{resource}"'
    pattern = rf"^apiserver_request_duration_seconds_count\{{{re.escape(labels)}\}} (\d+)$"
    found = re.search(pattern, text, re.M)
    return int(found.group(1)) if found else 0


def test_a_scrape_adds_every_other_workers_snapshot_to_its_own_totals(tmp_path: Path) -> None:
    other = Totals()
    other.counts[("get", "pods", "200")] = 5
    other.counts[("create", "pods", "201")] = 2
    other.buckets[("get", "pods")] = [5] + [0] * 11
    other.sums[("get", "pods")] = 0.01
    (tmp_path / "999999.json").write_text(json.dumps(other.to_json()))
    (tmp_path / "999998.tmp").write_text("{half written")  # another worker mid-replace
    metrics = Metrics(tmp_path)
    metrics.observe("get", "pods", 200, 0.002)
    metrics.observe("get", "pods", 404, 0.2)
    text = metrics.render({}, {})
    assert count(text, "get", "pods", "200") == 6
    assert count(text, "get", "pods", "404") == 1
    assert count(text, "create", "pods", "201") == 2
    assert histogram_count(text, "get", "pods") == 7
    assert 'apiserver_request_duration_seconds_bucket{verb="get",resource="pods",le="0.005"} 6' in (
        text
    )


def test_a_worker_publishes_its_totals_after_a_request(tmp_path: Path) -> None:
    metrics = Metrics(tmp_path, flush_interval=0.05)
    metrics.observe("patch", "deployments", 200, 0.01)
    metrics.observe("patch", "deployments", 200, 0.01)
    own = tmp_path / f"{os.getpid()}.json"
    deadline = time.monotonic() + 10
    while (
        not own.exists()
        or Totals.from_json(json.loads(own.read_text())).counts.get(("patch", "deployments", "200"))
        != 2
    ):
        assert time.monotonic() < deadline, "the worker never wrote its snapshot"
        time.sleep(0.01)
    # Another worker's scrape sees them (read as a second process would: only the file).
    seen = Totals.from_json(json.loads(own.read_text()))
    assert seen.buckets[("patch", "deployments")][1] == 2  # 0.01 s falls in the le=0.01 bucket
