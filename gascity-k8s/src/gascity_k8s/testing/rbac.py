"""RBAC for the emulator: a namespaced Role's rules, authorized as the API server does.

The API server turns each request into attributes (API group, resource with its
subresource, verb, namespace, name) and grants it when one rule of a bound Role
matches them all. A Role grants nothing outside its namespace and nothing
cluster-scoped (namespaces, pods across all namespaces); discovery and ``/version``
are non-resource URLs every authenticated user may read. With a Role set on the
emulator, a test proves that the manifests' RBAC is enough for what a controller
really sends, and a rule left out shows as a 403 naming it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Attributes", "Role", "attributes"]

_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass(frozen=True)
class Attributes:
    group: str
    resource: str
    """With its subresource: ``pods``, ``pods/exec``, ``leases``."""
    verb: str
    namespace: str
    """Empty for a cluster-scoped request."""
    name: str = ""

    def denial(self, user: str) -> str:
        """The API server's message for a refused request."""
        what = f'{self.resource} "{self.name}"' if self.name else self.resource
        where = (
            f' in the namespace "{self.namespace}"' if self.namespace else " at the cluster scope"
        )
        return (
            f'{what} is forbidden: User "{user}" cannot {self.verb} resource '
            f'"{self.resource}" in API group "{self.group}"{where}'
        )


def attributes(method: str, path: str, query: Mapping[str, str]) -> Attributes | None:
    """The request's resource attributes; ``None`` for a non-resource URL."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, rest = parts[1], parts[3:]
    else:
        return None  # /version, /api, /apis: discovery
    if not rest:
        return None  # the group's resource list: discovery too
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    resource, name = rest[0], rest[1] if len(rest) > 1 else ""
    if len(rest) > 2:
        resource = f"{resource}/{rest[2]}"
    if method in ("GET", "HEAD"):
        watching = query.get("watch") in ("true", "1")
        verb = "watch" if watching else "get" if name else "list"
    else:
        verb = _METHOD_VERBS.get(method, method.lower())
    return Attributes(group, resource, verb, namespace, name)


@dataclass(frozen=True)
class Role:
    """The rules of one Role bound to the client, in ``namespace``."""

    namespace: str
    rules: Sequence[Mapping[str, Any]]
    user: str = "system:serviceaccount:gc:gc-controller"

    @classmethod
    def of(cls, role: Mapping[str, Any]) -> Role:
        """From a ``rbac.authorization.k8s.io/v1`` Role object (as the manifests render it)."""
        meta = role["metadata"]
        return cls(
            namespace=str(meta["namespace"]),
            rules=list(role.get("rules") or []),
            user=f"system:serviceaccount:{meta['namespace']}:{meta['name']}",
        )

    def allows(self, attrs: Attributes) -> bool:
        if attrs.namespace != self.namespace:
            return False  # a Role never reaches past its namespace
        for rule in self.rules:
            if not _matches(rule.get("apiGroups") or [], attrs.group):
                continue
            if not _matches(rule.get("resources") or [], attrs.resource):
                continue
            if not _matches(rule.get("verbs") or [], attrs.verb):
                continue
            names = rule.get("resourceNames") or []
            if names and attrs.name not in names:
                continue
            return True
        return False


def _matches(allowed: Sequence[str], value: str) -> bool:
    return "*" in allowed or value in allowed
