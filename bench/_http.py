"""A lean keep-alive HTTPS client for generating load.

The load generator shares the 2 cores with the server and PostgreSQL, so its own CPU per request
lands in the measured latency. httpx spends about 1.4 ms of CPU per request here (its transport
and model layers); ``http.client`` on one persistent TLS connection spends a fraction of that.
Kubernetes' own latency SLOs are measured from clients on other machines; a lighter generator
is the nearer equivalent on one machine.
"""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class LeanClient:
    """One persistent HTTPS connection (use one per thread), bearer token on every request."""

    def __init__(self, base: str, context: ssl.SSLContext, token: str, timeout: float = 60) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 443
        self.context, self.timeout = context, timeout
        self.headers = {"authorization": f"Bearer {token}", "accept": "application/json"}
        self.conn: http.client.HTTPSConnection | None = None

    def _connection(self) -> http.client.HTTPSConnection:
        if self.conn is None:
            self.conn = http.client.HTTPSConnection(
                self.host, self.port, context=self.context, timeout=self.timeout
            )
        return self.conn

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        sent = dict(self.headers)
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            sent["content-type"] = "application/json"
        sent.update({key.lower(): value for key, value in (headers or {}).items()})
        for attempt in (1, 2):  # the server may close an idle keep-alive connection
            conn = self._connection()
            try:
                conn.request(method, path, body=payload, headers=sent)
                response = conn.getresponse()
                return Reply(response.status, response.read())
            except (http.client.RemoteDisconnected, ConnectionError, ssl.SSLEOFError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def lines(self, path: str, params: Mapping[str, str]) -> Iterator[bytes]:
        """A streaming GET (a watch), sent now: its non-empty lines as they arrive."""
        conn = self._connection()
        conn.request("GET", f"{path}?{urlencode(params)}", headers=self.headers)
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {response.read()[:300]!r}")
        return (line for line in iter(response.readline, b"") if line.strip())

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
