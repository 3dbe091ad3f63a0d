"""Node authorization: what a node agent may do with its own identity (Kubernetes' Node
authorizer and NodeRestriction admission plugin together).

A node identity is a user named ``system:node:<nodeName>`` in the group ``system:nodes`` (a
token-file line such as ``<token>,system:node:worker-1,,"system:nodes"``). Such a user may

- get, list and watch pods, services, nodes, namespaces and events (cluster-wide, as the
  kubelet does);
- create, update and patch its *own* Node object and its ``status`` (not other nodes');
- update and patch the ``status`` of pods bound to it (``spec.nodeName == <nodeName>``), and
  delete those pods (the agent's final removal, and graceful eviction);
- create events (Dockyard serves Events read-only, from the log: the resource answers 405).

Anything else needs a role from :mod:`dockyard.server.auth`, and writes of Node and Pod objects
stay restricted to the node's own even then (NodeRestriction applies to node identities whatever
their groups). Denials are 403 Status objects naming the user, verb, resource and the reason.

:func:`decide` is pure; :func:`authorize_request` and :func:`admit_create` are the edges the
request handler calls (the first reads the pod's binding only when the answer depends on it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from dockyard.server import status as st
from dockyard.server.auth import User, authorize
from dockyard.server.context import ApiContext
from dockyard.server.discovery import Resource
from dockyard.store.writer import ObjectKey

NODES_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"
READ_VERBS = frozenset({"get", "list", "watch"})
WRITE_VERBS = frozenset({"create", "update", "patch"})
# (group, kind) a node may read everywhere: what its pods and the node lifecycle need.
NODE_READABLE = frozenset(
    {("", "Pod"), ("", "Service"), ("", "Node"), ("", "Namespace"), ("", "Event")}
    | {("events.k8s.io", "Event")}
)
_UNKNOWN = object()  # the pod's binding has not been looked up


def node_name(user: User) -> str | None:
    """The node a user is, or None: ``system:node:<name>`` in ``system:nodes``."""
    if NODES_GROUP not in user.groups or not user.name.startswith(NODE_USER_PREFIX):
        return None
    name = user.name[len(NODE_USER_PREFIX) :]
    return name or None


@dataclass(frozen=True)
class NodeRequest:
    """One request, as the node rules see it."""

    verb: str
    group: str
    kind: str
    subresource: str | None
    namespace: str
    name: str | None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    needs_pod_binding: bool = False  # ask again with the pod's spec.nodeName
    restricted: bool = False  # NodeRestriction: no other role may allow it either


ALLOW = Decision(True)


def decide(node: str, request: NodeRequest, bound_to: object = _UNKNOWN) -> Decision:
    """May node ``node`` make ``request``? ``bound_to``: the pod's ``spec.nodeName`` ("" when
    unbound, None when the pod does not exist), needed only for pod writes."""
    verb, kind, sub, name = request.verb, request.kind, request.subresource, request.name
    core = request.group == ""
    if verb in READ_VERBS and (request.group, kind) in NODE_READABLE and sub in (None, "status"):
        return ALLOW
    if core and kind == "Event" and verb == "create":
        return ALLOW
    if core and kind == "Node" and verb in WRITE_VERBS and sub in (None, "status"):
        if verb == "create" or name == node:  # a created Node's name is checked by admit_create
            return ALLOW
        reason = f'node "{node}" is not allowed to modify node "{name}"'
        return Decision(False, reason, restricted=True)
    if core and kind == "Pod" and _pod_write(verb, sub):
        if bound_to is _UNKNOWN:
            return Decision(False, needs_pod_binding=True)
        if bound_to is None or bound_to == node:  # a missing pod answers 404 further on
            return ALLOW
        what = "delete pods" if verb == "delete" else "update pod status for pods"
        reason = f'node "{node}" can only {what} with spec.nodeName set to itself'
        return Decision(False, reason, restricted=True)
    if core and kind in ("Node", "Pod") and verb in WRITE_VERBS | {"delete"}:
        reason = f'node "{node}" may not {verb} {kind.lower()}s{"/" + sub if sub else ""}'
        return Decision(False, reason, restricted=True)
    return Decision(False, f"no relationship found between node '{node}' and this object")


def _pod_write(verb: str, sub: str | None) -> bool:
    return (verb in ("update", "patch") and sub == "status") or (verb == "delete" and sub is None)


def forbidden(user: User, request: NodeRequest, plural: str, reason: str) -> st.ApiError:
    return st.forbidden(
        user.name,
        request.verb,
        plural,
        request.group,
        request.namespace,
        request.name,
        subresource=request.subresource,
        reason=reason,
    )


async def authorize_request(
    ctx: ApiContext,
    user: User,
    verb: str,
    resource: Resource,
    namespace: str,
    name: str | None,
    subresource: str | None,
) -> None:
    """Raise 403 unless ``user`` may make this request: roles, plus the node rules for node
    identities. Reads the pod only for a node's pod writes."""
    allowed_by_role = authorize(
        user,
        verb,
        namespaced=resource.namespaced,
        namespace=namespace,
        kind=resource.kind,
        name=name,
    )
    node = node_name(user)
    request = NodeRequest(verb, resource.group, resource.kind, subresource, namespace, name)
    if node is None:
        if not allowed_by_role:
            raise forbidden(user, request, resource.plural, "")
        return
    decision = decide(node, request)
    if decision.needs_pod_binding:
        bound_to = await run_in_threadpool(_pod_binding, ctx, namespace, name or "")
        decision = decide(node, request, bound_to)
    if decision.allowed or (allowed_by_role and not decision.restricted):
        return
    raise forbidden(user, request, resource.plural, decision.reason)


def _pod_binding(ctx: ApiContext, namespace: str, name: str) -> str | None:
    stored = ctx.writer.get(ObjectKey("Pod", namespace, name))
    if stored is None:
        return None
    spec = stored.body.get("spec") or {}
    return str(spec.get("nodeName") or "")


def admit_create(user: User, resource: Resource, body: Any) -> None:
    """NodeRestriction for creates: a node creates only its own Node object."""
    node = node_name(user)
    if node is None or resource.group != "" or resource.kind != "Node":
        return
    meta = body.get("metadata") if isinstance(body, Mapping) else None
    wanted = str(meta.get("name") or "") if isinstance(meta, Mapping) else ""
    if wanted != node:
        request = NodeRequest("create", "", "Node", None, "", wanted or None)
        reason = f'node "{node}" is not allowed to modify node "{wanted}"'
        raise forbidden(user, request, resource.plural, reason)
