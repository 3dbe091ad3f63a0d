"""Bearer-token authentication and namespace roles.

Token file (the format of kube-apiserver's ``--token-auth-file``): one user per line,
``token,user,uid,"group1,group2"`` (uid and groups optional; ``#`` starts a comment). Roles come
from groups:

- ``system:masters`` or ``dockyard:cluster-admin``: everything (cluster admin);
- ``dockyard:cluster-edit`` / ``dockyard:cluster-view``: write / read every namespace, read
  cluster-scoped objects;
- ``dockyard:admin:<ns>``, ``dockyard:edit:<ns>``, ``dockyard:view:<ns>``: per namespace;
  ``view`` reads the namespace's objects, ``edit`` also writes them, ``admin`` also updates and
  deletes the Namespace object itself.

Node agents authenticate as ``system:node:<node>`` in group ``system:nodes`` and are authorized
by the node rules in :mod:`dockyard.server.node_authz` (on top of any role their groups give).

Tokens are compared by their SHA-256 digest and never logged: a ``User`` does not hold one.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

READ_VERBS = frozenset({"get", "list", "watch"})
ROLES = ("view", "edit", "admin")
CLUSTER_ADMIN_GROUPS = frozenset({"system:masters", "dockyard:cluster-admin"})
ANONYMOUS = "system:anonymous"


class TokenFileError(ValueError):
    """The token file is malformed; the message names the line (never the token)."""


@dataclass(frozen=True)
class User:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TokenAuthenticator:
    """Maps bearer tokens to users."""

    def __init__(self, users: Iterable[tuple[str, User]] = ()) -> None:
        self._by_digest: dict[bytes, User] = {}
        for token, user in users:
            self._by_digest[_digest(token)] = user

    @classmethod
    def from_file(cls, path: Path) -> TokenAuthenticator:
        try:
            text = path.read_text()
        except OSError as exc:
            raise TokenFileError(f"cannot read token file {path}: {exc.strerror}") from None
        return cls(parse_token_file(text, str(path)))

    def authenticate(self, token: str) -> User | None:
        wanted = _digest(token)
        found = self._by_digest.get(wanted)
        # Dict lookup by digest leaks nothing useful about the token; compare anyway so that a
        # hit and a miss take the same path.
        if found is not None and hmac.compare_digest(wanted, _digest(token)):
            return found
        return None


def parse_token_file(text: str, source: str = "token file") -> list[tuple[str, User]]:
    result: list[tuple[str, User]] = []
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise TokenFileError(
                f'{source} line {number}: expected token,user[,uid[,"group1,group2"]]'
            )
        groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
        uid = row[2].strip() if len(row) > 2 else ""
        result.append((row[0].strip(), User(row[1].strip(), uid, groups)))
    return result


def cluster_role(user: User) -> str | None:
    if CLUSTER_ADMIN_GROUPS & set(user.groups):
        return "admin"
    for role in ("edit", "view"):
        if f"dockyard:cluster-{role}" in user.groups:
            return role
    return None


def namespace_role(user: User, namespace: str) -> str | None:
    best: str | None = None
    for role in ROLES:
        if f"dockyard:{role}:{namespace}" in user.groups:
            best = role
    return best


def _rank(role: str | None) -> int:
    return ROLES.index(role) + 1 if role else 0


def authorize(
    user: User, verb: str, *, namespaced: bool, namespace: str, kind: str, name: str | None
) -> bool:
    """May ``user`` do ``verb`` on this resource? (Pure; see the module docstring.)"""
    read = verb in READ_VERBS
    cluster = _rank(cluster_role(user))
    if cluster == _rank("admin"):
        return True
    if namespaced:
        role = max(cluster, _rank(namespace_role(user, namespace))) if namespace else cluster
        return role >= (_rank("view") if read else _rank("edit"))
    if read and cluster >= _rank("view"):
        return True
    if kind == "Namespace" and name:  # a namespace's own users may see it; admins change it
        role = _rank(namespace_role(user, name))
        return role >= (_rank("view") if read else _rank("admin"))
    return False
