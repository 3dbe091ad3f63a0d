"""End to end: the CLI's following commands (`logs -f`, `events -w`), `dockyard events` as
`kubectl events` prints them, and `rollout pause|resume|undo|status` against `dockyard up`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.e2e.support import ROOT, Dockyard, dockyard, wait_for

TICKER = """\
apiVersion: v1
kind: Pod
metadata: {name: ticker}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: tick
      image: busybox:latest
      imagePullPolicy: IfNotPresent
      command: [sh, -c, 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.2; done']
"""


def deployment(name: str, message: str, *, extra_spec: str = "", pod_spec: str = "") -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
{extra_spec}  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 1
{pod_spec}      containers:
        - name: main
          image: busybox:latest
          imagePullPolicy: IfNotPresent
          env: [{{name: MESSAGE, value: "{message}"}}]
          command: [sleep, '3600']
"""


class Following:
    """A following CLI command in a subprocess; its stdout lines collected by a thread."""

    def __init__(self, d: Dockyard, *args: str) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dockyard.cli.main", *args],
            env=d.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def stop(self) -> str:
        """Interrupt the command (as Ctrl-C does); its stderr."""
        self.process.send_signal(signal.SIGINT)
        _, err = self.process.communicate(timeout=30)
        self._reader.join(timeout=10)
        return err


@contextmanager
def following(d: Dockyard, *args: str) -> Iterator[Following]:
    command = Following(d, *args)
    try:
        yield command
    finally:
        if command.process.poll() is None:
            command.stop()


def _ticks(lines: list[str]) -> list[int]:
    return [int(line.split()[1]) for line in lines if line.startswith("tick ")]


def _apply(d: Dockyard, tmp: Path, name: str, text: str) -> str:
    path = tmp / f"{name}.yaml"
    path.write_text(text)
    return d.ok("apply", "-f", str(path)).strip()


def test_logs_follow_and_kubectl_events(database_url: str, tmp_path: Path) -> None:
    with dockyard(database_url, tmp_path) as d:
        d.up()
        assert _apply(d, tmp_path, "ticker", TICKER) == "pod/ticker created"
        seen = wait_for("ticks in the log", lambda: _ticks(d.cli("logs", "ticker")[1].splitlines()))

        # logs -f: first the log so far, then lines written after it started
        with following(d, "logs", "-f", "ticker") as logs:
            wait_for(
                "new lines streamed by logs -f",
                lambda: [t for t in _ticks(logs.lines) if t > seen[-1] + 3],
                timeout=30,
            )
            assert logs.process.poll() is None  # still following
            streamed = _ticks(logs.lines)
            assert streamed[0] == 0 and streamed == list(range(len(streamed)))
            assert "Traceback" not in logs.stop()

        # dockyard events: kubectl's columns, for the namespace, one object, every namespace
        table = wait_for(
            "a Started event for the ticker",
            lambda: next((t for t in [d.ok("events")] if "Pod/ticker" in t and "Started" in t), ""),
        )
        lines = table.splitlines()
        assert lines[0].startswith("LAST SEEN   ")
        assert lines[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
        started = next(line for line in lines if " Started " in line)
        assert (
            "Normal" in started
            and "Pod/ticker" in started
            and "Started container tick" in (started)
        )
        only = d.ok("events", "--for", "pod/ticker").splitlines()
        assert len(only) > 1 and all("Pod/ticker" in line for line in only[1:])
        everywhere = d.ok("events", "-A").splitlines()
        assert everywhere[0].split()[:3] == ["NAMESPACE", "LAST", "SEEN"]
        assert any(line.startswith("default ") for line in everywhere[1:])
        code, out, err = d.cli("events", "-n", "empty-ns")
        assert (code, out, err) == (0, "", "No events found in empty-ns namespace.\n")
        code, _, err = d.cli("events", "--for", "ticker")
        assert code == 1 and err.startswith("error: --for must be TYPE/NAME")
        code, _, err = d.cli("events", "--types", "Bad")
        assert code == 1 and err.startswith("error: valid --types are Normal, Warning")

        # events -w: the listing, then events as they happen
        with following(d, "events", "-w", "--for", "pod/ticker") as watch:
            wait_for("the listing", lambda: any("Started" in line for line in watch.lines))
            listed = len(watch.lines)
            assert d.ok("delete", "pod", "ticker", "--wait=false").strip() == 'pod "ticker" deleted'
            wait_for(
                "the Killing event on the watch",
                lambda: [line for line in watch.lines[listed:] if "Killing" in line],
                timeout=30,
            )
            assert all("Pod/ticker" in line for line in watch.lines[1:]), watch.lines

        # the raw log is still `events tail`
        tail = subprocess.run(
            [sys.executable, "-m", "dockyard.cli.main", "events", "tail", "--limit", "1", "-o",
             "json"],
            env=d.env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        assert json.loads(tail.stdout)["position"] == 1


def _deploy(d: Dockyard, name: str) -> dict[str, Any]:
    found: dict[str, Any] = d.json("get", "deploy", name)
    return found


def _replicasets(d: Dockyard, name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = d.json("get", "rs", "-l", f"app={name}")["items"]
    return items


def _condition(d: Dockyard, name: str, reason: str) -> bool:
    conditions = _deploy(d, name).get("status", {}).get("conditions", [])
    return any(c.get("type") == "Progressing" and c.get("reason") == reason for c in conditions)


def test_rollout_pause_resume_undo_and_deadline(database_url: str, tmp_path: Path) -> None:
    with dockyard(database_url, tmp_path) as d:
        d.up()
        _apply(d, tmp_path, "app", deployment("app", "one"))
        d.ok("rollout", "status", "deploy/app", "--timeout", "60")
        _apply(d, tmp_path, "app", deployment("app", "two"))
        d.ok("rollout", "status", "deploy/app", "--timeout", "60")

        # pause: spec.paused set, and a template change does not roll out
        assert d.ok("rollout", "pause", "deploy/app").strip() == "deployment.apps/app paused"
        assert _deploy(d, "app")["spec"]["paused"] is True
        code, _, err = d.cli("rollout", "pause", "deploy/app")
        assert code == 1 and err.strip() == 'error: deployments.apps "app" is already paused'
        kubectl = d.kubectl("rollout", "pause", "deploy/app")
        assert kubectl.returncode == 1 and kubectl.stderr.strip() == err.strip()
        assert _apply(d, tmp_path, "app", deployment("app", "three")) == (
            "deployment.apps/app configured"
        )
        wait_for("the Paused condition", lambda: _condition(d, "app", "DeploymentPaused"))
        paused = _deploy(d, "app")
        assert paused["status"]["observedGeneration"] == paused["metadata"]["generation"]
        assert len(_replicasets(d, "app")) == 2  # no new ReplicaSet while paused
        assert paused["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"

        # undo of a paused deployment is refused, as kubectl refuses it
        code, out, err = d.cli("rollout", "undo", "deploy/app")
        kubectl = d.kubectl("rollout", "undo", "deploy/app")
        assert code == 1 and out == "" and kubectl.returncode == 1
        assert err.strip() == kubectl.stderr.strip(), (err, kubectl.stderr)
        assert err.startswith("error: you cannot rollback a paused deployment")

        # resume: the change rolls out
        assert d.ok("rollout", "resume", "deploy/app").strip() == "deployment.apps/app resumed"
        assert _deploy(d, "app")["spec"].get("paused") in (None, False)
        status = d.ok("rollout", "status", "deploy/app", "--timeout", "60")
        assert status.splitlines()[-1] == 'deployment "app" successfully rolled out'
        assert len(_replicasets(d, "app")) == 3
        code, _, err = d.cli("rollout", "resume", "deploy/app")
        assert code == 1 and err.strip() == 'error: deployments.apps "app" is not paused'
        kubectl = d.kubectl("rollout", "resume", "deploy/app")
        assert kubectl.returncode == 1 and kubectl.stderr.strip() == err.strip()

        # a rollout that cannot progress (no node matches) misses its deadline: exit 1
        stuck = deployment(
            "stuck",
            "one",
            extra_spec="  progressDeadlineSeconds: 1\n",
            pod_spec="      nodeSelector: {dockyard.test/no-such-node: 'true'}\n",
        )
        _apply(d, tmp_path, "stuck", stuck)
        code, out, err = d.cli("rollout", "status", "deploy/stuck", "--timeout", "60")
        assert code == 1, (out, err)
        assert err.strip() == 'error: deployment "stuck" exceeded its progress deadline'
        kubectl = d.kubectl("rollout", "status", "deploy/stuck", "--timeout=30s")
        assert kubectl.returncode == 1 and kubectl.stderr.strip() == err.strip()
