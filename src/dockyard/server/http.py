"""Request plumbing: bounded body reading and decoding, JSON responses, Status responses."""

from __future__ import annotations

import json
from typing import Any

import pydantic_core
import yaml
from starlette.requests import Request
from starlette.responses import Response

from dockyard.server import protobuf
from dockyard.server import status as st
from dockyard.server.patch import PATCH_TYPES


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return pydantic_core.to_json(content)  # compact UTF-8, as json.dumps, 2x faster


def status_response(error: st.ApiError) -> Response:
    return JsonResponse(error.status(), status_code=error.code, headers=error.headers)


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise st.too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise st.too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "application/json").split(";", 1)[0].strip().lower()


def decode_body(raw: bytes, content_type: str, *, patch: bool = False) -> Any:
    """JSON (or YAML for plain bodies) -> a Python value; malformed -> 400 BadRequest."""
    if patch and content_type not in PATCH_TYPES:
        raise st.unsupported_media_type(content_type)
    if not raw.strip():
        raise st.bad_request("the request body is empty")
    if content_type == protobuf.MEDIA_TYPE and not patch:
        return protobuf.decode_body(raw)
    if content_type in ("application/yaml", "application/x-yaml", "text/yaml"):
        try:
            return yaml.safe_load(raw.decode())
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise st.bad_request(f"the request body is not valid YAML: {exc}") from None
    if not patch and content_type not in ("application/json", "", "*/*"):
        raise st.unsupported_media_type(content_type)
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise st.bad_request(f"the request body is not valid JSON: {exc}") from None
