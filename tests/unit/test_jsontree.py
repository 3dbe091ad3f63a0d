"""JSON-tree copies and JSON merge patch (RFC 7386) on top of them."""

from __future__ import annotations

from typing import Any

from dockyard.jsontree import json_copy
from dockyard.server.patch import merge_patch


def test_a_copy_shares_no_container_with_its_original() -> None:
    original: dict[str, Any] = {"a": [{"b": 1}, [2, 3]], "c": {"d": None, "e": "x"}}
    copied = json_copy(original)
    assert copied == original
    copied["a"][0]["b"] = 9
    copied["a"][1].append(4)
    copied["c"]["e"] = "y"
    assert original == {"a": [{"b": 1}, [2, 3]], "c": {"d": None, "e": "x"}}


def test_merge_patch_follows_rfc_7386_and_leaves_the_target_alone() -> None:
    target: dict[str, Any] = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    patch = {
        "a": "z",
        "c": {"f": None, "n": {"deep": None, "kept": 1}},
        "l": [3],
        "new": {"x": None},
    }
    result = merge_patch(target, patch)
    assert result == {"a": "z", "c": {"d": "e", "n": {"kept": 1}}, "l": [3], "new": {}}
    assert target == {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    result["l"].append(4)  # the patch's own values are copied too
    assert patch["l"] == [3]
    # RFC 7386 appendix A: a non-object patch replaces; an object patch on a scalar starts afresh.
    assert merge_patch({"a": "b"}, ["c"]) == ["c"]
    assert merge_patch("scalar", {"a": {"b": "c"}}) == {"a": {"b": "c"}}
    assert merge_patch({"e": None}, {"a": 1}) == {"e": None, "a": 1}
