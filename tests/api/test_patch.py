"""The patch types as pure functions (table-driven)."""

from __future__ import annotations

import pytest

from dockyard.server.patch import PatchError, json_patch, merge_patch, strategic_merge_patch

POD = {
    "metadata": {"labels": {"a": "1"}, "finalizers": ["x"]},
    "spec": {
        "containers": [
            {
                "name": "c1",
                "image": "i1",
                "env": [{"name": "A", "value": "1"}],
                "ports": [{"containerPort": 80}],
                "volumeMounts": [{"name": "v", "mountPath": "/data"}],
            },
            {"name": "c2", "image": "i2"},
        ],
        "volumes": [{"name": "v", "emptyDir": {}}],
        "tolerations": [{"key": "k"}],
    },
}


def test_merge_patch_rfc7386() -> None:
    assert merge_patch({"a": 1, "b": {"c": 2}}, {"a": None, "b": {"d": 3}}) == {
        "b": {"c": 2, "d": 3}
    }
    assert merge_patch({"l": [1, 2]}, {"l": [3]}) == {"l": [3]}


def test_json_patch_rfc6902() -> None:
    doc = {"a": [1, 2], "b": {"c": 1}}
    ops = [
        {"op": "add", "path": "/a/-", "value": 3},
        {"op": "replace", "path": "/b/c", "value": 2},
        {"op": "move", "from": "/b", "path": "/d"},
        {"op": "copy", "from": "/a/0", "path": "/e"},
        {"op": "test", "path": "/e", "value": 1},
        {"op": "remove", "path": "/a/1"},
    ]
    assert json_patch(doc, ops) == {"a": [1, 3], "d": {"c": 2}, "e": 1}
    for bad in (
        [{"op": "test", "path": "/a", "value": 0}],
        [{"op": "remove", "path": "/zz"}],
        [{"op": "jump", "path": "/a"}],
        {"op": "add"},
    ):
        with pytest.raises(PatchError):
            json_patch(doc, bad)


@pytest.mark.parametrize(
    ("patch", "check"),
    [
        (
            {"spec": {"containers": [{"name": "c2", "image": "new"}]}},
            lambda r: [c["image"] for c in r["spec"]["containers"]] == ["i1", "new"],
        ),
        (
            {"spec": {"containers": [{"name": "c1", "env": [{"name": "B", "value": "2"}]}]}},
            lambda r: [e["name"] for e in r["spec"]["containers"][0]["env"]] == ["A", "B"],
        ),
        (
            {"spec": {"containers": [{"name": "c1", "ports": [{"containerPort": 81}]}]}},
            lambda r: [p["containerPort"] for p in r["spec"]["containers"][0]["ports"]] == [80, 81],
        ),
        (
            {"spec": {"containers": [{"name": "c2", "$patch": "delete"}]}},
            lambda r: [c["name"] for c in r["spec"]["containers"]] == ["c1"],
        ),
        (
            {"spec": {"volumes": [{"name": "w", "emptyDir": {}}]}},
            lambda r: [v["name"] for v in r["spec"]["volumes"]] == ["v", "w"],
        ),
        (
            {"spec": {"tolerations": [{"key": "z"}]}},  # no merge key: replaced
            lambda r: r["spec"]["tolerations"] == [{"key": "z"}],
        ),
        ({"metadata": {"finalizers": ["y"]}}, lambda r: r["metadata"]["finalizers"] == ["x", "y"]),
        ({"metadata": {"labels": {"a": None}}}, lambda r: "a" not in r["metadata"]["labels"]),
        (
            {"$setElementOrder/containers": [{"name": "c2"}, {"name": "c1"}], "spec": {}},
            lambda r: True,
        ),
        (
            {
                "spec": {
                    "$setElementOrder/containers": [{"name": "c2"}, {"name": "c1"}],
                    "containers": [{"name": "c1", "image": "x"}],
                }
            },
            lambda r: [c["name"] for c in r["spec"]["containers"]] == ["c2", "c1"],
        ),
        (
            {"spec": {"containers": [{"name": "only", "image": "i"}, {"$patch": "replace"}]}},
            lambda r: [c["name"] for c in r["spec"]["containers"]] == ["only"],
        ),
    ],
)
def test_strategic_merge_patch(patch: dict, check) -> None:  # type: ignore[no-untyped-def]
    assert check(strategic_merge_patch(POD, patch))
