"""kubectl 1.32, run as a subprocess against a real server (TLS, bearer token)."""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import threading
import time

import yaml

from tests.api.conftest import ApiServer

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {{app: web}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: c
        image: {image}
        env: [{{name: A, value: "1"}}]
"""


def deployment(replicas: int = 2, image: str = "busybox:latest") -> str:
    return DEPLOYMENT.format(replicas=replicas, image=image)


def test_apply_creates_then_configures_then_leaves_unchanged(api: ApiServer, tmp_path) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text(deployment())
    assert api.kubectl("apply", "-f", str(manifest)).stdout.strip() == (
        "deployment.apps/web created"
    )
    manifest.write_text(deployment(replicas=3, image="busybox:1.36"))
    assert api.kubectl("apply", "-f", str(manifest)).stdout.strip() == (
        "deployment.apps/web configured"
    )
    assert api.kubectl("apply", "-f", str(manifest)).stdout.strip() == (
        "deployment.apps/web unchanged"
    )
    got = api.kubectl_json("get", "deploy", "web")
    assert got["spec"]["replicas"] == 3
    assert got["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.36"
    assert got["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]
    assert "kubectl.kubernetes.io/last-applied-configuration" in got["metadata"]["annotations"]


def test_apply_rejects_unknown_field_naming_it(api: ApiServer) -> None:
    bad = deployment().replace("        image:", "        imagez: x\n        image:")
    result = api.kubectl("apply", "-f", "-", stdin=bad, check=False)
    assert result.returncode == 1
    assert "spec.template.spec.containers[0].imagez" in result.stderr
    assert api.kubectl("get", "deploy", "-o", "name").stdout == ""


def test_get_formats(api: ApiServer) -> None:
    api.kubectl("apply", "-f", "-", stdin=deployment())
    table = api.kubectl("get", "deployments").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table[1].split()[:4] == ["web", "0/2", "0", "0"]
    wide = api.kubectl("get", "deploy", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert wide[1].split()[-3:] == ["c", "busybox:latest", "app=web"]
    as_yaml = yaml.safe_load(api.kubectl("get", "deploy", "web", "-o", "yaml").stdout)
    assert as_yaml["kind"] == "Deployment" and as_yaml["metadata"]["name"] == "web"
    listed = api.kubectl_json("get", "deploy")
    assert listed["kind"] == "List" and [i["metadata"]["name"] for i in listed["items"]] == ["web"]
    pods = api.kubectl("get", "pods").stderr
    assert "No resources found in default namespace." in pods


def test_errors_as_kubectl_prints_them(api: ApiServer) -> None:
    missing = api.kubectl("get", "pod", "nope", check=False)
    assert missing.returncode == 1
    assert 'Error from server (NotFound): pods "nope" not found' in missing.stderr
    namespace = "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n"
    api.kubectl("create", "-f", "-", stdin=namespace)
    again = api.kubectl("create", "-f", "-", stdin=namespace, check=False)
    assert "Error from server (AlreadyExists)" in again.stderr
    assert 'namespaces "team-a" already exists' in again.stderr
    elsewhere = api.kubectl("apply", "-n", "ghost", "-f", "-", stdin=deployment(), check=False)
    assert 'namespaces "ghost" not found' in elsewhere.stderr


def test_scale_describe_delete(api: ApiServer) -> None:
    api.kubectl("apply", "-f", "-", stdin=deployment())
    scaled = api.kubectl("scale", "deploy/web", "--replicas=5")
    assert scaled.stdout.strip() == "deployment.apps/web scaled"
    assert api.kubectl_json("get", "deploy", "web")["spec"]["replicas"] == 5
    described = api.kubectl("describe", "deployment", "web").stdout
    assert "Name:" in described and "web" in described and "Replicas:" in described
    deleted = api.kubectl("delete", "deployment", "web")
    assert deleted.stdout.strip() == 'deployment.apps "web" deleted'
    assert api.kubectl("get", "deploy", "-o", "name").stdout == ""


def test_pod_lifecycle_and_wide_columns(api: ApiServer) -> None:
    api.kubectl("run", "p1", "--image=busybox:latest", "--restart=Never")
    wide = api.kubectl("get", "pod", "p1", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert wide[1].split()[:4] == ["p1", "0/1", "Pending", "0"]
    described = api.kubectl("describe", "pod", "p1").stdout
    assert "Events:" in described
    # Not bound to a node: deleted at once (nothing would finish a graceful deletion).
    assert api.kubectl("delete", "pod", "p1").stdout.strip() == 'pod "p1" deleted'


def test_get_watch_prints_changes(api: ApiServer) -> None:
    api.kubectl("run", "w0", "--image=busybox:latest", "--restart=Never")
    watcher = subprocess.Popen(
        ["kubectl", f"--cache-dir={api.tmp / 'kcache'}", "get", "pods", "-w"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=api.kubectl_env(),
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert watcher.stdout is not None
        for line in watcher.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []

    def wait_for(name: str, count: int) -> None:
        deadline = time.monotonic() + 20
        while sum(1 for ln in seen if ln.split()[:1] == [name]) < count:
            remaining = deadline - time.monotonic()
            assert remaining > 0, seen
            with contextlib.suppress(queue.Empty):
                seen.append(lines.get(timeout=remaining))

    try:
        wait_for("w0", 1)  # the initial list
        api.kubectl("run", "w1", "--image=busybox:latest", "--restart=Never")
        wait_for("w1", 1)  # ADDED
        api.kubectl("label", "pod", "w1", "tier=x")
        wait_for("w1", 2)  # MODIFIED
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)


def test_kubectl_output_is_json_for_lists(api: ApiServer) -> None:
    out = api.kubectl("get", "namespaces", "-o", "json").stdout
    names = [i["metadata"]["name"] for i in json.loads(out)["items"]]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]
