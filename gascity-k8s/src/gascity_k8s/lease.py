"""Leader election on a ``coordination.k8s.io/v1`` Lease, with client-go's rules.

The official client's ``kubernetes.leaderelection`` runs the leader's work inside a
blocking ``run()``, times everything with the wall clock, cannot release the lease
and gives no way to ask "may I write now?"; so this is a small lock of our own on
the same Lease object, using resourceVersion compare-and-swap for every change:

* a replica acquires a Lease that does not exist, has no holder, or whose record it
  has seen unchanged for the ``leaseDurationSeconds`` its holder wrote there, by its
  own clock (never by comparing clocks across machines);
* the leader renews every ``retry_period``; it may act only until
  ``renew_deadline`` after the *start* of its last successful renewal (on a clock that
  counts a suspend of the machine too), which ends
  before any follower can take over (``lease_duration`` > ``renew_deadline``), so
  a leader paused past its lease finds itself fenced when it resumes;
* releasing clears the holder, so a follower takes over at its next retry.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .client import ClientPair

__all__ = ["LeaseElector"]

log = logging.getLogger("gascity.k8s.lease")


_BOOTTIME: int | None = getattr(time, "CLOCK_BOOTTIME", None)


def _clock() -> float:
    """Seconds on a clock that keeps counting while the machine sleeps: a laptop
    suspended past its lease must find itself fenced when it wakes, and the monotonic
    clock stands still through a suspend (the boot-time clock does not)."""
    return time.clock_gettime(_BOOTTIME) if _BOOTTIME is not None else time.monotonic()


def _micro_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaseElector:
    def __init__(
        self,
        clients: ClientPair,
        namespace: str,
        name: str,
        identity: str,
        *,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
    ) -> None:
        self.clients = clients
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.holder: str | None = None
        """The holder in the last record seen ("" when released)."""
        self.transitions = 0
        self._valid_until = 0.0
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._was_leader = False
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.last_contact = 0.0
        """When the API server last answered about the lease (:func:`_clock`)."""
        self.attempted = threading.Event()
        """Set once the first attempt finished (won, lost or failed)."""
        self._thread: threading.Thread | None = None
        # A hung request must not hang the renewals: past the deadline it is moot.
        self._timeout = max(1.0, renew_deadline / 2)

    # ---------------------------------------------------------------- queries

    def may_act(self) -> bool:
        return _clock() < self._valid_until

    def in_touch(self) -> bool:
        """The lease was read within the lease duration: a follower that is not is
        blind (it could neither take over nor tell who leads)."""
        return _clock() - self.last_contact < self.lease_duration

    def on_change(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    # -------------------------------------------------------------- lifecycle

    def start(self) -> LeaseElector:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="gc-k8s-lease", daemon=True)
            self._thread.start()
        return self

    def stop(self, release: bool = True) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.retry_period + 10)
        if release:
            self.release()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.try_acquire_or_renew()
            except Exception as exc:  # an outage: the lease simply runs out
                log.warning("lease %s/%s: %s", self.namespace, self.name, exc)
            self.attempted.set()
            self._notify()
            self._stop.wait(self.retry_period)

    def _notify(self) -> None:
        leader = self.may_act()
        if leader != self._was_leader:
            self._was_leader = leader
            log.info(
                "%s %s the lease %s/%s",
                self.identity,
                "acquired" if leader else "lost",
                self.namespace,
                self.name,
            )
            for callback in list(self._listeners):
                callback()

    # ------------------------------------------------------------------ lock

    def _get(self) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            lease: dict[str, Any] = self.clients.raw(
                self.clients.coordination.read_namespaced_lease,
                self.name,
                self.namespace,
                _request_timeout=self._timeout,
            )
            self.last_contact = _clock()
            return lease
        except ApiException as exc:
            if exc.status == 404:
                self.last_contact = _clock()
                return None
            raise

    def _spec(self, old: dict[str, Any] | None, now: str) -> dict[str, Any]:
        held = old is not None and old.get("holderIdentity") == self.identity
        transitions = int((old or {}).get("leaseTransitions") or 0)
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, math.ceil(self.lease_duration)),
            "acquireTime": (old or {}).get("acquireTime") if held else now,
            "renewTime": now,
            "leaseTransitions": transitions if held or old is None else transitions + 1,
        }

    def try_acquire_or_renew(self) -> bool:
        """One attempt; True when this replica holds the lease afterwards."""
        from kubernetes.client.exceptions import ApiException

        with self._lock:
            began = _clock()
            lease = self._get()
            try:
                if lease is None:
                    body: dict[str, Any] = {
                        "apiVersion": "coordination.k8s.io/v1",
                        "kind": "Lease",
                        "metadata": {"name": self.name, "namespace": self.namespace},
                        "spec": self._spec(None, _micro_time()),
                    }
                    self.clients.raw(
                        self.clients.coordination.create_namespaced_lease,
                        self.namespace,
                        body,
                        _request_timeout=self._timeout,
                    )
                    return self._won(began, body["spec"])
                spec = lease.get("spec") or {}
                holder = str(spec.get("holderIdentity") or "")
                record = (holder, spec.get("renewTime"), spec.get("leaseTransitions"))
                if record != self._observed:
                    self._observed, self._observed_at = record, _clock()
                self.holder = holder
                self.transitions = int(spec.get("leaseTransitions") or 0)
                if holder and holder != self.identity:
                    self._valid_until = 0.0  # somebody else holds it: stop acting now
                    if _clock() < self._observed_at + self._wait(spec):
                        return False
                lease["spec"] = self._spec(spec, _micro_time())
                self.clients.raw(
                    self.clients.coordination.replace_namespaced_lease,
                    self.name,
                    self.namespace,
                    lease,
                    _request_timeout=self._timeout,
                )
                return self._won(began, lease["spec"])
            except ApiException as exc:
                if exc.status == 409:  # another replica wrote first; its record wins
                    return False
                raise

    def _wait(self, spec: dict[str, Any]) -> float:
        """How long the record must stay unchanged before it may be taken: the
        duration its holder wrote, as client-go reads it. The holder's renew deadline
        is shorter than that, whatever this replica's own settings say (a rolling
        update may run replicas with different timings side by side)."""
        try:
            written = float(spec.get("leaseDurationSeconds") or 0)
        except (TypeError, ValueError):
            written = 0.0
        return written if written > 0 else self.lease_duration

    def _won(self, began: float, spec: dict[str, Any]) -> bool:
        self._valid_until = began + self.renew_deadline
        self.holder = self.identity
        self.transitions = int(spec.get("leaseTransitions") or 0)
        self._observed = (self.identity, spec.get("renewTime"), spec.get("leaseTransitions"))
        self._observed_at = _clock()
        return True

    def release(self) -> None:
        """Clear the holder if this replica still holds the lease."""
        if not self.may_act():
            return
        self._valid_until = 0.0
        try:
            lease = self._get()
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            lease["spec"].update(
                holderIdentity="", leaseDurationSeconds=1, renewTime=_micro_time()
            )
            self.clients.raw(
                self.clients.coordination.replace_namespaced_lease,
                self.name,
                self.namespace,
                lease,
            )
            log.info("%s released the lease %s/%s", self.identity, self.namespace, self.name)
        except Exception as exc:
            log.warning("releasing lease %s/%s: %s", self.namespace, self.name, exc)
