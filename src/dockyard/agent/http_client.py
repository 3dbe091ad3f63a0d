""":class:`ControlPlaneClient` over the Dockyard API: an agent on another host needs no database.

Kubernetes verbs do most of it: list the pods bound to the node (``fieldSelector
spec.nodeName=<node>``), create the Node and PUT its ``status``, PUT ``pods/{name}/status``, and
the final pod deletion (``gracePeriodSeconds: 0`` with a uid precondition, as the kubelet does).
What Kubernetes has no verb for goes to Dockyard's agent endpoints
(:mod:`dockyard.server.agent_api`): appending observed facts, reading a pod's runtime stream
back after a restart, and renewing the lease.

Errors: a Kubernetes ``Status`` the agent does not expect becomes :class:`ControlPlaneError`
(with the server's message); transport failures are ``httpx`` errors. Both are caught by the
agent's loops and pod workers, which retry, so a control plane that is briefly away costs
nothing but time.
"""

from __future__ import annotations

import base64
import copy
import ssl
import threading
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import yaml

from dockyard import __version__
from dockyard.store.events import NewEvent, RecordedEvent

__all__ = ["ControlPlaneError", "HttpControlPlane", "KubeconfigError", "load_kubeconfig"]

JsonObject = dict[str, Any]
_STATUS_RETRIES = 5


class ControlPlaneError(RuntimeError):
    def __init__(self, method: str, path: str, code: int, message: str) -> None:
        super().__init__(f"{method} {path}: {code} {message}")
        self.code = code


class KubeconfigError(ValueError):
    """The kubeconfig cannot be used; the message names the field."""


def load_kubeconfig(path: Path, context: str | None = None) -> tuple[str, str, ssl.SSLContext]:
    """``(server URL, bearer token, TLS context)`` of a kubeconfig's (current) context."""
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise KubeconfigError(f"cannot read kubeconfig {path}: {exc}") from None
    if not isinstance(config, dict):
        raise KubeconfigError(f"{path}: not a kubeconfig (expected a mapping)")

    def named(section: str, name: str) -> JsonObject:
        for entry in config.get(section) or ():
            if isinstance(entry, dict) and entry.get("name") == name:
                value = entry.get(section[:-1])
                if isinstance(value, dict):
                    return value
        raise KubeconfigError(f"{path}: {section}: no entry named {name!r}")

    wanted = context or config.get("current-context")
    if not wanted:
        raise KubeconfigError(f"{path}: current-context: not set (pass a context)")
    ctx = named("contexts", str(wanted))
    cluster = named("clusters", str(ctx.get("cluster")))
    user = named("users", str(ctx.get("user")))
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith(("https://", "http://")):
        raise KubeconfigError(f"{path}: clusters[].cluster.server: not an http(s) URL")
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = _read_token(Path(str(user["tokenFile"])))
    if not isinstance(token, str) or not token:
        raise KubeconfigError(f"{path}: users[].user.token: a bearer token is required")
    if cluster.get("insecure-skip-tls-verify"):
        tls = ssl.create_default_context()
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
    elif cluster.get("certificate-authority-data"):
        try:
            pem = base64.b64decode(str(cluster["certificate-authority-data"])).decode()
            tls = ssl.create_default_context(cadata=pem)
        except (ValueError, ssl.SSLError) as exc:
            raise KubeconfigError(
                f"{path}: clusters[].cluster.certificate-authority-data: {exc}"
            ) from None
    elif cluster.get("certificate-authority"):
        tls = tls_context(Path(str(cluster["certificate-authority"])))
    else:
        tls = ssl.create_default_context()
    return server, token, tls


def _read_token(path: Path) -> str:
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise KubeconfigError(f"cannot read token file {path}: {exc.strerror}") from None
    if not token:
        raise KubeconfigError(f"token file {path} is empty")
    return token


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise KubeconfigError(f"cannot use CA file {ca_file}: {exc}") from None


class HttpControlPlane:
    """The agent's control plane, reached through the Dockyard API with a bearer token."""

    def __init__(
        self,
        server: str,
        token: str,
        node: str,
        *,
        verify: ssl.SSLContext | bool = True,
        timeout: float = 15.0,
    ) -> None:
        self.node = node
        self.http = httpx.Client(
            base_url=server.rstrip("/"),
            headers={
                "Authorization": f"Bearer {token}",
                "User-Agent": f"dockyard-agent/{__version__} (node {node})",
            },
            verify=verify,
            timeout=timeout,
        )
        self._pods: dict[str, JsonObject] = {}  # uid -> body, from the last list
        self._lock = threading.Lock()

    @classmethod
    def from_token_file(
        cls, server: str, token_file: Path, node: str, *, ca_file: Path | None = None
    ) -> HttpControlPlane:
        return cls(server, _read_token(token_file), node, verify=tls_context(ca_file))

    @classmethod
    def from_kubeconfig(
        cls, path: Path, node: str, *, context: str | None = None
    ) -> HttpControlPlane:
        server, token, tls = load_kubeconfig(path, context)
        return cls(server, token, node, verify=tls)

    def close(self) -> None:
        self.http.close()

    # --- plumbing ---------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        allow: Sequence[int] = (),
    ) -> tuple[int, Any]:
        response = self.http.request(method, path, json=json, params=params)
        if response.status_code < 300 or response.status_code in allow:
            try:
                return response.status_code, response.json()
            except ValueError:
                return response.status_code, None
        try:
            message = str(response.json().get("message") or response.text)
        except ValueError:
            message = response.text
        raise ControlPlaneError(method, path, response.status_code, message)

    @staticmethod
    def _pod_path(namespace: str, name: str) -> str:
        return f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(name, safe='')}"

    # --- pods -------------------------------------------------------------------------------

    def pods_for_node(self, node: str) -> list[JsonObject]:
        _, body = self._request(
            "GET", "/api/v1/pods", params={"fieldSelector": f"spec.nodeName={node}"}
        )
        pods = []
        for item in body.get("items") or ():
            pod = dict(item)
            pod.setdefault("apiVersion", "v1")
            pod.setdefault("kind", "Pod")
            pods.append(pod)
        with self._lock:
            self._pods = {str(p["metadata"]["uid"]): p for p in pods}
        return pods

    def pod_versions(self, node: str) -> dict[str, str]:
        return {
            str(p["metadata"]["uid"]): str(p["metadata"].get("resourceVersion", ""))
            for p in self.pods_for_node(node)
        }

    def pods_by_uid(self, uids: Sequence[str]) -> list[JsonObject]:
        """From the last list (``pod_versions`` just made it); a fresh list if one is missing."""
        with self._lock:
            cached = dict(self._pods)
        if any(uid not in cached for uid in uids):
            cached = {str(p["metadata"]["uid"]): p for p in self.pods_for_node(self.node)}
        return [copy.deepcopy(cached[uid]) for uid in uids if uid in cached]

    def update_pod_status(self, pod: Mapping[str, Any], status: JsonObject) -> JsonObject | None:
        meta = pod["metadata"]
        body = copy.deepcopy(dict(pod))
        body.setdefault("apiVersion", "v1")
        body.setdefault("kind", "Pod")
        body["status"] = status
        body["metadata"].pop("resourceVersion", None)  # the agent owns status: last write wins
        path = self._pod_path(str(meta.get("namespace") or "default"), str(meta["name"]))
        code, written = self._request("PUT", f"{path}/status", json=body, allow=(404,))
        return None if code == 404 else dict(written)

    def remove_pod(self, namespace: str, name: str, uid: str) -> bool:
        options = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": uid},
        }
        code, _ = self._request(
            "DELETE", self._pod_path(namespace, name), json=options, allow=(404, 409)
        )
        return code < 300

    # --- node -------------------------------------------------------------------------------

    def register_node(self, node: str, *, labels: Mapping[str, str], status: JsonObject) -> bool:
        path = f"/api/v1/nodes/{quote(node, safe='')}"
        code, _ = self._request("GET", path, allow=(404,))
        created = False
        if code == 404:
            body = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": node, "labels": dict(labels)},
                "spec": {},
            }
            code, _ = self._request("POST", "/api/v1/nodes", json=body, allow=(409,))
            created = code < 300
        for _attempt in range(_STATUS_RETRIES):
            _, current = self._request("GET", path)
            current["status"] = status
            code, _ = self._request("PUT", f"{path}/status", json=current, allow=(409,))
            if code < 300:
                break
        else:
            raise ControlPlaneError("PUT", f"{path}/status", 409, "kept conflicting")
        return created

    def renew_lease(self, node: str, *, holder: str, duration_seconds: int) -> None:
        self._request(
            "PUT",
            f"/apis/dockyard.io/v1/nodes/{quote(node, safe='')}/lease",
            json={"holderIdentity": holder, "leaseDurationSeconds": duration_seconds},
        )

    # --- facts ------------------------------------------------------------------------------

    def append(self, events: Sequence[NewEvent]) -> list[RecordedEvent]:
        if not events:
            return []
        items = [
            {
                "eventID": str(e.event_id),
                "stream": e.stream_id,
                "type": e.type,
                "schemaVersion": e.schema_version,
                "data": e.data,
                "metadata": e.metadata,
            }
            for e in events
        ]
        _, body = self._request("POST", self._facts_path(), json={"items": items})
        return [_recorded(item) for item in body.get("items") or ()]

    def read_stream(self, stream_id: str) -> list[RecordedEvent]:
        _, body = self._request("GET", self._facts_path(), params={"stream": stream_id})
        return [_recorded(item) for item in body.get("items") or ()]

    def _facts_path(self) -> str:
        return f"/apis/dockyard.io/v1/nodes/{quote(self.node, safe='')}/facts"


def _recorded(item: Mapping[str, Any]) -> RecordedEvent:
    return RecordedEvent(
        position=int(item["position"]),
        event_id=uuid.UUID(str(item["eventID"])),
        stream_id=str(item["stream"]),
        version=int(item["version"]),
        type=str(item["type"]),
        schema_version=int(item["schemaVersion"]),
        data=dict(item["data"]),
        metadata=dict(item.get("metadata") or {}),
        recorded_at=datetime.fromisoformat(str(item["recordedAt"])),
    )
