"""Talking to Slack: the Web API (bot token) and incoming webhooks, through slack-sdk.

Every failure is classified into what the sender should do about it (see reference/slack.md §5):
wait (429 with Retry-After), retry after checking whether it landed (timeouts, 5xx,
``fatal_error``...), shrink (``msg_too_long``...), or give up into the dead letter (bad target,
bad credentials). The SDK's own retries are switched off: a blind retry after a timeout is
exactly how duplicates happen; the sender retries, after looking.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

log = logging.getLogger(__name__)

METADATA_EVENT_TYPE = "dockyard_alert"
RATE_LIMITED = frozenset({"ratelimited", "rate_limited"})
UNCERTAIN = frozenset({"fatal_error", "internal_error", "request_timeout", "service_unavailable"})
TOO_LONG = frozenset({"msg_too_long", "msg_blocks_too_long", "invalid_blocks", "no_text"})


@dataclass(frozen=True)
class Delivered:
    channel_id: str | None
    ts: str | None


class DeliveryError(Exception):
    """What went wrong, and what to do: ``action`` is wait, check, shrink or dead."""

    def __init__(self, error: str, action: str, retry_after: float | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.action = action
        self.retry_after = retry_after


class SlackApi(Protocol):
    def post(
        self, channel: str, message: dict[str, Any], keys: list[str], thread_ts: str | None
    ) -> Delivered: ...

    def update(self, channel_id: str, ts: str, message: dict[str, Any]) -> Delivered: ...

    def find(
        self, channel_id: str, key: str, *, thread_ts: str | None, oldest: float
    ) -> str | None: ...


def _retry_after(headers: Any) -> float:
    try:
        value = headers.get("Retry-After") or headers.get("retry-after")
        return max(0.0, float(value)) if value is not None else 1.0
    except (TypeError, ValueError, AttributeError):
        return 1.0


def classify(exc: Exception) -> DeliveryError:
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = int(getattr(response, "status_code", 0) or 0)
        error = (
            str((response.data or {}).get("error") or f"http_{status}")
            if isinstance(response.data, dict)
            else f"http_{status}"
        )
        if status == 429 or error in RATE_LIMITED:
            return DeliveryError(error, "wait", _retry_after(response.headers))
        if status >= 500 or error in UNCERTAIN:
            return DeliveryError(error, "check")
        if error in TOO_LONG:
            return DeliveryError(error, "shrink")
        return DeliveryError(error, "dead")
    if isinstance(exc, TimeoutError | socket.timeout | URLError | ConnectionError | OSError):
        return DeliveryError(f"connection: {type(exc).__name__}: {exc}", "check")
    if isinstance(exc, SlackClientError):
        return DeliveryError(f"client: {exc}", "check")
    raise exc


class SlackWebApi:
    """The Web API with a bot token. The token lives only inside the WebClient."""

    def __init__(self, token: str, base_url: str, timeout: float) -> None:
        if not base_url.endswith("/"):
            base_url += "/"  # urljoin drops a last path segment without it
        self._client = WebClient(
            token=token, base_url=base_url, timeout=int(max(1, timeout)), retry_handlers=[]
        )

    def post(
        self, channel: str, message: dict[str, Any], keys: list[str], thread_ts: str | None
    ) -> Delivered:
        try:
            response = self._client.chat_postMessage(
                channel=channel,
                text=message.get("text") or " ",
                blocks=message.get("blocks") or None,
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
                metadata={
                    "event_type": METADATA_EVENT_TYPE,
                    "event_payload": {"dedup_keys": " ".join(keys)},
                },
            )
        except Exception as exc:
            raise classify(exc) from None
        return Delivered(str(response.get("channel") or ""), str(response.get("ts") or ""))

    def update(self, channel_id: str, ts: str, message: dict[str, Any]) -> Delivered:
        try:
            response = self._client.chat_update(
                channel=channel_id,
                ts=ts,
                text=message.get("text") or " ",
                blocks=message.get("blocks") or [],
            )
        except Exception as exc:
            raise classify(exc) from None
        return Delivered(str(response.get("channel") or channel_id), str(response.get("ts") or ts))

    def find(
        self, channel_id: str, key: str, *, thread_ts: str | None, oldest: float
    ) -> str | None:
        """The ts of a message carrying ``key`` in its metadata, if one was posted."""
        try:
            if thread_ts is None:
                response = self._client.conversations_history(
                    channel=channel_id, include_all_metadata=True, oldest=str(oldest), limit=200
                )
            else:
                response = self._client.conversations_replies(
                    channel=channel_id, ts=thread_ts, include_all_metadata=True, limit=200
                )
        except Exception as exc:
            raise classify(exc) from None
        for message in response.get("messages") or []:
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if key in str(payload.get("dedup_keys") or "").split():
                return str(message.get("ts"))
        return None

    def auth_test(self) -> dict[str, Any]:
        try:
            return dict(self._client.auth_test().data)  # type: ignore[arg-type]
        except Exception as exc:
            raise classify(exc) from None


def send_webhook(url: str, message: dict[str, Any], timeout: float) -> Delivered:
    """Post to an incoming webhook. Webhooks return no ts: no threads, no updates."""
    client = WebhookClient(url, timeout=int(max(1, timeout)), retry_handlers=[])
    try:
        response = client.send(
            text=message.get("text") or " ", blocks=message.get("blocks") or None
        )
    except Exception as exc:
        raise classify(exc) from None
    body = (response.body or "").strip()
    if response.status_code == 200 and body == "ok":
        return Delivered(None, None)
    if response.status_code == 429:
        return _raise(DeliveryError(body or "rate_limited", "wait", _retry_after(response.headers)))
    if response.status_code >= 500:
        return _raise(DeliveryError(body or f"http_{response.status_code}", "check"))
    if body in TOO_LONG:
        return _raise(DeliveryError(body, "shrink"))
    return _raise(DeliveryError(body or f"http_{response.status_code}", "dead"))


def _raise(error: DeliveryError) -> Delivered:
    raise error
