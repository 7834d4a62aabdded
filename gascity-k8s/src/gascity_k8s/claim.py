"""One city per name in a namespace.

Pod names, the ``gc-city`` label, the Lease and the state ConfigMap all derive from the
city's *name*, so two cities that share a name and a namespace would adopt, stop and
out-vote each other. The first city to touch the namespace records its path in the
ConfigMap ``gc-<city>-city``; a city of the same name at another path is refused with
an error naming that path before it lists, starts or stops anything. Replicas of one
controller share the path (the generated manifests mount the city at ``/city``); one city
driven from two checkouts sets the same ``[session.k8s] city_path`` in both.
"""

from __future__ import annotations

from typing import Any

from gascity.errors import SessionError

from .client import ClientPair

__all__ = ["PATH_KEY", "claim_city"]

PATH_KEY = "city-path"


def _body(name: str, city: str, path: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/part-of": "gascity"},
        },
        "data": {"city-name": city, PATH_KEY: path},
    }


def claim_city(clients: ClientPair, namespace: str, configmap: str, city: str, path: str) -> None:
    """Record ``path`` as the home of ``city`` in ``namespace``, or raise
    :class:`SessionError` when another path already holds that name."""
    from kubernetes.client.exceptions import ApiException

    where = f"ConfigMap {namespace}/{configmap}"
    for _ in range(3):
        try:
            cm: dict[str, Any] = clients.raw(
                clients.core.read_namespaced_config_map, configmap, namespace
            )
        except ApiException as exc:
            if exc.status != 404:
                raise SessionError(f"reading {where}: {exc.reason}") from None
        else:
            held = str((cm.get("data") or {}).get(PATH_KEY) or "")
            if held == path:
                return
            raise SessionError(
                f"namespace {namespace!r} already holds a city named {city!r} at {held or '?'} "
                f"({where}); this city is {path}. Give one of them another [workspace] name "
                "or [session.k8s] namespace; if it is the same city, set [session.k8s] "
                f"city_path = {held!r} here, or delete the ConfigMap if the other city is gone"
            )
        try:
            clients.raw(
                clients.core.create_namespaced_config_map,
                namespace,
                _body(configmap, city, path),
            )
            return
        except ApiException as exc:
            if exc.status != 409:
                raise SessionError(f"creating {where}: {exc.reason}") from None
            # Another city (or replica) created it first: read whose it is.
    raise SessionError(f"claiming {where}: it kept changing")
