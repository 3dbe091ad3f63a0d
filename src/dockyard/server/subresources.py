"""The ``scale`` subresource (autoscaling/v1 Scale) and ``pods/log``."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from dockyard.model import selectors
from dockyard.server import status as st
from dockyard.server.context import ApiContext, Call
from dockyard.server.logs import LogOptions, LogUnavailable
from dockyard.server.patch import PatchError, apply_patch
from dockyard.server.reads import get_object
from dockyard.server.writes import read_modify_write

JsonObject = dict[str, Any]


def to_scale(obj: JsonObject) -> JsonObject:
    meta = obj.get("metadata") or {}
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    selector = spec.get("selector")
    try:
        if obj.get("kind") == "ReplicationController":
            text = str(selectors.from_set(selector))
        else:
            text = str(selectors.from_label_selector(selector))
    except selectors.SelectorError:
        text = ""
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": int(spec.get("replicas", 1))},
        "status": {"replicas": int(status.get("replicas", 0)), "selector": text},
    }


def _replicas(scale: Any, call: Call) -> tuple[int, str]:
    if not isinstance(scale, dict):
        raise st.bad_request("a Scale must be a JSON object")
    spec = scale.get("spec") or {}
    replicas = spec.get("replicas", 0) if isinstance(spec, dict) else None
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        raise st.invalid_fields(
            "Scale", "autoscaling", call.name or "", [("spec.replicas", "must be an integer")]
        )
    if replicas < 0:
        raise st.invalid_fields(
            "Scale",
            "autoscaling",
            call.name or "",
            [("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0")],
        )
    rv = str((scale.get("metadata") or {}).get("resourceVersion") or "")
    return replicas, rv


def get_scale(ctx: ApiContext, call: Call) -> JsonObject:
    return to_scale(get_object(ctx, call))


async def write_scale(
    ctx: ApiContext, call: Call, body: Any, *, content_type: str | None = None
) -> JsonObject:
    """PUT (``content_type`` None: ``body`` is a Scale) or PATCH of the scale subresource."""

    def change(current: JsonObject) -> JsonObject:
        scale = to_scale(current)
        if content_type is None:
            new_scale = body
        else:
            try:
                new_scale = apply_patch(content_type, scale, body)
            except PatchError as exc:
                raise st.ApiError(
                    422, "Invalid", f"the patch could not be applied: {exc}"
                ) from None
        replicas, rv = _replicas(new_scale, call)
        result = copy.deepcopy(current)
        result.setdefault("spec", {})["replicas"] = replicas
        if rv:
            result["metadata"]["resourceVersion"] = rv
        else:
            result["metadata"].pop("resourceVersion", None)
        return result

    scaled = await read_modify_write(ctx, call, change, verb="scale")
    return to_scale(scaled)


def _int_param(call: Call, name: str) -> int | None:
    value = call.query.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise st.bad_request(f"{name} must be an integer, not {value!r}") from None


def log_options(call: Call, pod: JsonObject) -> LogOptions:
    containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    init = [c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or []]
    container = call.query.get("container", "")
    if not container:
        if len(containers) != 1:
            raise st.bad_request(
                f"a container name must be specified for pod {call.name}, choose one of: "
                f"[{' '.join(str(c) for c in containers)}]"
            )
        container = str(containers[0])
    elif container not in containers + init:
        raise st.bad_request(f"container {container} is not valid for pod {call.name}")
    return LogOptions(
        container=container,
        follow=call.query.get("follow") == "true",
        previous=call.query.get("previous") == "true",
        tail_lines=_int_param(call, "tailLines"),
        since_seconds=_int_param(call, "sinceSeconds"),
        timestamps=call.query.get("timestamps") == "true",
        limit_bytes=_int_param(call, "limitBytes"),
    )


def open_log(ctx: ApiContext, call: Call) -> Iterator[bytes]:
    pod = get_object(ctx, call)
    options = log_options(call, pod)
    if ctx.log_source is None:
        raise st.unavailable(
            f"logs of pod {call.name} are not available: no node agent serves logs to this "
            "API server"
        )
    try:
        return ctx.log_source.pod_log(pod, options)
    except LogUnavailable as exc:
        reason = "ServiceUnavailable" if exc.code == 503 else "BadRequest"
        raise st.ApiError(exc.code, reason, str(exc)) from None
