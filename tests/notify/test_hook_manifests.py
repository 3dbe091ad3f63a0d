"""The manifests shipped in hooks/ are valid as they are."""

from __future__ import annotations

from pathlib import Path

import pytest

import dockyard.notify  # noqa: F401
from dockyard.model.manifests import load_path
from dockyard.model.validation import parse_object

HOOKS = Path(__file__).resolve().parents[2] / "hooks"


@pytest.mark.parametrize("path", sorted(HOOKS.glob("*.yaml")), ids=lambda p: p.name)
def test_hook_manifest_is_valid(path: Path) -> None:
    documents = load_path(path)
    assert documents
    for document in documents:
        parse_object(document.data)
