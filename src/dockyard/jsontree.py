"""Copies of JSON documents (dicts, lists and scalars, as decoded from JSON).

``copy.deepcopy`` handles any object graph: it keeps a memo of everything it copied and
dispatches on every value's type, which costs about three times what a JSON tree needs. Object
bodies are copied several times per API write, so the write path uses this instead.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

T = TypeVar("T")


def json_copy(value: T) -> T:
    """A deep copy of a JSON tree: new dicts and lists, the (immutable) scalars shared."""
    tree: Any = value
    if isinstance(tree, dict):
        return cast(T, {key: json_copy(item) for key, item in tree.items()})
    if isinstance(tree, list):
        return cast(T, [json_copy(item) for item in tree])
    return value
