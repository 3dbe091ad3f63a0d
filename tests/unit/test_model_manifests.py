"""Manifest loading: YAML/JSON text, streams, Lists, files, directories, stdin, and errors."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from dockyard.model.manifests import Document, ManifestError, load_documents, load_path

POD = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n"


def test_multi_document_yaml_skips_empty_documents() -> None:
    text = (
        "---\n" + POD.format(name="a") + "---\n---\n# only a comment\n---\n" + POD.format(name="b")
    )
    names = [doc["metadata"]["name"] for doc in load_documents(text, "x.yaml")]
    assert names == ["a", "b"]


def test_json_object_and_concatenated_json_stream() -> None:
    one = '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}}'
    assert load_documents(one, "x.json")[0]["metadata"]["name"] == "a"
    stream = one + "\n" + one.replace('"a"', '"b"')
    assert [d["metadata"]["name"] for d in load_documents(stream, "x.json")] == ["a", "b"]


def test_list_kind_is_expanded() -> None:
    text = """
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Pod, metadata: {name: a}}
- {apiVersion: v1, kind: Service, metadata: {name: b}}
"""
    assert [d["kind"] for d in load_documents(text, "list.yaml")] == ["Pod", "Service"]


def test_timestamps_stay_strings_like_kubernetes_yaml() -> None:
    text = POD.format(name="a") + "  creationTimestamp: 2024-05-01T10:00:00Z\n"
    (document,) = load_documents(text, "x.yaml")
    assert document["metadata"]["creationTimestamp"] == "2024-05-01T10:00:00Z"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            POD.format(name="a") + "---\napiVersion: v1\n  kind: Pod: x\n",
            "error parsing x.yaml (document 2): line 7: mapping values are not allowed in this "
            "context",
        ),
        (
            "apiVersion: v1\nkind: Pod\nkind: Service\n",
            'error parsing x.yaml: line 3: mapping key "kind" already defined at line 2',
        ),
        (
            POD.format(name="a") + "---\n- just\n- a list\n",
            "error parsing x.yaml (document 2): expected an object, got list",
        ),
        ("metadata:\n  name: a\n", "error validating x.yaml: apiVersion not set, kind not set"),
        ("kind: Pod\n", "error validating x.yaml: apiVersion not set"),
    ],
)
def test_malformed_yaml_names_file_and_document(text: str, message: str) -> None:
    with pytest.raises(ManifestError) as caught:
        load_documents(text, "x.yaml")
    assert str(caught.value) == message


def test_malformed_json_file_reports_json_position() -> None:
    with pytest.raises(ManifestError) as caught:
        load_documents('{"apiVersion": "v1",\n "kind": }', "x.json")
    assert str(caught.value).startswith("error parsing x.json: line 2 column ")


def test_directory_sorted_manifest_extensions_only(tmp_path: Path) -> None:
    (tmp_path / "b.yml").write_text(POD.format(name="b"))
    (tmp_path / "a.yaml").write_text(POD.format(name="a"))
    (tmp_path / "c.json").write_text(
        '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "c"}}'
    )
    (tmp_path / "README.md").write_text("not a manifest")
    nested = tmp_path / "nested"
    nested.mkdir()
    (nested / "d.yaml").write_text(POD.format(name="d"))

    flat = load_path(tmp_path)
    assert [doc.data["metadata"]["name"] for doc in flat] == ["a", "b", "c"]
    assert flat[0] == Document(str(tmp_path / "a.yaml"), flat[0].data)
    recursive = load_path(tmp_path, recursive=True)
    assert [doc.data["metadata"]["name"] for doc in recursive] == ["a", "b", "c", "d"]


def test_error_in_a_directory_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(POD.format(name="a"))
    (tmp_path / "broken.yaml").write_text("apiVersion: v1\nkind: [\n")
    with pytest.raises(ManifestError) as caught:
        load_path(tmp_path)
    assert str(caught.value).startswith(f"error parsing {tmp_path / 'broken.yaml'}: line ")


def test_stdin_and_missing_path() -> None:
    (document,) = load_path("-", stdin=io.StringIO(POD.format(name="from-stdin")))
    assert document.source == "-"
    assert document.data["metadata"]["name"] == "from-stdin"
    with pytest.raises(ManifestError, match='the path "/nonexistent/x.yaml" does not exist'):
        load_path("/nonexistent/x.yaml")


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: caf\xe9\n")
    with pytest.raises(ManifestError, match="not UTF-8 text"):
        load_path(path)
