"""Several controllers on one city: the Lease election plus the controller state
in a ConfigMap, behind :class:`gascity.coordination.Coordination`."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from gascity.errors import NotLeader, SessionError

from .client import ClientPair
from .lease import LeaseElector

__all__ = ["STATE_KEY", "K8sCoordination"]

STATE_KEY = "controller-state.json"


class K8sCoordination:
    def __init__(
        self, clients: ClientPair, namespace: str, elector: LeaseElector, configmap: str
    ) -> None:
        self.clients = clients
        self.namespace = namespace
        self.elector = elector
        self.identity = elector.identity
        self.configmap = configmap
        self._version: str | None = None
        """resourceVersion of the state ConfigMap as last read or written."""
        self._kept: dict[str, Any] = {}
        """The ConfigMap's labels and annotations as last read: a replace sends the
        whole object, and what ``kubectl apply`` put there must survive it."""

    def may_act(self) -> bool:
        return self.elector.may_act()

    def holder(self) -> str | None:
        return self.elector.holder

    def on_change(self, callback: Callable[[], None]) -> None:
        self.elector.on_change(callback)

    def fence(self, what: str) -> None:
        """Raise :class:`NotLeader` unless this replica may write now."""
        if not self.elector.may_act():
            raise NotLeader(
                f"{self.identity} does not hold lease {self.namespace}/{self.elector.name} "
                f"(holder: {self.elector.holder or 'nobody'}); not {what}"
            )

    def _read(self) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            cm: dict[str, Any] = self.clients.raw(
                self.clients.core.read_namespaced_config_map, self.configmap, self.namespace
            )
        except ApiException as exc:
            if exc.status == 404:
                self._version = None
                return None
            raise SessionError(
                f"reading ConfigMap {self.namespace}/{self.configmap}: {exc.reason}"
            ) from None
        self._remember(cm)
        return cm

    def _remember(self, cm: dict[str, Any]) -> None:
        meta = cm.get("metadata") or {}
        self._version = str(meta.get("resourceVersion") or "")
        self._kept = {key: dict(meta[key]) for key in ("labels", "annotations") if meta.get(key)}

    def load_state(self) -> str | None:
        cm = self._read()
        if cm is None:
            return None
        text = (cm.get("data") or {}).get(STATE_KEY)
        return None if text is None else str(text)

    def save_state(self, text: str) -> None:
        from kubernetes.client.exceptions import ApiException

        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "data": {STATE_KEY: text},
        }
        for _ in range(3):
            self.fence("saving the controller state")
            body["metadata"] = {
                "name": self.configmap,
                "labels": {"app.kubernetes.io/part-of": "gascity"},
                **copy.deepcopy(self._kept),
            }
            try:
                if self._version is None:
                    result = self.clients.raw(
                        self.clients.core.create_namespaced_config_map, self.namespace, body
                    )
                else:
                    body["metadata"]["resourceVersion"] = self._version
                    result = self.clients.raw(
                        self.clients.core.replace_namespaced_config_map,
                        self.configmap,
                        self.namespace,
                        body,
                    )
            except ApiException as exc:
                if exc.status in (404, 409):
                    # Someone else wrote (a replica that led before us) or it is new:
                    # re-read the version; as the leader, our state is the one to keep.
                    self._read()
                    continue
                raise SessionError(
                    f"saving ConfigMap {self.namespace}/{self.configmap}: {exc.reason}"
                ) from None
            self._remember(result)
            return
        raise SessionError(f"saving ConfigMap {self.namespace}/{self.configmap}: kept conflicting")

    def release(self) -> None:
        self.elector.stop(release=True)
