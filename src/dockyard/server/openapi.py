"""The OpenAPI documents: v3 per group-version (what kubectl reads) and v2, with real schemas.

- ``/openapi/v3`` lists each group-version discovery serves, as ``serverRelativeURL`` with the
  document's hash; ``/openapi/v3/api/v1``, ``/openapi/v3/apis/<group>/<version>`` are the
  documents: the component schemas of the group-version's kinds (generated from the models by
  openapi_schema.py) and the paths with their verbs and query parameters.
- kubectl 1.32 decides between server-side and client-side validation by looking for a PATCH
  operation tagged with the object's ``x-kubernetes-group-version-kind`` that accepts the
  ``fieldValidation`` query parameter; every write operation here declares it, so ``kubectl
  apply`` sends ``fieldValidation=Strict`` and the server names unknown fields itself.
- The schemas carry Kubernetes' patch metadata (patch.py's merge keys), but the PATCH operations
  do not declare strategic merge patches (see openapi_paths._patch_body): kubectl computes apply
  patches from its built-in types for the Kubernetes kinds and a JSON merge patch for Dockyard's.
- ``kubectl explain`` walks the component schemas (descriptions: openapi_text*.py).
- ``/openapi/v2`` is the same content in Swagger 2.0 form, as JSON. kubectl asks for v2 only as
  protobuf (``application/com.github.proto-openapi.spec.v2@v1.0+protobuf``), which is not
  served: it gets 406 and falls back, as it does against servers without v2.

The documents are static for the process (they depend only on the registered kinds), so they
are built once, serialized once, and answered with an ETag (304 on ``If-None-Match``); a request
with the current ``?hash=`` may be cached forever, as Kubernetes allows.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dockyard.model.kinds import find_kind
from dockyard.server import openapi_models
from dockyard.server import status as st
from dockyard.server.auth import User
from dockyard.server.discovery import Resource, served_resources
from dockyard.server.openapi_paths import gv_path, resource_paths
from dockyard.server.openapi_schema import SchemaSet
from dockyard.server.openapi_v2 import to_swagger

JsonObject = dict[str, Any]
INFO = {"title": "Kubernetes", "version": "v1.32.0"}
_EVENT_MODELS = {"": openapi_models.CoreEvent, "events.k8s.io": openapi_models.EventsV1Event}
_ALWAYS: list[type[BaseModel]] = [
    openapi_models.Status,
    openapi_models.DeleteOptions,
    openapi_models.Patch,
]


@dataclass(frozen=True)
class Document:
    body: bytes
    hash: str

    @property
    def etag(self) -> str:
        return f'"{self.hash}"'

    @classmethod
    def of(cls, content: JsonObject) -> Document:
        body = json.dumps(content, separators=(",", ":"), sort_keys=True).encode()
        return cls(body, hashlib.sha512(body).hexdigest()[:32].upper())


@dataclass(frozen=True)
class Documents:
    v2: Document
    v3: dict[str, Document]  # "api/v1", "apis/apps/v1" -> document
    v3_index: Document


def documents() -> Documents:
    """The documents for the kinds served now (cached: kinds register at import time)."""
    return _build(tuple(served_resources()))


def v3_content(path: str) -> JsonObject | None:
    """The parsed v3 document of one group-version (for tests and tools)."""
    document = documents().v3.get(path)
    return None if document is None else dict(json.loads(document.body))


@functools.lru_cache(maxsize=4)
def _build(resources: tuple[Resource, ...]) -> Documents:
    schemas = SchemaSet()
    schemas.add_scalars()
    for model in _ALWAYS:
        schemas.add_model(model, openapi_models.NAMES[model])
    scale = schemas.add_kind(openapi_models.Scale, "autoscaling", "v1", "Scale", list_kind=False)
    by_gv: dict[str, tuple[list[str], JsonObject]] = {}
    for r in resources:
        roots, paths = by_gv.setdefault(gv_path(r), ([], {}))
        name = schemas.add_kind(_model_of(r), r.group, r.version, r.kind, list_kind=True)
        roots += [name, f"{name}List", *(openapi_models.NAMES[m] for m in _ALWAYS)]
        if "scale" in r.subresources:
            roots.append(scale)
        paths.update(resource_paths(r, name))
    v3: dict[str, JsonObject] = {
        path: {
            "openapi": "3.0.0",
            "info": INFO,
            "paths": dict(sorted(paths.items())),
            "components": {"schemas": schemas.closure(roots)},
        }
        for path, (roots, paths) in by_gv.items()
    }
    v3_documents = {path: Document.of(content) for path, content in v3.items()}
    index = {
        "paths": {
            path: {"serverRelativeURL": f"/openapi/v3/{path}?hash={document.hash}"}
            for path, document in sorted(v3_documents.items())
        }
    }
    return Documents(
        Document.of(to_swagger(INFO, list(v3.values()))), v3_documents, Document.of(index)
    )


def _model_of(r: Resource) -> Any:
    if r.read_only:
        return _EVENT_MODELS[r.group]
    info = find_kind(r.api_version, r.kind)
    assert info is not None, f"discovery serves {r.api_version} {r.kind} without a model"
    return info.model


# --- HTTP ------------------------------------------------------------------------------------


def accepts_json(accept: str) -> bool:
    """Whether an Accept header allows JSON (absent, */*, application/*, application/json)."""
    if not accept.strip():
        return True
    for entry in accept.split(","):
        media = entry.split(";", 1)[0].strip().lower()
        if media in ("*/*", "application/*", "application/json"):
            return True
    return False


def _answer(request: Request, document: Document, *, immutable: bool) -> Response:
    if not accepts_json(request.headers.get("accept", "")):
        raise st.not_acceptable("the OpenAPI documents are served as application/json only")
    headers = {
        "ETag": document.etag,
        "Vary": "Accept",
        "Cache-Control": "public, immutable" if immutable else "no-cache, private",
    }
    if document.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(document.body, media_type="application/json", headers=headers)


async def serve_v2(request: Request, user: User) -> Response:
    return _answer(request, documents().v2, immutable=False)


async def serve_v3(request: Request, user: User) -> Response:
    path = request.path_params.get("path", "").strip("/")
    docs = documents()
    if not path:
        return _answer(request, docs.v3_index, immutable=False)
    document = docs.v3.get(path)
    if document is None:
        raise st.path_not_found(request.url.path)
    wanted = request.query_params.get("hash")
    if wanted and wanted != document.hash:
        # An old hash: send the client to the current document, as Kubernetes does.
        return RedirectResponse(f"/openapi/v3/{path}?hash={document.hash}", status_code=301)
    return _answer(request, document, immutable=bool(wanted))
