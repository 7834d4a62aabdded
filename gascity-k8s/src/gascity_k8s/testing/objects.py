"""The emulator's store for plain namespaced objects: Leases and ConfigMaps.

They follow the API server's optimistic concurrency: every write takes a new
revision from the shared counter (one etcd revision for every kind), a replace or
patch that names a ``resourceVersion`` other than the current one is refused with
409 Conflict, and a create of an existing name with 409 AlreadyExists. That is all
leader election and a compare-and-swap state store need, and all they may rely on.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable
from typing import Any

from .store import ApiError, apply_patch, now_iso

__all__ = ["ObjectStore"]

Obj = dict[str, Any]


class ObjectStore:
    """Objects of one kind (``kind`` is e.g. ``Lease``, ``plural`` ``leases``)."""

    def __init__(
        self, kind: str, plural: str, api_version: str, revision: Callable[[], int]
    ) -> None:
        self.kind = kind
        self.plural = plural
        self.api_version = api_version
        self._revision = revision
        self._lock = threading.Lock()
        self.objects: dict[tuple[str, str], Obj] = {}

    def _missing(self, name: str) -> ApiError:
        return ApiError(
            404, "NotFound", f'{self.plural} "{name}" not found', name=name, kind=self.plural
        )

    def _stamp(self, obj: Obj) -> Obj:
        obj["metadata"]["resourceVersion"] = str(self._revision())
        return obj

    def get(self, ns: str, name: str) -> Obj:
        with self._lock:
            obj = self.objects.get((ns, name))
            if obj is None:
                raise self._missing(name)
            return copy.deepcopy(obj)

    def list(self, ns: str) -> Obj:
        with self._lock:
            items = [copy.deepcopy(o) for (n, _), o in sorted(self.objects.items()) if n == ns]
        return {
            "kind": f"{self.kind}List",
            "apiVersion": self.api_version,
            "metadata": {"resourceVersion": str(self._revision())},
            "items": items,
        }

    def create(self, ns: str, body: Obj) -> Obj:
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        name = meta.get("name")
        if not name:
            raise ApiError(422, "Invalid", f"{self.kind}: metadata.name: Required value")
        if meta.get("namespace") not in (None, ns):
            raise ApiError(400, "BadRequest", "the namespace of the object does not match")
        meta.pop("resourceVersion", None)
        meta.update(namespace=ns, uid=str(uuid.uuid4()), creationTimestamp=now_iso())
        obj["kind"], obj["apiVersion"] = self.kind, self.api_version
        with self._lock:
            if (ns, name) in self.objects:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{self.plural} "{name}" already exists',
                    name=name,
                    kind=self.plural,
                )
            self.objects[(ns, name)] = self._stamp(obj)
            return copy.deepcopy(obj)

    def replace(self, ns: str, name: str, body: Obj) -> Obj:
        with self._lock:
            current = self.objects.get((ns, name))
            if current is None:
                raise self._missing(name)
            return self._swap(ns, name, current, copy.deepcopy(body))

    def patch(self, ns: str, name: str, patch: Any, content_type: str) -> Obj:
        with self._lock:
            current = self.objects.get((ns, name))
            if current is None:
                raise self._missing(name)
            return self._swap(ns, name, current, apply_patch(current, patch, content_type))

    def _swap(self, ns: str, name: str, current: Obj, updated: Obj) -> Obj:
        wanted = (updated.get("metadata") or {}).get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {self.plural} "{name}": the object has been '
                "modified; please apply your changes to the latest version and try again",
                name=name,
                kind=self.plural,
            )
        meta = updated.setdefault("metadata", {})
        for key in ("name", "namespace", "uid", "creationTimestamp"):
            meta[key] = current["metadata"][key]
        updated["kind"], updated["apiVersion"] = self.kind, self.api_version
        self.objects[(ns, name)] = self._stamp(updated)
        return copy.deepcopy(updated)

    def delete(self, ns: str, name: str) -> Obj:
        with self._lock:
            obj = self.objects.pop((ns, name), None)
        if obj is None:
            raise self._missing(name)
        return obj
