"""docker-compose.yml is a valid compose file for the layout the README describes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_passes_docker_compose_config() -> None:
    compose = shutil.which("docker-compose")
    assert compose, "docker-compose is missing: apt-get install docker-compose (see .ci/run)"
    result = subprocess.run(
        [compose, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert {"postgres", "control-plane", "agent"} <= set(services)
    assert "DOCKYARD_DATABASE_URL" in services["control-plane"]["environment"]
    assert any("docker.sock" in str(v) for v in services["agent"].get("volumes", []))
