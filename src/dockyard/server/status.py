"""Kubernetes ``Status`` errors: every failure a client can cause is one of these, never a 500.

``ApiError`` carries the HTTP code, the Status ``reason`` and the message kubectl prints as
``Error from server (<reason>): <message>``; ``details`` names the object (and, for Invalid,
each bad field as a cause).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dockyard.model.validation import InvalidObject
from dockyard.store.writer import ObjectError

JsonObject = dict[str, Any]


class ApiError(Exception):
    """An error answered as a ``Status`` object."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: JsonObject | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> JsonObject:
        body: JsonObject = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _details(name: str | None, group: str, plural: str) -> JsonObject:
    details: JsonObject = {"kind": plural}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    return details


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(
    user: str,
    verb: str,
    plural: str,
    group: str,
    namespace: str,
    name: str | None = None,
    *,
    subresource: str | None = None,
    reason: str = "",
) -> ApiError:
    """As kube-apiserver words it; an authorizer's ``reason`` follows a colon."""
    resource = f"{plural}{'.' + group if group else ''}"
    named = f' "{name}"' if name else ""
    scope = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    asked = f"{plural}/{subresource}" if subresource else plural
    message = (
        f'{resource}{named} is forbidden: User "{user}" cannot {verb} resource "{asked}" '
        f'in API group "{group}"{scope}'
    )
    if reason:
        message += f": {reason}"
    return ApiError(403, "Forbidden", message, details=_details(name, group, plural))


def precondition_failed(plural: str, group: str, name: str, detail: str) -> ApiError:
    """409 for a failed uid / resourceVersion precondition (store/preconditions.py words it)."""
    resource = f"{plural}.{group}" if group else plural
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {resource} "{name}": {detail}',
        details=_details(name, group, plural),
    )


def not_found(plural: str, name: str, group: str = "") -> ApiError:
    resource = f"{plural}.{group}" if group else plural
    return ApiError(
        404, "NotFound", f'{resource} "{name}" not found', details=_details(name, group, plural)
    )


def path_not_found(path: str) -> ApiError:
    return ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")


def method_not_allowed(method: str, what: str) -> ApiError:
    return ApiError(
        405,
        "MethodNotAllowed",
        f"the server does not allow this method on the requested resource ({method} {what})",
    )


def not_acceptable(message: str) -> ApiError:
    return ApiError(406, "NotAcceptable", message)


def too_large(limit: int) -> ApiError:
    return ApiError(413, "RequestEntityTooLarge", f"the request body is larger than {limit} bytes")


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - "
        f"accepted media types include: application/json, application/yaml "
        f'(got "{content_type}")',
    )


def unavailable(message: str) -> ApiError:
    return ApiError(503, "ServiceUnavailable", message)


def from_object_error(error: ObjectError, plural: str, group: str, name: str) -> ApiError:
    """The writer's NotFound / AlreadyExists / Conflict, worded as the API server words them."""
    resource = f"{plural}.{group}" if group else plural
    # A failed precondition (uid, resourceVersion) says which; a plain conflict is stale.
    conflict = getattr(error, "detail", "") or (
        "the object has been modified; please apply your changes to the latest version and "
        "try again"
    )
    messages = {
        "NotFound": f'{resource} "{name}" not found',
        "AlreadyExists": f'{resource} "{name}" already exists',
        "Conflict": f'Operation cannot be fulfilled on {resource} "{name}": {conflict}',
    }
    message = messages.get(error.reason, str(error))
    return ApiError(error.code, error.reason, message, details=_details(name, group, plural))


def invalid(error: InvalidObject, plural: str) -> ApiError:
    causes = [
        {"reason": e.cause_type, "message": str(e) if not e.path else e.body(), "field": e.path}
        for e in error.errors
    ]
    details = _details(error.name, error.group, plural)
    details["kind"] = error.kind or plural
    details["causes"] = causes
    return ApiError(422, "Invalid", error.status_message, details=details)


def invalid_fields(
    kind: str, group: str, name: str, problems: Sequence[tuple[str, str]]
) -> ApiError:
    """422 for checks the API itself makes (immutable fields ...): ``(field, message)``."""
    qualified = f"{kind}.{group}" if group else kind
    shown = [f"{field}: {message}" for field, message in problems]
    text = shown[0] if len(shown) == 1 else "[" + ", ".join(shown) + "]"
    details: JsonObject = {
        "name": name,
        "kind": kind,
        "causes": [
            {"reason": "FieldValueInvalid", "message": message, "field": field}
            for field, message in problems
        ],
    }
    if group:
        details["group"] = group
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {text}', details=details)
