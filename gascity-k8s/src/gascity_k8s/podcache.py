"""A watch-fed cache of the city's pods: what a steady tick reads instead of a list.

One background thread lists the pods by the city's label selector, then watches
from the list's ``resourceVersion`` with bookmarks, applying each event. A watch
the server ends (its timeout) resumes from the last revision seen, costing no list;
a 410 Gone (the revision was compacted away), a stream cut mid-event or any other
failure relists, so no change is lost. Every ``resync`` seconds it relists anyway,
which bounds the damage of a bug in event handling to one period.

While a relist is pending the cache says it is not synced and the provider lists
directly, so an outage shows as a failed tick, never as a stale answer.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

from .client import ClientPair

__all__ = ["PodCache"]

log = logging.getLogger("gascity.k8s.cache")
Pod = dict[str, Any]


class _Gone(Exception):
    """The watch's resourceVersion is too old: relist."""


def _lines(response: Any) -> Iterator[bytes]:
    """Complete lines of a chunked watch response; a cut stream raises."""
    buffer = bytearray()
    for chunk in response.stream(amt=None, decode_content=False):
        buffer.extend(chunk)
        while (end := buffer.find(b"\n")) != -1:
            line = bytes(buffer[:end])
            del buffer[: end + 1]
            if line.strip():
                yield line
    if buffer.strip():
        raise ConnectionError(f"watch stream ended inside an event ({len(buffer)} bytes)")


def _rv(pod: Pod) -> int:
    try:
        return int(pod["metadata"].get("resourceVersion") or 0)
    except (TypeError, ValueError):
        return 0


class PodCache:
    """:param watch_seconds: the ``timeoutSeconds`` asked of each watch (jittered, as
    client-go does, so replicas do not reconnect in step)."""

    def __init__(
        self,
        clients: ClientPair,
        namespace: str,
        selector: str,
        *,
        resync: float = 300.0,
        watch_seconds: float = 300.0,
        retry: float = 1.0,
    ) -> None:
        self.clients = clients
        self.namespace = namespace
        self.selector = selector
        self.resync = resync
        self.watch_seconds = watch_seconds
        self.retry = retry
        self.relists = 0
        """Full lists made (the first one included)."""
        self.watches = 0
        """Watch requests made."""
        self.resource_version = "0"
        self.watching = False
        """A watch stream is open (the server answered its headers)."""
        self._pods: dict[str, Pod] = {}
        self._deleted: dict[str, int] = {}
        """name -> revision of its DELETED event, so a late ``observe`` cannot revive it."""
        self._lock = threading.Lock()
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._response: Any = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ reading

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    def snapshot(self) -> list[Pod] | None:
        """Every cached pod, or ``None`` while not synced (the caller lists itself)."""
        if not self._synced.is_set():
            return None
        with self._lock:
            return [self._pods[name] for name in sorted(self._pods)]

    def observe(self, pod: Pod) -> None:
        """Take a pod the API just returned from a write, if newer than the cached one,
        so the next tick sees its own create without waiting for the event."""
        name = (pod.get("metadata") or {}).get("name")
        if not name:
            return
        with self._lock:
            if self._deleted.get(name, -1) >= _rv(pod):
                return
            current = self._pods.get(name)
            if current is None or _rv(pod) > _rv(current):
                self._pods[name] = pod

    # -------------------------------------------------------------- lifecycle

    def start(self) -> PodCache:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="gc-k8s-watch", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        response = self._response
        if response is not None:
            try:
                response.shutdown()  # unblocks the watch thread's read
            except Exception:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ----------------------------------------------------------------- thread

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._relist()
                due = time.monotonic() + self.resync
                while not self._stop.is_set() and time.monotonic() < due:
                    self._watch(max(1.0, min(due - time.monotonic(), self.watch_seconds)))
            except _Gone:
                log.info("pod watch: resourceVersion %s expired; relisting", self.resource_version)
                self._synced.clear()
            except Exception as exc:
                if self._stop.is_set():
                    break
                self._synced.clear()
                log.warning("pod watch of %s broke (%s); relisting", self.namespace, exc)
                self._stop.wait(self.retry)

    def _relist(self) -> None:
        result = self.clients.raw(
            self.clients.core.list_namespaced_pod,
            self.namespace,
            label_selector=self.selector,
            # A list that hangs would leave a stale cache looking synced.
            _request_timeout=(10, 120),
        )
        pods = {p["metadata"]["name"]: p for p in result.get("items") or []}
        with self._lock:
            self._pods = pods
            self._deleted = {}
            self.resource_version = str(result["metadata"]["resourceVersion"])
        self.relists += 1
        self._synced.set()

    def _watch(self, seconds: float) -> None:
        timeout = int(seconds * random.uniform(1.0, 1.2)) or 1
        self.watches += 1
        response: Any = self.clients.core.list_namespaced_pod(
            self.namespace,
            label_selector=self.selector,
            watch=True,
            allow_watch_bookmarks=True,
            resource_version=self.resource_version,
            timeout_seconds=timeout,
            _preload_content=False,
            # A silent connection is a dead one: bookmarks and the server's own
            # timeout both arrive well inside this.
            _request_timeout=(10, timeout + 30),
        )
        self._response = response
        self.watching = True
        try:
            if self._stop.is_set():
                return
            for line in _lines(response):
                self._apply(json.loads(line))
        finally:
            self.watching = False
            self._response = None
            response.release_conn()

    def _apply(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        obj: Pod = event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _Gone()
            raise ConnectionError(f"watch error {obj.get('code')}: {obj.get('message')}")
        rv = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        name = (obj.get("metadata") or {}).get("name")
        with self._lock:
            if kind in ("ADDED", "MODIFIED") and name:
                current = self._pods.get(name)
                if current is None or _rv(obj) >= _rv(current):
                    self._pods[name] = obj
                self._deleted.pop(name, None)
            elif kind == "DELETED" and name:
                current = self._pods.get(name)
                if current is not None and _rv(current) <= _rv(obj):
                    del self._pods[name]
                self._deleted[name] = _rv(obj)
            if rv:
                self.resource_version = rv
