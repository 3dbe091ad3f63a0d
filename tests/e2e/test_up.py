"""End to end: `dockyard up -f examples/` in a subprocess, the CLI and kubectl driving it."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.support import EXAMPLES, Dockyard, dockyard, wait_for


def _restarts(d: Dockyard, name: str) -> int:
    pod = d.json("get", "pod", name)
    return sum(int(s.get("restartCount", 0)) for s in pod["status"].get("containerStatuses", []))


def test_examples_cli_and_kubectl(database_url: str, tmp_path: Path) -> None:
    with dockyard(database_url, tmp_path) as d:
        d.up(EXAMPLES)
        wait_for("3 web pods Ready", lambda: len(d.ready_pods("web-")) == 3)
        wait_for("the hooks pod Ready", lambda: d.ready_pods("hooks"))
        wait_for("the crasher to restart", lambda: _restarts(d, "crasher") >= 1)

        table = d.ok("get", "pods")
        assert table.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        assert "crasher" in table and "hooks" in table
        assert wait_for(
            "the postStart message in the log",
            lambda: "postStart said: hello from postStart" in d.ok("logs", "hooks"),
        )
        assert "something went wrong" in wait_for(
            "the previous crasher log", lambda: d.cli("logs", "crasher", "-p")[1]
        )
        wait_for("a BackOff event", lambda: "BackOff" in d.ok("describe", "pod", "crasher"))
        described = d.ok("describe", "pod", "crasher")
        assert "Restart Count:" in described and "\nEvents:\n" in described

        # kubectl sees the same cluster
        kubectl = d.kubectl("get", "deploy", "web")
        assert kubectl.returncode == 0, kubectl.stderr
        assert kubectl.stdout.split()[5:7] == ["web", "3/3"]

        # scale
        assert d.ok("scale", "deploy/web", "--replicas=4").strip() == "deployment.apps/web scaled"
        wait_for("4 web pods Ready", lambda: len(d.ready_pods("web-")) == 4)

        # rolling update, then rollback
        changed = tmp_path / "web.yaml"
        changed.write_text((EXAMPLES / "web.yaml").read_text().replace("hello from", "hi from"))
        assert d.ok("apply", "-f", str(changed)).strip() == "deployment.apps/web configured"
        assert d.ok("apply", "-f", str(changed)).strip() == "deployment.apps/web unchanged"
        status = d.ok("rollout", "status", "deploy/web", "--timeout", "90")
        assert status.strip().splitlines()[-1] == 'deployment "web" successfully rolled out'
        history = d.ok("rollout", "history", "deploy/web").split()
        assert history[:3] == ["deployment.apps/web", "REVISION", "CHANGE-CAUSE"]
        assert history[3:] == ["1", "<none>", "2", "<none>"]
        assert d.ok("rollout", "undo", "deploy/web").strip() == "deployment.apps/web rolled back"
        d.ok("rollout", "status", "deploy/web", "--timeout", "90")
        web = d.json("get", "deploy", "web")
        env = web["spec"]["template"]["spec"]["containers"][0]["env"]
        assert env == [{"name": "MESSAGE", "value": "hello from Dockyard"}]
        assert web["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"

        # a container killed behind Dockyard's back is restarted
        pod = d.ready_pods("web-")[0]["metadata"]["name"]
        victim = d.docker.containers.list(
            filters={"label": [f"io.dockyard.pod.name={pod}", "io.dockyard.container.name=httpd"]}
        )[0]
        victim.kill()
        wait_for("the killed container restarted", lambda: _restarts(d, pod) >= 1)
        wait_for(
            "the pod Ready again",
            lambda: pod in {p["metadata"]["name"] for p in d.ready_pods("web-")},
        )

        # delete with kubectl, then with the CLI
        deleted = d.kubectl("delete", "pod", "hooks", "--wait=false")
        assert deleted.returncode == 0 and deleted.stdout.strip() == 'pod "hooks" deleted'
        wait_for("hooks gone", lambda: d.cli("get", "pod", "hooks")[0] == 1)
        assert d.ok("delete", "deploy", "web").strip() == 'deployment.apps "web" deleted'
        wait_for(
            "web pods gone",
            lambda: not [p for p in d.pods() if p["metadata"]["name"].startswith("web-")],
        )


def test_interrupt_and_restart_adopts_workloads(database_url: str, tmp_path: Path) -> None:
    with dockyard(database_url, tmp_path) as d:
        d.up(EXAMPLES / "web.yaml", EXAMPLES / "hooks.yaml")
        wait_for("3 web pods Ready", lambda: len(d.ready_pods("web-")) == 3)
        wait_for("hooks Ready", lambda: d.ready_pods("hooks"))
        pods = {p["metadata"]["uid"] for p in d.pods()}
        before = d.running_containers()
        assert len(before) == 8  # 4 pods: a sandbox and an app container each

        assert d.interrupt() == 0
        assert "stopping Dockyard (containers keep running)" in d.output()
        assert d.running_containers() == before  # Ctrl-C does not touch the workloads

        d.up(EXAMPLES / "web.yaml", EXAMPLES / "hooks.yaml")
        assert "deployment.apps/web unchanged" in d.output()
        wait_for("4 pods Ready again", lambda: len(d.ready_pods("")) == 4)
        assert {p["metadata"]["uid"] for p in d.pods()} == pods
        assert d.running_containers() == before  # adopted: same containers, none added

    # dockyard down (run by the context manager after the interrupt) removed them
    assert d.running_containers() == set()
