"""Time travel through the API and the CLI: `dockyard get KIND NAME --at TIME`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

from tests.api.conftest import ApiServer

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "busybox:1"}]},
        },
    },
}
PATH = "/apis/apps/v1/namespaces/default/deployments"


def dockyard(api: ApiServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env["DOCKYARD_CONFIG"] = str(api.kubeconfig())
    return subprocess.run(
        [sys.executable, "-m", "dockyard.cli.main", *args],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


def instant() -> str:
    moment = datetime.now(UTC).isoformat()
    time.sleep(0.01)  # the next write gets a strictly later recorded_at
    return moment


def test_get_at_returns_the_object_as_a_get_returned_it_then(api: ApiServer) -> None:
    with api.client() as http:
        before_creation = instant()
        created = http.post(PATH, json=DEPLOYMENT).json()
        after_create = instant()
        as_got_then = http.get(f"{PATH}/web").json()
        patched = http.patch(
            f"{PATH}/web",
            json={"spec": {"replicas": 5}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert patched.status_code == 200
        after_patch = instant()
        http.delete(f"{PATH}/web")

        then = http.get(
            "/apis/dockyard.io/v1/objects-at",
            params={"resource": "deploy", "namespace": "default", "name": "web",
                    "at": after_create},
        )  # fmt: skip
        assert then.status_code == 200
        assert then.json()["spec"] == as_got_then["spec"]
        assert then.json()["metadata"]["uid"] == created["metadata"]["uid"]
        assert (
            then.json()["metadata"]["resourceVersion"] == as_got_then["metadata"]["resourceVersion"]
        )

    cli = dockyard(api, "get", "deploy", "web", "--at", after_patch, "-o", "json")
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["spec"]["replicas"] == 5

    too_early = dockyard(api, "get", "deploy", "web", "--at", before_creation)
    assert too_early.returncode == 1
    assert "did not exist at" in too_early.stderr and "Traceback" not in too_early.stderr

    bad_time = dockyard(api, "get", "deploy", "web", "--at", "yesterday-ish")
    assert bad_time.returncode == 1
    assert "at" in bad_time.stderr and "Traceback" not in bad_time.stderr


def test_get_at_is_refused_without_read_access(api: ApiServer) -> None:
    with api.client("alice") as http:  # alice may edit team-a only
        answer = http.get(
            "/apis/dockyard.io/v1/objects-at",
            params={"resource": "pods", "namespace": "default", "name": "x", "at": "1h"},
        )
    assert answer.status_code == 403
    assert answer.json()["reason"] == "Forbidden"
