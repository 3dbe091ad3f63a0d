"""`dockyard up` and the CLI refuse bad input with one sentence, exit 1, nothing written."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import sqlalchemy

from dockyard.cli.main import main
from tests.e2e.support import EXAMPLES, free_port


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> Path:
    monkeypatch.setenv("DOCKYARD_DATABASE_URL", database_url)
    monkeypatch.setenv("DOCKYARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DOCKYARD_API_PORT", str(free_port()))
    monkeypatch.setenv("DOCKYARD_AGENT_NODE_NAME", "e2e-bad-input")
    monkeypatch.delenv("DOCKYARD_CONFIG", raising=False)
    return tmp_path


def _one_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def _log_is_empty(database_url: str) -> bool:
    engine = sqlalchemy.create_engine(
        database_url.replace("postgresql://", "postgresql+psycopg://")
    )
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("SELECT count(*) FROM events").scalar() == 0
    finally:
        engine.dispose()


def test_unreadable_manifest(
    env: Path, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    broken = env / "broken.yaml"
    broken.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: BAD_NAME}\nspec: {}\n")
    assert main(["up", "-f", str(EXAMPLES), "-f", str(broken)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f'error: {broken}: The Pod "BAD_NAME" is invalid')  # as kubectl says it
    assert "metadata.name" in err and "spec.containers: Required value" in err
    missing = _one_error(capsys, ["up", "-f", str(env / "nope.yaml")])
    assert "does not exist" in missing
    assert _log_is_empty(database_url)


def test_no_docker_engine(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKYARD_DOCKER_URL", f"unix://{env}/no-docker.sock")
    err = _one_error(capsys, ["up"])
    assert "cannot reach the Docker engine" in err and "start Docker" in err


def test_port_in_use(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        err = _one_error(capsys, ["up", "--port", str(port)])
    assert f"port {port} on 127.0.0.1 is already in use" in err


def test_database_does_not_answer(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKYARD_DATABASE_URL", f"postgresql://x:y@127.0.0.1:{free_port()}/db")
    err = _one_error(capsys, ["up"])
    assert "cannot connect to PostgreSQL" in err and "DOCKYARD_DATABASE_URL" in err


def test_cli_missing_config_and_context(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _one_error(capsys, ["get", "pods"])
    assert "no client config" in err and "dockyard up" in err
    config = env / "config"
    config.write_text(
        "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\ncurrent-context: ''\n"
    )
    err = _one_error(capsys, ["get", "pods", "--kubeconfig", str(config), "--context", "nope"])
    assert err.startswith('error: context "nope" does not exist')


def test_cli_server_down(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = env / "config"
    port = free_port()
    config.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
    )
    assert main(["get", "pods", "--kubeconfig", str(config)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"The connection to the server 127.0.0.1:{port} was refused - did you specify the "
        "right host or port?"
    )
