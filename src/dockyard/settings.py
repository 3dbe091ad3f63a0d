"""Typed settings, loaded once at the composition root and passed down.

Every setting comes from an environment variable prefixed ``DOCKYARD_`` (for example
``DOCKYARD_DATABASE_URL``); nothing else in the code reads the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    if os.geteuid() == 0:  # a system service: root's home is not reachable by PostgreSQL's user
        return Path("/var/lib/dockyard")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "dockyard"


class Settings(BaseSettings):
    """Dockyard's settings. Unknown ``DOCKYARD_*`` variables are ignored."""

    model_config = SettingsConfigDict(env_prefix="DOCKYARD_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://user:pass@host/db). Unset: `dockyard up` starts "
        "an embedded PostgreSQL that keeps its data in data_dir.",
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where Dockyard keeps local state (the embedded database among it).",
    )
    log_level: str = Field(default="INFO", description="Python logging level.")
    poll_interval_seconds: float = Field(
        default=1.0,
        gt=0,
        le=1.0,
        description="Log followers re-read the log at least this often even without a NOTIFY.",
    )
    projection_batch_size: int = Field(default=1000, ge=1, le=100_000)
    projection_rebuild_batch_size: int = Field(
        default=50_000,
        ge=1,
        le=1_000_000,
        description="Positions per statement when `dockyard projections rebuild` replays the log.",
    )
    # -- API server (issue 3) --------------------------------------------------------------
    api_host: str = Field(default="127.0.0.1", description="Address the API server listens on.")
    api_port: int = Field(default=6443, ge=0, le=65535, description="Port of the API server.")
    api_workers: int = Field(
        # One process serves requests on one core (the interpreter lock); the API is CPU-bound
        # under load (TLS, JSON, validation), so use the cores, as kube-apiserver does.
        default_factory=lambda: min(4, os.cpu_count() or 1),
        ge=1,
        le=64,
        description="API server processes sharing the port (`dockyard server --workers`); "
        "default: the number of CPUs, at most 4.",
    )
    api_token_file: Path | None = Field(
        default=None,
        description='Bearer tokens, one user a line: token,user,uid,"group1,group2" '
        "(kube-apiserver's static token file format; see dockyard/server/auth.py for roles).",
    )
    api_allow_anonymous: bool = Field(
        default=False, description="Serve requests without a token as system:anonymous."
    )
    api_anonymous_role: str = Field(
        default="",
        pattern="^(|view|edit|admin)$",
        description="Cluster role of anonymous requests when allowed: '', view, edit or admin.",
    )
    api_max_body_bytes: int = Field(
        default=3 * 1024 * 1024, ge=1024, description="Larger request bodies get 413."
    )
    api_tls_cert_file: Path | None = Field(
        default=None,
        description="Server certificate (PEM). Unset: a self-signed one in data_dir/api-tls.",
    )
    api_tls_key_file: Path | None = Field(default=None, description="Key of api_tls_cert_file.")
    # -- the dockyard CLI (issue 6) ------------------------------------------------------------
    config: Path | None = Field(
        default=None,
        description="The CLI's client config (a kubeconfig). Unset: ~/.dockyard/config if it "
        "exists, else the kubeconfig `dockyard up` writes in data_dir.",
    )
    # -- controllers (issue 5) --------------------------------------------------------------
    controller_resync_seconds: float = Field(
        default=30.0, gt=0, description="Every controller re-checks all its objects this often."
    )
    controller_workers: int = Field(default=2, ge=1, le=64, description="Workers per controller.")
    controller_max_retries: int = Field(
        default=15, ge=0, description="A key that keeps failing is dropped after this many tries."
    )
    controller_backoff_base_seconds: float = Field(default=0.005, gt=0)
    controller_backoff_cap_seconds: float = Field(
        default=30.0, gt=0, description="Longest wait before retrying a failed key."
    )
    controller_burst: int = Field(
        default=500, ge=1, description="Most pods one ReplicaSet sync creates or deletes."
    )
    node_monitor_grace_seconds: float = Field(
        default=50.0, gt=0, description="A node silent this long turns Ready=Unknown."
    )
    node_startup_grace_seconds: float = Field(default=60.0, gt=0)
    node_monitor_period_seconds: float = Field(default=5.0, gt=0)
    pod_eviction_toleration_seconds: int = Field(
        default=300,
        ge=0,
        description="Default not-ready/unreachable toleration: pods leave a lost node after it.",
    )
    leader_lock_key: int = Field(
        default=0x646F636B6C656164,
        description="PostgreSQL advisory lock key of controller leadership (not the append lock).",
    )
    leader_retry_seconds: float = Field(
        default=1.0, gt=0, description="How often a standby control plane tries to lead."
    )
    # --- Slack notifications (dockyard.notify) ---
    slack_token: SecretStr | None = Field(
        default=None, description="Slack bot token (xoxb-...) used by alert routes' channels."
    )
    slack_token_file: Path | None = Field(
        default=None, description="A file holding the Slack bot token (instead of slack_token)."
    )
    slack_secrets_dir: Path | None = Field(
        default=None,
        description="Directory of named token files that routes pick with destination.slack."
        "tokenSecret (one file per name).",
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/",
        description="Slack Web API base URL (a proxy or a test server may stand in).",
    )
    slack_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    notify_sender_concurrency: int = Field(default=2, ge=1, le=64)
    notify_resolve_after_seconds: int = Field(
        default=600, ge=1, description="A crash episode resolves after this long without failures."
    )
    notify_channel_interval_seconds: float = Field(
        default=1.0, ge=0, le=60, description="Minimum time between two posts to one channel."
    )
    notify_max_fact_age_seconds: int = Field(
        default=3600,
        ge=1,
        description="Failures older than this when the notifier first sees them are not alerted "
        "(a fresh notifier replaying an old log stays quiet).",
    )
    # --- node agent (dockyard.agent) ---
    agent_node_name: str | None = Field(
        default=None, description="The node this agent runs pods for (default: the host name)."
    )
    docker_url: str = Field(
        default="unix:///var/run/docker.sock", description="The Docker engine the agent owns."
    )
    agent_lease_interval_seconds: float = Field(
        default=10.0, gt=0, description="How often the agent renews its node lease."
    )
    agent_lease_duration_seconds: int = Field(default=40, ge=1)
    agent_max_container_restart_period_seconds: float = Field(
        default=300.0,
        ge=0.1,
        le=300.0,
        description="Crash-loop back-off cap (Kubernetes' maxContainerRestartPeriod); below 10 s "
        "it is also the first delay.",
    )
    agent_relist_period_seconds: float = Field(
        default=2.0, gt=0, description="How often the agent relists its containers (the truth)."
    )
    agent_pod_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often the agent reads the pods bound to its node."
    )
    agent_pause_image: str = Field(
        default="busybox:latest", description="Image of each pod's network sandbox container."
    )
    agent_node_ip: str | None = Field(
        default=None, description="The node's IP (hostIP of its pods); detected when unset."
    )


def load_settings() -> Settings:
    """Read the settings from the environment (the one place that does)."""
    return Settings()
