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

from gascity.errors import NotThisCity, SessionError

from .client import ClientPair

__all__ = ["PATH_KEY", "claim_city", "claim_refusal", "claimed_path"]

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


def claimed_path(cm: dict[str, Any]) -> str:
    """The city path a claim ConfigMap records ("" when it records none)."""
    return str((cm.get("data") or {}).get(PATH_KEY) or "")


def claim_refusal(namespace: str, configmap: str, city: str, held: str, path: str) -> str:
    """Why the city at ``path`` may not act in ``namespace``, and what to do."""
    return (
        f"namespace {namespace!r} already holds a city named {city!r} at {held or '?'} "
        f"(ConfigMap {namespace}/{configmap}); this city is {path}. Give one of them another "
        "[workspace] name or [session.k8s] namespace; if it is the same city, set "
        f"[session.k8s] city_path = {held!r} here, or delete the ConfigMap if the other "
        "city is gone"
    )


def claim_city(clients: ClientPair, namespace: str, configmap: str, city: str, path: str) -> None:
    """Record ``path`` as the home of ``city`` in ``namespace``, or raise
    :class:`NotThisCity` when another path already holds that name (and
    :class:`SessionError` when the ConfigMap cannot be read or written)."""
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
            held = claimed_path(cm)
            if held == path:
                return
            raise NotThisCity(claim_refusal(namespace, configmap, city, held, path))
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
