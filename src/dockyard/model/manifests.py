"""Reading manifests: YAML or JSON text, multi-document streams, files, directories and stdin.

What kubectl accepts with ``-f``: YAML documents separated by ``---``, JSON (one value or several
concatenated), ``kind: List`` (its ``items`` are expanded), directories of ``.json``, ``.yaml``
and ``.yml`` files (sorted; ``recursive`` descends like ``-R``) and ``-`` for stdin.

YAML is read the way Kubernetes reads it (YAML -> JSON): timestamps stay strings and a repeated
mapping key is an error. Every problem is a :class:`ManifestError` naming the file and, for
streams, the 1-based document number; never a traceback.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple, TextIO

import yaml

__all__ = [
    "MANIFEST_EXTENSIONS",
    "Document",
    "ManifestError",
    "load_documents",
    "load_path",
    "load_paths",
]

MANIFEST_EXTENSIONS = (".json", ".yaml", ".yml")


class ManifestError(ValueError):
    """A manifest that cannot be read; the message names the source (and document)."""


class Document(NamedTuple):
    source: str
    data: dict[str, Any]


_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _KubeYamlLoader(_BaseLoader):  # type: ignore[misc]
    """SafeLoader minus timestamps (they stay strings) and with duplicate keys rejected."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, str | int | float | bool) and key in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f'mapping key "{key}" already defined at line {seen[key]}',
                        key_node.start_mark,
                    )
                if isinstance(key, str | int | float | bool):
                    seen[key] = key_node.start_mark.line + 1
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def _where(source: str, index: int | None) -> str:
    return f"{source} (document {index})" if index is not None else source


def _yaml_message(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "invalid YAML"
        return f"line {mark.line + 1}: {problem}" if mark is not None else problem
    return str(error)


def _json_values(text: str) -> Iterator[Any]:
    """One JSON value or several concatenated (``{...}{...}``, as kubectl's decoder reads)."""
    decoder = json.JSONDecoder()
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return
        value, position = decoder.raw_decode(text, position)
        yield value


def _expand(value: Any, where: str) -> list[dict[str, Any]]:
    """One document -> its objects: a ``kind: List`` gives its items, an empty document none."""
    if value is None:
        return []
    if not isinstance(value, Mapping):
        raise ManifestError(
            f"error parsing {where}: expected an object, got {type(value).__name__}"
        )
    kind = value.get("kind")
    items = value.get("items")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
        objects: list[dict[str, Any]] = []
        for item in items:
            objects.extend(_expand(item, where))
        return objects
    missing = [name for name in ("apiVersion", "kind") if not value.get(name)]
    if missing:
        raise ManifestError(
            f"error validating {where}: " + ", ".join(f"{m} not set" for m in missing)
        )
    return [dict(value)]


def _parse(text: str, source: str) -> list[tuple[int | None, Any]]:
    """The raw documents, each with its 1-based index (``None`` when there is only one)."""
    if text.lstrip().startswith(("{", "[")):
        try:
            values = list(_json_values(text))
        except json.JSONDecodeError as error:
            if source.endswith(".json"):
                message = f"line {error.lineno} column {error.colno}: {error.msg}"
                raise ManifestError(f"error parsing {source}: {message}") from None
        else:
            return [(i + 1 if len(values) > 1 else None, v) for i, v in enumerate(values)]
    documents: list[Any] = []
    loader = _KubeYamlLoader(text)
    try:
        while loader.check_data():
            documents.append(loader.get_data())
    except yaml.YAMLError as error:
        index = len(documents) + 1
        where = _where(source, index if index > 1 or _is_stream(text) else None)
        raise ManifestError(f"error parsing {where}: {_yaml_message(error)}") from None
    finally:
        loader.dispose()
    single = len(documents) == 1
    return [(None if single else i + 1, document) for i, document in enumerate(documents)]


def _is_stream(text: str) -> bool:
    """Whether a text that failed to parse holds several documents (a later ``---`` line)."""
    return re.search(r"\n---(\s|$)", text.lstrip()) is not None


def load_documents(text: str, source: str = "-") -> list[dict[str, Any]]:
    """The objects in a YAML or JSON text; empty documents are skipped, Lists expanded."""
    objects: list[dict[str, Any]] = []
    for index, value in _parse(text, source):
        objects.extend(_expand(value, _where(source, index)))
    return objects


def _files(path: Path, *, recursive: bool) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    return sorted(
        candidate
        for candidate in path.glob(pattern)
        if candidate.is_file() and candidate.suffix in MANIFEST_EXTENSIONS
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ManifestError(f"error reading {path}: not UTF-8 text") from None
    except OSError as error:
        raise ManifestError(f"error reading {path}: {error.strerror}") from None


def load_path(
    path: str | Path, *, recursive: bool = False, stdin: TextIO | None = None
) -> list[Document]:
    """The objects in a file, a directory (``.json``/``.yaml``/``.yml``, sorted) or ``-``
    (stdin, or the ``stdin`` stream given), each with the file it came from."""
    if str(path) == "-":
        text = (stdin or sys.stdin).read()
        return [Document("-", data) for data in load_documents(text, "-")]
    location = Path(path)
    if not location.exists():
        raise ManifestError(f'the path "{path}" does not exist')
    files = _files(location, recursive=recursive) if location.is_dir() else [location]
    documents: list[Document] = []
    for file in files:
        source = str(file)
        documents.extend(Document(source, data) for data in load_documents(_read(file), source))
    return documents


def load_paths(
    paths: list[str | Path], *, recursive: bool = False, stdin: TextIO | None = None
) -> list[Document]:
    """:func:`load_path` for each ``-f`` argument, in order."""
    documents: list[Document] = []
    for path in paths:
        documents.extend(load_path(path, recursive=recursive, stdin=stdin))
    return documents
