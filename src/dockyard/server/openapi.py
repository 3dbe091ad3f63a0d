"""The OpenAPI documents kubectl reads.

kubectl 1.32 decides between server-side and client-side validation by looking, in the OpenAPI
v3 document of the object's group/version, for a PATCH operation tagged with the object's
``x-kubernetes-group-version-kind`` that accepts the ``fieldValidation`` query parameter
(cli-runtime ``queryParamVerifierV3``). Dockyard declares exactly that, so ``kubectl apply``
sends ``fieldValidation=Strict`` and the server rejects unknown fields itself (with the field
named). The documents carry no schemas: kubectl then computes apply patches from its built-in
types (a strategic merge patch, which patch.py applies), and ``kubectl explain`` is not
supported. The v2 document is a valid, empty Swagger 2.0 document for clients that insist.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from dockyard.server.discovery import Resource, served_resources

JsonObject = dict[str, Any]
_INFO = {"title": "Dockyard (Kubernetes API)", "version": "v1.32.0"}
_QUERY_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force")


def _gv_path(r: Resource) -> str:
    return f"api/{r.version}" if not r.group else f"apis/{r.group}/{r.version}"


def _object_path(r: Resource) -> str:
    scope = "namespaces/{namespace}/" if r.namespaced else ""
    return f"/{_gv_path(r)}/{scope}{r.plural}/{{name}}"


def _patch_operation(r: Resource, suffix: str = "") -> JsonObject:
    return {
        "operationId": f"patch{r.kind}{suffix}",
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
        "parameters": [
            {"name": name, "in": "query", "schema": {"type": "string"}} for name in _QUERY_PARAMS
        ],
        "requestBody": {
            "content": {
                media: {"schema": {"type": "object"}}
                for media in ("application/json-patch+json", "application/merge-patch+json")
            }
        },
        "responses": {"200": {"description": "OK"}},
    }


def v3_group_version(path: str) -> JsonObject | None:
    """``/openapi/v3/<path>`` where path is ``api/v1`` or ``apis/<group>/<version>``."""
    matching = [r for r in served_resources() if _gv_path(r) == path and not r.read_only]
    if not any(_gv_path(r) == path for r in served_resources()):
        return None
    paths: JsonObject = {}
    for r in matching:
        paths[_object_path(r)] = {"patch": _patch_operation(r)}
        paths[_object_path(r) + "/status"] = {"patch": _patch_operation(r, "Status")}
    return {"openapi": "3.0.0", "info": _INFO, "paths": paths, "components": {"schemas": {}}}


def _hash(document: JsonObject) -> str:
    raw = json.dumps(document, sort_keys=True).encode()
    return hashlib.sha512(raw).hexdigest()[:32].upper()


def v3_index() -> JsonObject:
    paths: JsonObject = {}
    for path in sorted({_gv_path(r) for r in served_resources()}):
        document = v3_group_version(path) or {}
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={_hash(document)}"}
    return {"paths": paths}


def v2_document() -> JsonObject:
    return {"swagger": "2.0", "info": _INFO, "paths": {}, "definitions": {}}
