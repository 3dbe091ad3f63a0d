"""Swagger 2.0 (``/openapi/v2``) from the v3 documents: one conversion, no second generator.

Schemas: ``allOf: [$ref]`` wrappers become plain ``$ref``s into ``#/definitions/``, and the
``oneOf`` value types become the strings Kubernetes' v2 document has (``int-or-string``).
Operations: query and path parameters get their type inline, a request body becomes an ``in:
body`` parameter, its media types become ``consumes`` (which kubectl reads to choose between a
strategic and a JSON merge patch).
"""

from __future__ import annotations

from typing import Any

from dockyard.server.openapi_schema import INT_OR_STRING, QUANTITY, REF_PREFIX

JsonObject = dict[str, Any]
_V2_PREFIX = "#/definitions/"
_V2_SCALARS: dict[str, JsonObject] = {
    INT_OR_STRING: {"type": "string", "format": "int-or-string"},
    QUANTITY: {"type": "string"},
}
_METHODS = ("get", "put", "post", "patch", "delete")


def to_swagger(info: JsonObject, v3_documents: list[JsonObject]) -> JsonObject:
    definitions: JsonObject = {}
    paths: JsonObject = {}
    for document in v3_documents:
        for name, schema in document["components"]["schemas"].items():
            scalar = _V2_SCALARS.get(name)
            if scalar is not None:
                definitions[name] = {"description": schema.get("description", ""), **scalar}
            else:
                definitions[name] = _schema(schema)
        for path, item in document["paths"].items():
            paths[path] = _path_item(item)
    return {
        "swagger": "2.0",
        "info": info,
        "paths": dict(sorted(paths.items())),
        "definitions": dict(sorted(definitions.items())),
        "securityDefinitions": {
            "BearerToken": {"type": "apiKey", "name": "authorization", "in": "header"}
        },
        "security": [{"BearerToken": []}],
    }


def _schema(value: Any) -> Any:
    if isinstance(value, list):
        return [_schema(item) for item in value]
    if not isinstance(value, dict):
        return value
    converted = {key: _schema(item) for key, item in value.items()}
    if isinstance(converted.get("$ref"), str):
        converted["$ref"] = converted["$ref"].replace(REF_PREFIX, _V2_PREFIX)
    wrapped = converted.get("allOf")
    if isinstance(wrapped, list) and len(wrapped) == 1 and "$ref" in wrapped[0]:
        del converted["allOf"]
        converted["$ref"] = wrapped[0]["$ref"]
    return converted


def _parameter(parameter: JsonObject) -> JsonObject:
    converted = {key: value for key, value in parameter.items() if key != "schema"}
    converted.update(parameter.get("schema", {}))
    return converted


def _path_item(item: JsonObject) -> JsonObject:
    converted: JsonObject = {}
    if "parameters" in item:
        converted["parameters"] = [_parameter(p) for p in item["parameters"]]
    for method in _METHODS:
        if method in item:
            converted[method] = _operation(item[method])
    return converted


def _operation(operation: JsonObject) -> JsonObject:
    converted = {
        key: value
        for key, value in operation.items()
        if key not in ("parameters", "requestBody", "responses")
    }
    parameters = [_parameter(p) for p in operation.get("parameters", [])]
    body = operation.get("requestBody")
    if body is not None:
        media_types = list(body["content"])
        schema = _schema(next(iter(body["content"].values()))["schema"])
        parameters.insert(0, {"in": "body", "name": "body", "required": True, "schema": schema})
        converted["consumes"] = media_types
    if parameters:
        converted["parameters"] = parameters
    produces: list[str] = []
    responses: JsonObject = {}
    for code, response in operation["responses"].items():
        entry = {"description": response["description"]}
        for media, content in response.get("content", {}).items():
            if media not in produces:
                produces.append(media)
            entry["schema"] = _schema(content["schema"])
        responses[code] = entry
    converted["produces"] = produces or ["application/json"]
    converted["responses"] = responses
    converted["schemes"] = ["https"]
    return converted
