"""The three patch types Kubernetes accepts, as pure functions over JSON values.

- ``application/merge-patch+json``: RFC 7386 (null deletes, objects merge, everything else
  replaces).
- ``application/json-patch+json``: RFC 6902 (add, remove, replace, move, copy, test).
- ``application/strategic-merge-patch+json``: a merge patch where some lists merge by a key
  (apimachinery strategicpatch, with the patch metadata of the core types): containers,
  initContainers, ephemeralContainers, env, volumes, imagePullSecrets by ``name``; container
  ports by ``containerPort`` and Service ports by ``port``; volumeMounts by ``mountPath`` (as in
  Kubernetes' types.go); conditions and node addresses by ``type``; ownerReferences by ``uid``;
  taints by ``key``; finalizers merge as a set. Directives: ``$patch: replace|delete|merge``,
  ``$setElementOrder/<list>``, ``$deleteFromPrimitiveList/<list>``, ``$retainKeys``.

Every function raises :class:`PatchError` (a message for a 4xx Status) on a bad document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dockyard.jsontree import json_copy

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (MERGE_PATCH, JSON_PATCH, STRATEGIC_PATCH)

# list field name -> merge key (or None for a primitive list merged as a set)
_MERGE_KEYS: dict[str, str | None] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "conditions": "type",
    "addresses": "type",
    "ownerReferences": "uid",
    "taints": "key",
    "hostAliases": "ip",
    "finalizers": None,
}
_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


class PatchError(ValueError):
    """The patch document is malformed or cannot be applied."""


# --- RFC 7386 -------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return json_copy(patch)
    result = json_copy(target) if isinstance(target, dict) else {}
    _merge_into(result, patch)
    return result


def _merge_into(result: dict[str, Any], patch: dict[str, Any]) -> None:
    """``merge_patch`` applied in place to a document of our own (copied once, at the top)."""
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            if not isinstance(current, dict):
                current = result[key] = {}
            _merge_into(current, value)
        else:
            result[key] = json_copy(value)


# --- RFC 6902 -------------------------------------------------------------------------------


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise PatchError(f"invalid JSON pointer {path!r}: must be empty or start with '/'")
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, *, adding: bool) -> int:
    if adding and token == "-":
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchError(f"invalid array index {token!r}")
    index = int(token)
    if index > len(container) or (not adding and index == len(container)):
        raise PatchError(f"array index {index} out of range")
    return index


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, adding=False)]
        else:
            raise PatchError(f"doc is missing path: {path!r}")
    return node


def _get(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, adding=False)]
    raise PatchError(f"doc is missing path: {path!r}")


def _remove(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, adding=False))
    raise PatchError(f"unable to remove nonexistent key: {last!r} (path {path!r})")


def _add(doc: Any, path: str, value: Any, *, replace: bool = False) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise PatchError(f"replace operation does not apply: doc is missing key: {path!r}")
        parent[last] = value
    elif isinstance(parent, list):
        if replace:
            parent[_index(parent, last, adding=False)] = value
        else:
            parent.insert(_index(parent, last, adding=True), value)
    else:
        raise PatchError(f"doc is missing path: {path!r}")
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = json_copy(target)
    for number, op in enumerate(operations):
        if not isinstance(op, dict) or not isinstance(op.get("op"), str):
            raise PatchError(f"operation {number} must be an object with an 'op' string")
        kind, path = op["op"], op.get("path")
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"operation {number} ({kind}) is missing 'value'")
        if kind == "add":
            doc = _add(doc, str(path) if path is not None else "", json_copy(op["value"]))
        elif kind == "replace":
            doc = _add(doc, _str(path), json_copy(op["value"]), replace=True)
        elif kind == "remove":
            _remove(doc, _str(path))
        elif kind in ("move", "copy"):
            source = op.get("from")
            value = _remove(doc, _str(source)) if kind == "move" else _get(doc, _str(source))
            doc = _add(doc, _str(path), json_copy(value))
        elif kind == "test":
            if _get(doc, _str(path)) != op["value"]:
                raise PatchError(f"testing value {path} failed")
        else:
            raise PatchError(f"unknown JSON patch operation {kind!r}")
    return doc


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise PatchError(f"JSON patch path {value!r} must be a string")
    return value


# --- strategic merge patch -------------------------------------------------------------------


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        sample = next((i for i in items if isinstance(i, dict)), {})
        return "containerPort" if "containerPort" in sample else "port"
    return _MERGE_KEYS.get(field)


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object")
    return _merge_map(target if isinstance(target, dict) else {}, patch)


def _merge_map(original: Mapping[str, Any], patch: Mapping[str, Any]) -> Any:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    body = {k: v for k, v in patch.items() if k != "$patch"}
    if directive == "replace":
        return _strip_directives(body)
    if directive not in (None, "merge"):
        raise PatchError(f"unknown patch directive $patch: {directive!r}")
    retain = body.pop("$retainKeys", None)
    result = json_copy(dict(original))
    orders = {k[len(_ORDER) :]: v for k, v in body.items() if k.startswith(_ORDER)}
    removals = {
        k[len(_DELETE_PRIMITIVE) :]: v for k, v in body.items() if k.startswith(_DELETE_PRIMITIVE)
    }
    for key, value in body.items():
        if key.startswith(("$setElementOrder/", "$deleteFromPrimitiveList/")):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            existing = result.get(key)
            merged = _merge_map(existing if isinstance(existing, dict) else {}, value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value)
        else:
            result[key] = value
    for key, values in removals.items():
        if isinstance(result.get(key), list) and isinstance(values, list):
            result[key] = [v for v in result[key] if v not in values]
    for key, order in orders.items():
        if isinstance(result.get(key), list) and isinstance(order, list):
            result[key] = _ordered(key, result[key], order)
    if retain is not None:
        if not isinstance(retain, list):
            raise PatchError("$retainKeys must be a list of field names")
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(field: str, original: Any, patch: list[Any]) -> list[Any]:
    current = list(original) if isinstance(original, list) else []
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [_strip_directives(i) for i in patch if not _is_directive(i)]
    key = _merge_key(field, patch + current)
    if field not in _MERGE_KEYS and field != "ports":
        return [_strip_directives(i) for i in patch]
    if key is None:  # a primitive list merged as a set (finalizers)
        return current + [v for v in patch if v not in current]
    result = json_copy(current)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise PatchError(f"{field}: every item must be an object with the merge key {key!r}")
        where = next(
            (n for n, c in enumerate(result) if isinstance(c, dict) and c.get(key) == item[key]),
            None,
        )
        if item.get("$patch") == "delete":
            if where is not None:
                result.pop(where)
            continue
        if where is None:
            result.append(_strip_directives(item))
        else:
            result[where] = _merge_map(result[where], item)
    return result


def _ordered(field: str, items: list[Any], order: list[Any]) -> list[Any]:
    key = _merge_key(field, items)
    if key is None:
        position = {v: n for n, v in enumerate(order) if isinstance(v, str | int)}
    else:
        position = {o[key]: n for n, o in enumerate(order) if isinstance(o, dict) and key in o}
    ranked = [
        (position.get(item if key is None else item.get(key), len(order)), n, item)
        for n, item in enumerate(items)
        if key is None or isinstance(item, dict)
    ]
    return [item for _, _, item in sorted(ranked, key=lambda t: (t[0], t[1]))]


def _is_directive(item: Any) -> bool:
    return isinstance(item, dict) and set(item) == {"$patch"}


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def apply_patch(content_type: str, target: Any, patch: Any) -> Any:
    """Apply a patch of the given media type (parameters after ``;`` ignored)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == MERGE_PATCH:
        return merge_patch(target, patch)
    if media == JSON_PATCH:
        return json_patch(target, patch)
    if media == STRATEGIC_PATCH:
        return strategic_merge_patch(target, patch)
    raise PatchError(f"unsupported patch type {media!r}; use one of {', '.join(PATCH_TYPES)}")
