"""The CLI's side of the HTTP API: contexts from a kubeconfig-format file, requests, errors.

The config file is a kubeconfig (the one ``dockyard kubeconfig`` prints and ``dockyard up``
writes), so one file serves both ``dockyard`` and ``kubectl``. It is found, first match wins:
``--kubeconfig``, ``DOCKYARD_CONFIG``, ``~/.dockyard/config``, then ``<data dir>/kubeconfig``
(written by ``dockyard up`` on this machine).

Errors read like kubectl's: a Status from the server becomes ``Error from server (Reason):
message``; a refused connection names the server and asks whether the host and port are right.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

from dockyard.model.manifests import ManifestError
from dockyard.server.discovery import Resource, served_resources
from dockyard.settings import Settings
from dockyard.store.apply import ManifestRejected

JsonObject = dict[str, Any]
TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


class ClientError(Exception):
    """A problem on the client's side (config, arguments): printed as ``error: <message>``."""


class ServerUnreachable(ClientError):
    """The API server did not answer (printed as kubectl prints it, without ``error:``)."""


class ApiError(Exception):
    """The server answered with a Status (4xx/5xx)."""

    def __init__(self, code: int, reason: str, message: str, details: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def kubectl_text(self) -> str:
        if self.reason == "Invalid" and self.details.get("causes"):
            kind, name = self.details.get("kind", ""), self.details.get("name", "")
            causes = "; ".join(
                f"{c.get('field', '')}: {c.get('message', '')}" for c in self.details["causes"]
            )
            return f'The {kind.capitalize() if kind.islower() else kind} "{name}" is invalid: ' + (
                causes
            )
        return f"Error from server ({self.reason or 'Unknown'}): {self.message}"


@dataclass(frozen=True)
class Context:
    name: str
    server: str
    namespace: str
    token: str | None
    ca_pem: bytes | None
    insecure: bool = False


def config_path(settings: Settings, explicit: Path | None = None) -> Path:
    if explicit is not None:
        return explicit
    if settings.config is not None:
        return settings.config
    home = Path.home() / ".dockyard" / "config"
    if home.exists():
        return home
    return settings.data_dir / "kubeconfig"


def load_context(path: Path, name: str | None = None, namespace: str | None = None) -> Context:
    """The named (or current) context of the kubeconfig at ``path``."""
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ClientError(
            f"no client config at {path}: run `dockyard up` on this machine, or save the output "
            "of `dockyard kubeconfig --user NAME` there (or pass --kubeconfig)"
        ) from None
    except (OSError, yaml.YAMLError) as exc:
        raise ClientError(f"cannot read the client config {path}: {exc}") from None
    if not isinstance(config, dict):
        raise ClientError(f"{path} is not a kubeconfig (expected a mapping)")
    wanted = name or config.get("current-context") or ""
    if not wanted:
        raise ClientError(f"no current context in {path}: pass --context NAME")

    def entry(section: str, key: str) -> JsonObject | None:
        for item in config.get(section) or []:
            if isinstance(item, dict) and item.get("name") == key:
                value = item.get(section[:-1])
                return value if isinstance(value, dict) else {}
        return None

    context = entry("contexts", wanted)
    if context is None:
        raise ClientError(f'context "{wanted}" does not exist (in {path})')
    cluster = entry("clusters", str(context.get("cluster", "")))
    if cluster is None or not cluster.get("server"):
        raise ClientError(
            f'cluster "{context.get("cluster", "")}" of context "{wanted}" has no '
            f"server (in {path})"
        )
    user = entry("users", str(context.get("user", ""))) or {}
    ca_pem: bytes | None = None
    if cluster.get("certificate-authority-data"):
        ca_pem = base64.b64decode(str(cluster["certificate-authority-data"]))
    elif cluster.get("certificate-authority"):
        try:
            ca_pem = Path(str(cluster["certificate-authority"])).read_bytes()
        except OSError as exc:
            raise ClientError(f"cannot read the certificate authority: {exc}") from None
    token = user.get("token")
    if token is None and user.get("tokenFile"):
        try:
            token = Path(str(user["tokenFile"])).read_text().strip()
        except OSError as exc:
            raise ClientError(f"cannot read the token file: {exc}") from None
    return Context(
        name=wanted,
        server=str(cluster["server"]).rstrip("/"),
        namespace=namespace or str(context.get("namespace") or "default"),
        token=str(token) if token else None,
        ca_pem=ca_pem,
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
    )


def find_resource(name: str) -> Resource:
    """What ``kubectl get <name>`` means: plural, singular, short name or kind, any case,
    optionally qualified by group (``deployments.apps``)."""
    lowered = name.lower()
    for resource in served_resources():
        if resource.group == "events.k8s.io":
            continue
        names = {resource.plural, resource.singular, resource.kind.lower(), *resource.short_names}
        qualified = {f"{n}.{resource.group}" for n in names} if resource.group else set()
        if lowered in names or lowered in qualified:
            return resource
    raise ClientError(f'the server doesn\'t have a resource type "{name}"')


def resource_of(api_version: str, kind: str) -> Resource:
    for resource in served_resources():
        if resource.api_version == api_version and resource.kind == kind:
            return resource
    raise ClientError(f'no matches for kind "{kind}" in version "{api_version}"')


def type_name(resource: Resource) -> str:
    """``pod``, ``deployment.apps``: how kubectl names a resource in its messages."""
    return f"{resource.singular}.{resource.group}" if resource.group else resource.singular


class ApiClient:
    def __init__(self, context: Context, *, timeout: float = 30.0) -> None:
        self.context = context
        logging.getLogger("httpx").setLevel(logging.WARNING)  # no request lines on the terminal
        verify: ssl.SSLContext | bool = True
        if context.insecure:
            verify = False
        elif context.ca_pem is not None:
            verify = ssl.create_default_context(cadata=context.ca_pem.decode())
        headers = {"User-Agent": "dockyard-cli"}
        if context.token:
            headers["Authorization"] = f"Bearer {context.token}"
        self._http = httpx.Client(
            base_url=context.server, headers=headers, verify=verify, timeout=timeout
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def namespace(self) -> str:
        return self.context.namespace

    def path(
        self,
        resource: Resource,
        namespace: str | None,
        name: str | None = None,
        subresource: str | None = None,
    ) -> str:
        base = f"/apis/{resource.group}/{resource.version}" if resource.group else "/api/v1"
        if resource.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{resource.plural}"
        if name:
            base += f"/{name}"
        if subresource:
            base += f"/{subresource}"
        return base

    def _refused(self) -> ClientError:
        where = urlsplit(self.context.server).netloc
        return ServerUnreachable(
            f"The connection to the server {where} was refused - did you specify the right host "
            "or port?"
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> JsonObject:
        headers = {"Accept": accept}
        content = None
        if body is not None:
            content = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        try:
            response = self._http.request(
                method, path, params=params, content=content, headers=headers
            )
        except httpx.ConnectError:
            raise self._refused() from None
        except httpx.TransportError as exc:
            raise ClientError(f"cannot talk to the server {self.context.server}: {exc}") from None
        _raise_for_status(response)
        result: JsonObject = response.json()
        return result

    def stream(
        self, path: str, params: Mapping[str, str], accept: str = "application/json"
    ) -> Iterator[bytes]:
        """The body of a long-running GET (watch, followed log), chunk by chunk."""
        try:
            with self._http.stream(
                "GET", path, params=params, headers={"Accept": accept}, timeout=None
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    _raise_for_status(response)
                yield from response.iter_bytes()
        except httpx.ConnectError:
            raise self._refused() from None
        except httpx.RemoteProtocolError:
            return

    def watch(
        self, path: str, params: Mapping[str, str], accept: str = "application/json"
    ) -> Iterator[JsonObject]:
        """Watch events (``{"type": ..., "object": ...}``), one per line of the stream."""
        buffer = b""
        for chunk in self.stream(path, {**params, "watch": "true"}, accept):
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line.strip():
                    yield json.loads(line)

    def get(self, resource: Resource, namespace: str | None, name: str) -> JsonObject:
        return self.request("GET", self.path(resource, namespace, name))

    def get_or_none(
        self, resource: Resource, namespace: str | None, name: str
    ) -> JsonObject | None:
        try:
            return self.get(resource, namespace, name)
        except ApiError as exc:
            if exc.code == 404:
                return None
            raise

    def list(self, resource: Resource, namespace: str | None, **params: str) -> JsonObject:
        query = {k: v for k, v in params.items() if v}
        return self.request("GET", self.path(resource, namespace), params=query)


def _raise_for_status(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        status = response.json()
    except ValueError:
        status = {}
    if not isinstance(status, dict):
        status = {}
    message = str(status.get("message") or response.text.strip() or response.reason_phrase)
    raise ApiError(
        response.status_code,
        str(status.get("reason") or ""),
        message,
        status.get("details") or {},
    )


def connect(settings: Settings, args: Any) -> ApiClient:
    """The client for the command line's ``--kubeconfig``, ``--context`` and ``-n``."""
    path = config_path(settings, getattr(args, "kubeconfig", None))
    context = load_context(path, getattr(args, "context", None), getattr(args, "namespace", None))
    return ApiClient(context)


def kube_command(handler: Callable[[Any, Settings], int]) -> Callable[[Any, Settings], int]:
    """Run a client command, printing errors as kubectl does (exit code 1)."""

    def run(args: Any, settings: Settings) -> int:
        try:
            return handler(args, settings)
        except ApiError as exc:
            print(exc.kubectl_text(), file=sys.stderr)
        except ServerUnreachable as exc:
            print(exc, file=sys.stderr)
        except (ClientError, ManifestError, ManifestRejected) as exc:
            print(f"error: {exc}", file=sys.stderr)
        return 1

    return run


def add_connection_flags(parser: Any, *, namespaced: bool = True) -> None:
    parser.add_argument("--kubeconfig", type=Path, help="client config file (a kubeconfig)")
    parser.add_argument("--context", help="context of the config file to use")
    if namespaced:
        parser.add_argument("-n", "--namespace", help="namespace (default: the context's)")
