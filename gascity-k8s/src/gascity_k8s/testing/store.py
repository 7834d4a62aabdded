"""The emulator's object store: pods by namespace, with the API server's rules.

Every write bumps one global ``resourceVersion`` (as etcd's revision does), names
are validated, conflicts and misses are :class:`ApiError` carrying a ``Status``
body, and patches follow the three patch types the API server accepts.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .selectors import field_matcher, label_matcher

__all__ = ["ApiError", "PodStore", "WatchEvent", "apply_patch", "now_iso", "status_body"]

_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED = re.compile(r"^([a-z0-9.-]{1,253}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")

Pod = dict[str, Any]


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_body(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.body = status_body(code, reason, message, **details)


WatchEvent = tuple[int, str, tuple[str, str], Pod, str, "Pod | None"]
"""(revision, ``ADDED``/``MODIFIED``/``DELETED``, (namespace, name), pod, its JSON, the
pod as the previous event left it). A watch with a selector needs the previous state,
as the API server's watch cache keeps it: a change that moves a pod out of the
selector is that watch's ``DELETED``, one that moves it in its ``ADDED``."""


def gone(rv: int, oldest: int) -> ApiError:
    return ApiError(
        410, "Expired", f"too old resource version: {rv} ({oldest})"
    )


def not_found(name: str) -> ApiError:
    return ApiError(404, "NotFound", f'pods "{name}" not found', name=name, kind="pods")


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _strategic_patch(target: Any, patch: Any) -> Any:
    """Strategic merge for what pods use: maps as merge patch, lists of named
    objects (containers, env, volumes) merged by ``name``, other lists replaced."""
    if isinstance(patch, list) and isinstance(target, list):
        if all(isinstance(x, dict) and "name" in x for x in [*patch, *target]):
            merged = {x["name"]: x for x in target}
            for item in patch:
                merged[item["name"]] = _strategic_patch(merged.get(item["name"]), item)
            return list(merged.values())
        return copy.deepcopy(patch)
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _strategic_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def _json_patch(target: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 add/remove/replace/test on objects and lists."""
    doc = copy.deepcopy(target)
    for op in ops:
        parts = _pointer(op["path"])
        parent: Any = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        kind = op["op"]
        try:
            if kind in ("add", "replace"):
                if isinstance(parent, list):
                    idx = len(parent) if last == "-" else int(last)
                    if kind == "add":
                        parent.insert(idx, op["value"])
                    else:
                        parent[idx] = op["value"]
                else:
                    if kind == "replace" and last not in parent:
                        raise KeyError(last)
                    parent[last] = op["value"]
            elif kind == "remove":
                del parent[int(last) if isinstance(parent, list) else last]
            elif kind == "test":
                current = parent[int(last)] if isinstance(parent, list) else parent[last]
                if current != op["value"]:
                    raise ApiError(422, "Invalid", f"test operation failed at {op['path']}")
            else:
                raise ApiError(400, "BadRequest", f"unsupported json patch op {kind!r}")
        except (KeyError, IndexError) as exc:
            raise ApiError(422, "Invalid", f"json patch path {op['path']} missing") from exc
    return doc


def apply_patch(obj: Pod, patch: Any, content_type: str) -> Pod:
    if "json-patch" in content_type:
        result: Pod = _json_patch(obj, patch)
    elif "strategic-merge-patch" in content_type:
        result = _strategic_patch(obj, patch)
    elif "merge-patch" in content_type:
        result = _merge_patch(obj, patch)
    else:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format ({content_type}) - accepted media "
            "types include: application/json-patch+json, application/merge-patch+json, "
            "application/strategic-merge-patch+json",
        )
    return result


def validate(pod: Pod) -> None:
    meta = pod.get("metadata", {})
    name = meta.get("name", "")
    problems: list[str] = []
    if not name or len(name) > 253 or not _DNS1123.match(name):
        problems.append(f"metadata.name: Invalid value: {name!r}: a lowercase RFC 1123 subdomain")
    for key, value in (meta.get("labels") or {}).items():
        if not _QUALIFIED.match(key):
            problems.append(f"metadata.labels: Invalid value: {key!r}: name part must be valid")
        if len(str(value)) > 63 or not _LABEL_VALUE.match(str(value)):
            problems.append(f"metadata.labels: Invalid value: {value!r}: a valid label value")
    for key in meta.get("annotations") or {}:
        if not _QUALIFIED.match(key):
            problems.append(f"metadata.annotations: Invalid value: {key!r}")
    containers = pod.get("spec", {}).get("containers") or []
    if not containers:
        problems.append("spec.containers: Required value")
    if problems:
        raise ApiError(
            422,
            "Invalid",
            f'Pod "{name}" is invalid: ' + "; ".join(problems),
            name=name,
            kind="Pod",
        )


class PodStore:
    """Pods keyed by (namespace, name). All access holds one lock; every mutation
    bumps the shared revision, lands in the watch history and notifies ``on_change``
    listeners (the kubelet, watch streams).

    The history keeps the last ``history`` events, as etcd keeps revisions until
    compaction: a watch from an older revision is answered 410 Gone.
    """

    def __init__(self, history: int = 10000) -> None:
        self.lock = threading.RLock()
        self.pods: dict[tuple[str, str], Pod] = {}
        self._json: dict[tuple[str, str], tuple[str, str]] = {}
        self.revision = 1
        self.history: deque[WatchEvent] = deque(maxlen=history)
        self._latest: dict[tuple[str, str], Pod] = {}
        """Each live pod's snapshot in its last event (the next event's previous state)."""
        self.compacted = 1
        """Events at or below this revision are no longer served to watches."""
        self.on_create: list[Callable[[str, str], None]] = []
        self.on_delete: list[Callable[[str, str, int], None]] = []
        self.on_change: list[Callable[[], None]] = []

    def next_revision(self) -> int:
        """The shared revision counter (leases and config maps bump it too)."""
        with self.lock:
            self.revision += 1
            return self.revision

    def _bump(self, pod: Pod, event: str = "MODIFIED") -> Pod:
        self.revision += 1
        pod["metadata"]["resourceVersion"] = str(self.revision)
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        if len(self.history) == self.history.maxlen:
            self.compacted = self.history[0][0]
        snapshot = copy.deepcopy(pod)
        previous = self._latest.pop(key, None) if event == "DELETED" else self._latest.get(key)
        if event != "DELETED":
            self._latest[key] = snapshot
        self.history.append(
            (
                self.revision,
                event,
                key,
                snapshot,
                json.dumps(snapshot, separators=(",", ":")),
                previous,
            )
        )
        return pod

    def _changed(self) -> None:
        for cb in list(self.on_change):
            cb()

    def compact(self) -> None:
        """Forget the history, as an etcd compaction does: older watches get 410."""
        with self.lock:
            self.history.clear()
            self.compacted = self.revision

    def events_since(self, rv: int) -> tuple[list[WatchEvent], int]:
        """Every event after revision ``rv`` and the revision they reach;
        :class:`ApiError` 410 when ``rv`` was compacted away."""
        with self.lock:
            if rv < self.compacted:
                raise gone(rv, self.compacted)
            if not self.history or self.history[-1][0] <= rv:
                return [], self.revision
            return [e for e in self.history if e[0] > rv], self.revision

    def get(self, ns: str, name: str) -> Pod:
        with self.lock:
            pod = self.pods.get((ns, name))
            if pod is None:
                raise not_found(name)
            return copy.deepcopy(pod)

    def _text(self, key: tuple[str, str], pod: Pod) -> str:
        rv = pod["metadata"]["resourceVersion"]
        cached = self._json.get(key)
        if cached is None or cached[0] != rv:
            cached = (rv, json.dumps(pod, separators=(",", ":")))
            self._json[key] = cached
        return cached[1]

    def list_json(
        self, ns: str | None, labels: str | None = None, fields: str | None = None
    ) -> str:
        """The PodList as JSON text; each pod is serialized once per resourceVersion,
        so listing a thousand unchanged pods costs a string join, as a watch cache would."""
        by_label = label_matcher(labels)
        by_field = field_matcher(fields)
        with self.lock:
            items = [
                self._text(key, p)
                for key, p in sorted(self.pods.items())
                if (ns is None or key[0] == ns)
                and by_label(p["metadata"].get("labels") or {})
                and by_field(p)
            ]
            rv = self.revision
        head = (
            '{"kind":"PodList","apiVersion":"v1",'
            f'"metadata":{{"resourceVersion":"{rv}"}},"items":['
        )
        return head + ",".join(items) + "]}"

    def list(
        self, ns: str | None, labels: str | None = None, fields: str | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.list_json(ns, labels, fields))
        return result

    def create(self, ns: str, pod: Pod) -> Pod:
        pod = copy.deepcopy(pod)
        meta = pod.setdefault("metadata", {})
        if meta.get("generateName") and not meta.get("name"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if meta.get("namespace") not in (None, ns):
            raise ApiError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent "
                "on the request",
            )
        validate(pod)
        name = meta["name"]
        meta.update(namespace=ns, uid=str(uuid.uuid4()), creationTimestamp=now_iso(), generation=1)
        for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
            meta.pop(key, None)
        pod["kind"], pod["apiVersion"] = "Pod", "v1"
        pod["status"] = {
            "phase": "Pending",
            "qosClass": "Burstable",
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now_iso()}
            ],
        }
        pod["spec"].setdefault("restartPolicy", "Always")
        with self.lock:
            if (ns, name) in self.pods:
                raise ApiError(
                    409, "AlreadyExists", f'pods "{name}" already exists', name=name, kind="pods"
                )
            self.pods[(ns, name)] = self._bump(pod, "ADDED")
            out = copy.deepcopy(pod)
        self._changed()
        for cb in self.on_create:
            cb(ns, name)
        return out

    def patch(self, ns: str, name: str, patch: Any, content_type: str) -> Pod:
        with self.lock:
            current = self.pods.get((ns, name))
            if current is None:
                raise not_found(name)
            updated = apply_patch(current, patch, content_type)
            out = self._replace(ns, name, current, updated)
        self._changed()
        return out

    def replace(self, ns: str, name: str, pod: Pod) -> Pod:
        with self.lock:
            current = self.pods.get((ns, name))
            if current is None:
                raise not_found(name)
            out = self._replace(ns, name, current, copy.deepcopy(pod))
        self._changed()
        return out

    def _replace(self, ns: str, name: str, current: Pod, updated: Pod) -> Pod:
        wanted = updated.get("metadata", {}).get("resourceVersion")
        have = current["metadata"]["resourceVersion"]
        if wanted and wanted != have:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on pods "{name}": the object has been modified; '
                "please apply your changes to the latest version and try again",
                name=name,
                kind="pods",
            )
        meta = updated.setdefault("metadata", {})
        for key in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp"):
            if key in current["metadata"]:
                meta[key] = current["metadata"][key]
        # Clients cannot rewrite status or the spec's containers through the main resource.
        updated["status"] = current["status"]
        updated["spec"] = {**updated.get("spec", {}), "containers": current["spec"]["containers"]}
        validate(updated)
        self.pods[(ns, name)] = self._bump(updated)
        return copy.deepcopy(updated)

    def update_status(self, ns: str, name: str, mutate: Callable[[Pod], bool]) -> None:
        """The kubelet's status writes; ``mutate`` returns whether anything changed."""
        with self.lock:
            pod = self.pods.get((ns, name))
            if pod is None or not mutate(pod):
                return
            self._bump(pod)
        self._changed()

    def delete(self, ns: str, name: str, grace: int | None) -> Pod:
        with self.lock:
            pod = self.pods.get((ns, name))
            if pod is None:
                raise not_found(name)
            meta = pod["metadata"]
            if grace is None:
                grace = int(pod["spec"].get("terminationGracePeriodSeconds", 30))
            if grace <= 0 or (
                pod["status"].get("phase") in ("Succeeded", "Failed")
                and not pod["spec"].get("nodeName")
            ):
                del self.pods[(ns, name)]
                self._json.pop((ns, name), None)
                out = copy.deepcopy(self._bump(pod, "DELETED"))
                grace = 0
            else:
                if not meta.get("deletionTimestamp"):
                    meta["deletionTimestamp"] = now_iso()
                    meta["deletionGracePeriodSeconds"] = grace
                    self._bump(pod)
                out = copy.deepcopy(pod)
        self._changed()
        for cb in self.on_delete:
            cb(ns, name, grace)
        return out

    def remove(self, ns: str, name: str, uid: str | None = None) -> None:
        """The kubelet confirms termination: the object is gone. With ``uid``, only
        that incarnation: a pod recreated under the same name is left alone."""
        with self.lock:
            pod = self.pods.get((ns, name))
            if pod is None or (uid is not None and pod["metadata"].get("uid") != uid):
                return
            del self.pods[(ns, name)]
            self._json.pop((ns, name), None)
            self._bump(pod, "DELETED")
        self._changed()
