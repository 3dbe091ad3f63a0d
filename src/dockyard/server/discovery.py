"""What the server serves: resources by group/version, and the discovery documents for them.

Resources come from the kind registry (``dockyard.model.kinds``) plus the read-only Event
resources (core/v1 and events.k8s.io/v1, derived from the log; see events.py). Discovery is the
legacy (unaggregated) form, which kubectl and client-go fall back to.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import Any

from dockyard import __version__
from dockyard.model.kinds import all_kinds, registry_generation

JsonObject = dict[str, Any]
KUBERNETES_VERSION = (1, 32)
_WRITE_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")
_READ_VERBS = ("get", "list", "watch")
SCALABLE = frozenset({"Deployment", "ReplicaSet", "ReplicationController"})


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    read_only: bool = False  # derived from the log (Events): get, list, watch only

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def verbs(self) -> tuple[str, ...]:
        return _READ_VERBS if self.read_only else _WRITE_VERBS

    @property
    def subresources(self) -> tuple[str, ...]:
        if self.read_only:
            return ()
        extra = ("scale",) if self.kind in SCALABLE else ()
        logs = ("log",) if self.kind == "Pod" else ()
        return ("status", *extra, *logs)


CORE_EVENTS = Resource("", "v1", "Event", "events", "event", True, ("ev",), read_only=True)
EVENTS_V1 = Resource("events.k8s.io", "v1", "Event", "events", "event", True, ("ev",), True)


def served_resources() -> list[Resource]:
    return list(_served()[0])


def find_resource(group: str, version: str, plural: str) -> Resource | None:
    return _served()[1].get((group, version, plural))


_cache: tuple[int, tuple[Resource, ...], dict[tuple[str, str, str], Resource]] | None = None


def _served() -> tuple[tuple[Resource, ...], dict[tuple[str, str, str], Resource]]:
    """Every request resolves its resource: built once per state of the kind registry."""
    global _cache
    key = registry_generation()
    if _cache is None or _cache[0] != key:
        kinds = list(all_kinds())
        resources = (
            *(
                Resource(
                    info.group,
                    info.version,
                    info.kind,
                    info.plural,
                    info.singular,
                    info.namespaced,
                    tuple(info.short_names),
                )
                for info in kinds
            ),
            CORE_EVENTS,
            EVENTS_V1,
        )
        index: dict[tuple[str, str, str], Resource] = {}
        for r in resources:
            index.setdefault((r.group, r.version, r.plural), r)
        _cache = (key, resources, index)
    return _cache[1], _cache[2]


def group_versions() -> dict[str, list[str]]:
    """Group -> versions, core group ("") included."""
    result: dict[str, list[str]] = {}
    for r in served_resources():
        versions = result.setdefault(r.group, [])
        if r.version not in versions:
            versions.append(r.version)
    return result


def version_info() -> JsonObject:
    major, minor = KUBERNETES_VERSION
    return {
        "major": str(major),
        "minor": str(minor),
        "gitVersion": f"v{major}.{minor}.0-dockyard.{__version__}",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": f"python{platform.python_version()}",
        "compiler": platform.python_implementation().lower(),
        "platform": f"{platform.system().lower()}/{platform.machine()}",
    }


def api_versions(server_address: str) -> JsonObject:
    return {
        "kind": "APIVersions",
        "apiVersion": "v1",
        "versions": group_versions().get("", ["v1"]),
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def api_group_list() -> JsonObject:
    groups = []
    for group, versions in group_versions().items():
        if not group:
            continue
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        groups.append({"name": group, "versions": entries, "preferredVersion": entries[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str) -> JsonObject | None:
    versions = group_versions().get(group)
    if not group or not versions:
        return None
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": entries,
        "preferredVersion": entries[0],
    }


def api_resource_list(group: str, version: str) -> JsonObject | None:
    matching = [r for r in served_resources() if (r.group, r.version) == (group, version)]
    if not matching:
        return None
    items: list[JsonObject] = []
    for r in matching:
        entry: JsonObject = {
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": list(r.verbs),
        }
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if not r.read_only and r.kind not in ("Namespace", "Node"):
            entry["categories"] = ["all"]
        items.append(entry)
        for sub in r.subresources:
            sub_entry: JsonObject = {
                "name": f"{r.plural}/{sub}",
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": ["get", "patch", "update"],
            }
            if sub == "scale":
                sub_entry.update(kind="Scale", group="autoscaling", version="v1")
            elif sub == "log":
                sub_entry.update(kind="Pod", verbs=["get"])
            items.append(sub_entry)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": items,
    }
