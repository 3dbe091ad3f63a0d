"""Running the notifier and its senders together (``dockyard notifier``, ``dockyard up``).

One thread follows the log (woken by NOTIFY) and resolves quiet episodes; N sender threads
drain the outbox, woken at once when the notifier wrote rows. Tokens are read here, from the
settings, and handed only to slack-sdk clients: never logged, never written to the log.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from sqlalchemy import Engine

from dockyard.notify.notifier import Notifier
from dockyard.notify.sender import Sender
from dockyard.notify.transport import SlackApi, SlackWebApi
from dockyard.settings import Settings
from dockyard.store.events import EventStore
from dockyard.store.follower import LogFollower

log = logging.getLogger(__name__)


def default_token(settings: Settings) -> str | None:
    if settings.slack_token is not None:
        return settings.slack_token.get_secret_value().strip() or None
    if settings.slack_token_file is not None:
        try:
            return settings.slack_token_file.read_text().strip() or None
        except OSError as exc:
            log.error("cannot read DOCKYARD_SLACK_TOKEN_FILE: %s", exc.strerror)
    return None


class TokenStore:
    """Bot tokens by name: ``None`` is the default token, others are files in the secrets dir."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def __call__(self, name: str | None) -> str | None:
        if name is None:
            return default_token(self._settings)
        directory = self._settings.slack_secrets_dir
        if directory is None or "/" in name or name.startswith("."):
            return None
        try:
            return (Path(directory) / name).read_text().strip() or None
        except OSError:
            return None


def make_api_factory(settings: Settings) -> SlackWebApiFactory:
    return SlackWebApiFactory(settings.slack_api_url, settings.slack_timeout_seconds)


class SlackWebApiFactory:
    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self._clients: dict[str, SlackWebApi] = {}
        self._lock = threading.Lock()

    def __call__(self, token: str) -> SlackApi:
        with self._lock:
            if token not in self._clients:
                self._clients[token] = SlackWebApi(token, self.base_url, self.timeout)
            return self._clients[token]


class NotifierService:
    def __init__(self, engine: Engine, store: EventStore, url: str, settings: Settings) -> None:
        self.notifier = Notifier(
            engine,
            store,
            resolve_after_seconds=settings.notify_resolve_after_seconds,
            max_fact_age_seconds=settings.notify_max_fact_age_seconds,
        )
        self.sender = Sender(
            engine,
            token_for=TokenStore(settings),
            api_for=make_api_factory(settings),
            channel_interval=settings.notify_channel_interval_seconds,
            timeout=settings.slack_timeout_seconds,
        )
        self.follower = LogFollower(
            store, url, after=0, poll_interval=min(1.0, settings.poll_interval_seconds)
        )
        self.concurrency = settings.notify_sender_concurrency
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._threads = [threading.Thread(target=self._follow, name="notifier", daemon=True)]
        self._threads += [
            threading.Thread(target=self._send, name=f"sender-{n}", daemon=True)
            for n in range(self.concurrency)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self.follower.stop()
        for thread in self._threads:
            thread.join(timeout=10)
        self.sender.dispose()

    def _follow(self) -> None:
        # The follower only wakes us; the notifier reads from its own checkpoint.
        for _batch in self.follower.batches():
            if self._stop.is_set():
                return
            try:
                if self.notifier.catch_up() or self.notifier.resolve_due():
                    self._wake.set()
            except Exception:
                log.exception("notifier batch failed; retrying from the checkpoint")

    def _send(self) -> None:
        while not self._stop.is_set():
            try:
                if self.sender.run_once():
                    continue
            except Exception:
                log.exception("alert sender failed; the row stays in the outbox")
            self._wake.wait(0.2)
            self._wake.clear()
