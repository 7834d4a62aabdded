"""Building the Kubernetes clients: in-cluster config first, else kubeconfig + context."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from gascity.errors import PluginError

from .settings import K8sSettings

__all__ = ["ClientPair", "load_configuration"]


def load_configuration(settings: K8sSettings, env: Mapping[str, str]) -> Any:
    from kubernetes import client, config

    cfg = client.Configuration()
    if env.get("KUBERNETES_SERVICE_HOST") and not settings.kubeconfig:
        try:
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
            return cfg
        except config.ConfigException:
            pass
    path = settings.kubeconfig or env.get("KUBECONFIG") or None
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=path, context=settings.context, client_configuration=cfg
        )
    except (config.ConfigException, OSError, TypeError) as exc:
        # Not a city.toml problem: the machine has no cluster credentials to use.
        raise PluginError(
            f"session.k8s: cannot load a Kubernetes configuration (in-cluster, then "
            f"kubeconfig {path or '~/.kube/config'} "
            f"context {settings.context or '(current)'}): {exc}; point KUBECONFIG or "
            f"[session.k8s] kubeconfig at a kubeconfig file, or run inside a cluster"
        ) from None
    return cfg


class ClientPair:
    """One long-lived API client (pooled keep-alive connections) for REST calls, and a
    separate one for exec streams, whose request function ``stream()`` swaps out."""

    def __init__(self, cfg: Any, pool_size: int = 16) -> None:
        from kubernetes import client

        cfg.connection_pool_maxsize = pool_size
        self.api_client = client.ApiClient(cfg)
        self.core = client.CoreV1Api(self.api_client)
        self.coordination = client.CoordinationV1Api(self.api_client)
        self.exec_client = client.ApiClient(copy.copy(cfg))
        self.exec_core = client.CoreV1Api(self.exec_client)

    def identify(self, identity: str) -> None:
        """Name this replica in the User-Agent, so audit logs tell who wrote."""
        for api_client in (self.api_client, self.exec_client):
            api_client.user_agent = f"gascity-k8s ({identity})"

    def raw(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        """Call without building model objects: a thousand pods decode in
        milliseconds as JSON, in tens of milliseconds as models."""
        response = method(*args, _preload_content=False, **kwargs)
        return json.loads(response.data)

    def close(self) -> None:
        for api_client in (self.api_client, self.exec_client):
            try:
                api_client.close()  # type: ignore[no-untyped-call]
            except Exception:
                pass
