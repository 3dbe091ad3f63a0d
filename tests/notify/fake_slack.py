"""A local HTTP server that speaks enough of Slack's Web API and incoming webhooks for tests.

Methods: ``auth.test``, ``chat.postMessage``, ``chat.update``, ``conversations.history``,
``conversations.replies`` (real Slack returns thread replies only from the latter), and
``POST /hooks/...`` (webhooks answer plain text). It keeps channels of messages with their
metadata, checks the bearer token, and can be scripted per method to answer 429 with
Retry-After, 500, a time-out (after or without storing the message), any ``ok: false`` error,
or to hold a request until the test releases it (to kill a client mid-request). With
``enforce_rate`` it answers 429 itself to a second post to a channel within that interval,
as Slack does.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "xoxb-test-token-123"
CHANNELS = {"#alerts": "CALERTS01", "#crash": "CCRASH001", "#hooks": "CHOOKS001"}


@dataclass
class Action:
    """One scripted answer. kind: error | timeout | hold."""

    kind: str
    status: int = 200
    error: str = ""
    retry_after: int | None = None
    deliver: bool = False  # timeout/hold: store the message before (not) answering
    seconds: float = 0.0


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[Any]
    metadata: dict[str, Any] | None
    thread_ts: str | None
    updates: int = 0
    history: list[str] = field(default_factory=list)
    received: float = field(default_factory=time.monotonic)

    @property
    def keys(self) -> list[str]:
        payload = (self.metadata or {}).get("event_payload") or {}
        return str(payload.get("dedup_keys") or "").split()


class FakeSlack:
    def __init__(self, *, enforce_rate: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.messages: list[Message] = []
        self.webhook_posts: list[dict[str, Any]] = []
        self.requests: list[tuple[float, str, str]] = []  # (time, method, channel)
        self.rate_limited = 0
        self.script: dict[str, deque[Action]] = defaultdict(deque)
        self.enforce_rate = enforce_rate
        self.held = threading.Event()
        self.release = threading.Event()
        self.received = threading.Condition(self.lock)
        self._last_post: dict[str, float] = {}
        self._counter = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self)

            def do_POST(self) -> None:
                fake._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/B000/secret"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def then(self, method: str, *actions: Action) -> None:
        with self.lock:
            self.script[method].extend(actions)

    # -- views for assertions -------------------------------------------------------------

    def roots(self, channel: str | None = None) -> list[Message]:
        with self.lock:
            return [
                m
                for m in self.messages
                if m.thread_ts is None and (channel is None or m.channel == channel)
            ]

    def replies(self, root: Message) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if m.thread_ts == root.ts]

    def all_keys(self) -> list[str]:
        with self.lock:
            return [key for m in self.messages for key in m.keys]

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        with self.received:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"fake Slack: condition not met in {timeout}s")
                self.received.wait(min(remaining, 0.1))

    # -- the server -----------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        params: dict[str, Any] = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if raw:
            if "json" in (request.headers.get("Content-Type") or ""):
                params.update(json.loads(raw))
            else:
                params.update({k: v[0] for k, v in parse_qs(raw.decode()).items()})
        if parts.path.startswith("/hooks/"):
            self._webhook(request, params)
            return
        method = parts.path.removeprefix("/api/")
        with self.lock:
            self.requests.append((time.monotonic(), method, str(params.get("channel", ""))))
            action = self.script[method].popleft() if self.script[method] else None
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._json(request, 200, {"ok": False, "error": "invalid_auth"})
            return
        if action is not None and action.kind == "error":
            if action.status == 429:
                with self.lock:
                    self.rate_limited += 1
            headers = {"Retry-After": str(action.retry_after)} if action.retry_after else {}
            self._json(request, action.status, {"ok": False, "error": action.error}, headers)
            return
        if method == "chat.postMessage" and self.enforce_rate:
            channel = self._channel_id(str(params.get("channel")))
            now = time.monotonic()
            with self.lock:
                last = self._last_post.get(channel or "", -1e9)
                too_fast = now - last < self.enforce_rate
                if too_fast:
                    self.rate_limited += 1
                else:
                    self._last_post[channel or ""] = now
            if too_fast:
                body = {"ok": False, "error": "ratelimited"}
                self._json(request, 429, body, {"Retry-After": "1"})
                return
        answer = self._answer(method, params, store=action is None or action.deliver)
        if action is not None and action.kind == "timeout":
            time.sleep(action.seconds)
        if action is not None and action.kind == "hold":
            self.held.set()
            self.release.wait(60)
        if action is not None and action.kind in ("timeout", "hold") and not action.deliver:
            self._json(request, 500, {"ok": False, "error": "internal_error"})
            return
        self._json(request, 200, answer)

    def _channel_id(self, channel: str) -> str | None:
        if channel in CHANNELS:
            return CHANNELS[channel]
        if channel in CHANNELS.values():
            return channel
        return None

    def _answer(self, method: str, params: dict[str, Any], *, store: bool) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "user_id": "UBOT", "team": "Dockyard Test"}
        channel = self._channel_id(str(params.get("channel", "")))
        if method in ("conversations.history", "conversations.replies"):
            if channel is None or channel != params.get("channel"):
                return {"ok": False, "error": "channel_not_found"}  # ids only, like Slack
            with_meta = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
            with self.lock:
                if method == "conversations.history":
                    found = [m for m in self.messages if m.channel == channel and not m.thread_ts]
                else:
                    root = params.get("ts")
                    found = [
                        m
                        for m in self.messages
                        if m.channel == channel and (m.ts == root or m.thread_ts == root)
                    ]
            return {
                "ok": True,
                "messages": [
                    {"ts": m.ts, "text": m.text, **({"metadata": m.metadata} if with_meta else {})}
                    for m in reversed(found)
                ],
            }
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if method == "chat.postMessage":
            with self.received:
                self._counter += 1
                ts = f"{1_700_000_000 + self._counter}.{self._counter:06d}"
                if store:
                    self.messages.append(
                        Message(
                            channel,
                            ts,
                            str(params.get("text", "")),
                            list(params.get("blocks") or []),
                            params.get("metadata"),
                            params.get("thread_ts"),
                        )
                    )
                self.received.notify_all()
            return {"ok": True, "channel": channel, "ts": ts}
        if method == "chat.update":
            with self.received:
                target = next(
                    (m for m in self.messages if m.channel == channel and m.ts == params.get("ts")),
                    None,
                )
                if target is None:
                    return {"ok": False, "error": "message_not_found"}
                target.history.append(target.text)
                target.text = str(params.get("text", ""))
                target.blocks = list(params.get("blocks") or [])
                target.updates += 1
                self.received.notify_all()
            return {"ok": True, "channel": channel, "ts": target.ts}
        return {"ok": False, "error": "unknown_method"}

    def _webhook(self, request: BaseHTTPRequestHandler, params: dict[str, Any]) -> None:
        with self.lock:
            action = self.script["webhook"].popleft() if self.script["webhook"] else None
        if action is not None and action.kind == "error":
            headers = {"Retry-After": str(action.retry_after)} if action.retry_after else {}
            self._text(request, action.status, action.error, headers)
            return
        with self.received:
            self.webhook_posts.append(params)
            self.received.notify_all()
        self._text(request, 200, "ok", {})

    @staticmethod
    def _json(
        request: BaseHTTPRequestHandler,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        FakeSlack._send(request, status, json.dumps(body).encode(), "application/json", headers)

    @staticmethod
    def _text(
        request: BaseHTTPRequestHandler, status: int, body: str, headers: dict[str, str]
    ) -> None:
        FakeSlack._send(request, status, body.encode(), "text/plain", headers)

    @staticmethod
    def _send(
        request: BaseHTTPRequestHandler,
        status: int,
        data: bytes,
        content_type: str,
        headers: dict[str, str] | None,
    ) -> None:
        try:
            request.send_response(status)
            request.send_header("Content-Type", content_type)
            request.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                request.send_header(name, value)
            request.end_headers()
            request.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (time-out) or was killed
