"""``gc doctor``'s questions to the cluster: can we load credentials, reach the API,
use the namespace, and is the city's name there ours.

Each call has a short timeout and no retry, so a black-holed API server costs
seconds, not minutes. Lines name files, hosts, namespaces and objects, never a token
or a client key (the kubeconfig loader's own errors carry neither).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gascity.errors import PluginError
from gascity.types import DoctorCheck

from .claim import claim_refusal, claimed_path
from .client import ClientPair, load_configuration
from .naming import city_object
from .settings import K8sSettings

__all__ = ["TIMEOUT", "k8s_checks"]

TIMEOUT = 5.0
"""Seconds each API call of ``gc doctor`` may take."""

AREA = "k8s"
OK, WARN, FAIL = "ok", "warn", "fail"


def _why(exc: BaseException) -> str:
    """One line for an API failure: the HTTP status and reason, or the transport error."""
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        return f"HTTP {exc.status} {exc.reason}"
    reason = getattr(exc, "reason", None)  # urllib3's MaxRetryError wraps the cause
    text = str(reason or exc).splitlines() or [type(exc).__name__]
    return text[0]


def _status(exc: BaseException) -> int | None:
    from kubernetes.client.exceptions import ApiException

    return exc.status if isinstance(exc, ApiException) else None


def _where(settings: K8sSettings, env: Mapping[str, str]) -> str:
    if env.get("KUBERNETES_SERVICE_HOST") and not settings.kubeconfig:
        return "in-cluster service account (else kubeconfig)"
    path = settings.kubeconfig or env.get("KUBECONFIG") or "~/.kube/config"
    return f"kubeconfig {path}, context {settings.context or '(current)'}"


def k8s_checks(settings: K8sSettings, env: Mapping[str, str], city: str,
               city_path: str) -> list[DoctorCheck]:
    """The k8s provider's doctor lines; stops at the first check the rest depend on."""
    try:
        cfg = load_configuration(settings, env)
    except PluginError as exc:
        # The loader's message ends with the remedy, which is the hint here.
        why = str(exc).removeprefix("session.k8s: ").partition("; point ")[0]
        return [DoctorCheck(FAIL, AREA, f"no cluster credentials: {why}".splitlines()[0],
                            "point KUBECONFIG or [session.k8s] kubeconfig at a kubeconfig "
                            "file, or run inside a cluster")]
    cfg.retries = 0  # one attempt per call: the timeout is the bound
    checks = [DoctorCheck(OK, AREA, f"{_where(settings, env)}: loaded (API server {cfg.host})")]
    clients = ClientPair(cfg, pool_size=2)
    try:
        return checks + _cluster(clients, settings, city, city_path, cfg.host)
    finally:
        clients.close()


def _cluster(clients: ClientPair, settings: K8sSettings, city: str, city_path: str,
             host: str) -> list[DoctorCheck]:
    from kubernetes import client

    ns = settings.namespace
    try:
        version: dict[str, Any] = clients.raw(client.VersionApi(clients.api_client).get_code,
                                              _request_timeout=TIMEOUT)
    except Exception as exc:
        status = _status(exc)
        if status in (401, 403):
            what, hint = "credentials refused", "renew the kubeconfig's credentials"
        elif status is not None:
            what, hint = "answered an error", "is the kubeconfig's server a Kubernetes API?"
        else:
            what = f"unreachable within {TIMEOUT:g}s"
            hint = "check the cluster runs and the kubeconfig's server address"
        return [DoctorCheck(FAIL, AREA, f"API server {host}: {what} ({_why(exc)})", hint)]
    checks = [DoctorCheck(OK, AREA, f"API server {host}: reachable "
                                    f"(Kubernetes {version.get('gitVersion', '?')})")]
    try:
        clients.raw(clients.core.read_namespace, ns, _request_timeout=TIMEOUT)
    except Exception as exc:
        if _status(exc) == 404:
            return [*checks, DoctorCheck(FAIL, AREA, f"namespace {ns!r} does not exist",
                                         f"kubectl create namespace {ns} (or gc k8s "
                                         "manifests | kubectl apply -f -)")]
        # Reading a namespace is cluster-scoped: a namespaced Role cannot grant it.
        checks.append(DoctorCheck(WARN, AREA, f"namespace {ns!r}: cannot read it "
                                              f"({_why(exc)})",
                                  "harmless if the checks below pass"))
    else:
        checks.append(DoctorCheck(OK, AREA, f"namespace {ns!r}: exists"))
    core, coordination = clients.core, clients.coordination
    lists: list[tuple[str, Callable[..., Any], bool]] = [
        ("pods", core.list_namespaced_pod, True),
        ("configmaps", core.list_namespaced_config_map, True),
        ("leases", coordination.list_namespaced_lease, settings.leader_election),
    ]
    for resource, method, needed in lists:
        try:
            clients.raw(method, ns, limit=1, _request_timeout=TIMEOUT)
        except Exception as exc:
            level = FAIL if needed else WARN
            checks.append(DoctorCheck(
                level, AREA, f"{resource} in {ns!r}: cannot list ({_why(exc)})",
                f"grant this identity get/list/watch/create/update/patch/delete on "
                f"{resource} in {ns} (gc k8s manifests writes such a Role)"
                + ("" if needed else "; needed only with leader_election")))
        else:
            checks.append(DoctorCheck(OK, AREA, f"{resource} in {ns!r}: listable"))
    checks.append(_claim(clients, ns, city, city_path))
    return checks


def _claim(clients: ClientPair, ns: str, city: str, city_path: str) -> DoctorCheck:
    configmap = city_object(city, "city")
    try:
        cm: dict[str, Any] = clients.raw(clients.core.read_namespaced_config_map, configmap,
                                         ns, _request_timeout=TIMEOUT)
    except Exception as exc:
        if _status(exc) == 404:
            return DoctorCheck(OK, AREA, f"city name {city!r} in {ns!r}: unclaimed (the first "
                                         f"start records {city_path})")
        return DoctorCheck(WARN, AREA, f"city name {city!r} in {ns!r}: cannot read ConfigMap "
                                       f"{configmap} ({_why(exc)})",
                           "grant get on configmaps in the namespace")
    held = claimed_path(cm)
    if held == city_path:
        return DoctorCheck(OK, AREA, f"city name {city!r} in {ns!r}: this city's ({held})")
    return DoctorCheck(FAIL, AREA, f"city name {city!r} in {ns!r}: claimed by {held or '?'}",
                       claim_refusal(ns, configmap, city, held, city_path))
