"""``gc k8s manifests``: the whole deployment as Kubernetes objects.

Least privilege: the controller's Role covers pods, ``pods/exec`` and ``pods/log``,
Leases and ConfigMaps (its Lease, its state and namespace-claim ConfigMaps: not by
name, since create cannot be limited by name and the city's name is the user's) in
its own namespace and nothing else; agent pods
get a ServiceAccount with no Role and no mounted token. Secrets are referenced,
never generated.

The controller runs as two replicas that elect a leader on a Lease (only the leader
reconciles); a PodDisruptionBudget keeps one through voluntary disruptions and
the probes ask the controller's ``[api]`` server.
"""

from __future__ import annotations

from typing import Any

from .naming import city_object

__all__ = ["API_PORT", "DEFAULT_IMAGE", "EXAMPLE_CITY", "render"]

API_PORT = 9443

DEFAULT_IMAGE = "ghcr.io/gastownhall/gascity-agent:latest"
Obj = dict[str, Any]

EXAMPLE_CITY = """\
# city.toml for a Gas City controller running in Kubernetes.
[workspace]
name = "{namespace}"

[daemon]
# A steady tick reads the watch-fed pod cache (no API request), but each tick also
# runs every pool's scale_check. Guidance: 30s for 50+ agents; 60s past 100 agents.
patrol_interval = "30s"
start_concurrency = 8

[api]
# /healthz and /readyz for the kubelet's probes (and /metrics); read-only off loopback.
port = {api_port}
bind = "0.0.0.0"

[session]
provider = "k8s"
startup_timeout = "120s"

[session.k8s]
namespace = "{namespace}"
image = "{image}"
service_account = "gc-agent"
# After `gc build-image --tag <image> --push`, bake the city in and skip staging:
prebaked = false
# Two controller replicas elect a leader on a Lease (client-go's timings):
leader_election = true
lease_duration_seconds = 15
renew_deadline_seconds = 10
retry_period_seconds = 2

[events]
provider = "dolt"

[events.dolt]
host = "dolt.{namespace}.svc"
port = 3307
password_env = "GC_DOLT_PASSWORD"

[mail]
provider = "postgres"

[mail.postgres]
dsn_env = "GC_MAIL_DSN"

[[agent]]
name = "mayor"
command = "claude"
"""



def _data_volume(size: str) -> dict[str, Any]:
    """The ``data`` volume claim template of a database StatefulSet."""
    return {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    }

def _meta(name: str, namespace: str, app: str | None = None) -> Obj:
    meta: Obj = {"name": name, "namespace": namespace}
    if app:
        meta["labels"] = {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "gascity"}
    return meta


def _resources(cpu_req: str, mem_req: str, cpu_lim: str, mem_lim: str) -> Obj:
    return {
        "requests": {"cpu": cpu_req, "memory": mem_req},
        "limits": {"cpu": cpu_lim, "memory": mem_lim},
    }


def _tcp_probes(port: int) -> Obj:
    return {
        "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 5, "failureThreshold": 6},
        "livenessProbe": {
            "tcpSocket": {"port": port},
            "initialDelaySeconds": 20,
            "periodSeconds": 10,
        },
    }


def _secret_env(name: str, secret: str, key: str) -> Obj:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _rbac(ns: str) -> list[Obj]:
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta("gc-controller", ns, "gc-controller"),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _meta("gc-controller", ns, "gc-controller"),
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["pods"],
                    "verbs": ["get", "list", "watch", "create", "delete", "patch", "update"],
                },
                {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
                {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
                # Leader election: the Lease is created by the first replica.
                {
                    "apiGroups": ["coordination.k8s.io"],
                    "resources": ["leases"],
                    "verbs": ["get", "create", "update"],
                },
                # The controller state survives failover in this ConfigMap.
                {
                    "apiGroups": [""],
                    "resources": ["configmaps"],
                    "verbs": ["get", "create", "update"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _meta("gc-controller", ns, "gc-controller"),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "gc-controller",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "gc-controller", "namespace": ns}],
        },
        # Agents read their own pod through the downward API; they need no API token.
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta("gc-agent", ns, "gc-agent"),
            "automountServiceAccountToken": False,
        },
    ]


def _probe(path: str, period: int, failures: int, delay: int = 0) -> Obj:
    probe: Obj = {
        "httpGet": {"path": path, "port": "api"},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": 3,
    }
    if delay:
        probe["initialDelaySeconds"] = delay
    return probe


def _controller(ns: str, image: str) -> list[Obj]:
    labels = {"app.kubernetes.io/name": "gc-controller"}
    env = [
        {"name": "GC_SESSION", "value": "k8s"},
        {"name": "GC_K8S_NAMESPACE", "value": ns},
        # The downward API names this replica in the election.
        {"name": "GC_K8S_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "GC_CITY_DIR", "value": "/city"},
        _secret_env("GC_DOLT_PASSWORD", "gc-dolt", "password"),
        _secret_env("GC_MAIL_DSN", "gc-postgres", "dsn"),
    ]
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("gc-city", ns, "gc-controller"),
            "data": {
                "city.toml": EXAMPLE_CITY.format(namespace=ns, image=image, api_port=API_PORT)
            },
        },
        # The controller state (crash counters, quarantines, drains). No ``data`` here,
        # so re-applying the manifests never wipes what the leader wrote.
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta(city_object(ns, "state"), ns, "gc-controller"),
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": _meta("gc-controller", ns, "gc-controller"),
            "spec": {"minAvailable": 1, "selector": {"matchLabels": labels}},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta("gc-controller", ns, "gc-controller"),
            "spec": {
                "replicas": 2,
                # The Lease keeps one leader, so a rollout may overlap the replicas.
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
                },
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "gc-controller",
                        "terminationGracePeriodSeconds": 30,
                        # Not both replicas on one node: a node drain leaves one running.
                        "affinity": {
                            "podAntiAffinity": {
                                "preferredDuringSchedulingIgnoredDuringExecution": [
                                    {
                                        "weight": 100,
                                        "podAffinityTerm": {
                                            "labelSelector": {"matchLabels": labels},
                                            "topologyKey": "kubernetes.io/hostname",
                                        },
                                    }
                                ]
                            }
                        },
                        "containers": [
                            {
                                "name": "controller",
                                "image": image,
                                "command": ["gc", "start", "--foreground"],
                                "workingDir": "/city",
                                "env": env,
                                "ports": [{"name": "api", "containerPort": API_PORT}],
                                # /healthz: the process serves; /readyz: a leader whose
                                # ticks succeed, or a follower waiting its turn.
                                "livenessProbe": _probe("/healthz", 10, 3, delay=20),
                                "readinessProbe": _probe("/readyz", 5, 3),
                                "resources": _resources("100m", "256Mi", "500m", "512Mi"),
                                "volumeMounts": [
                                    {"name": "city", "mountPath": "/city"},
                                    {
                                        "name": "city-toml",
                                        "mountPath": "/city/city.toml",
                                        "subPath": "city.toml",
                                    },
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "city", "emptyDir": {}},
                            {"name": "city-toml", "configMap": {"name": "gc-city"}},
                        ],
                    },
                },
            },
        },
    ]


def _dolt(ns: str) -> list[Obj]:
    labels = {"app.kubernetes.io/name": "dolt"}
    config = "log_level: info\nlistener:\n  host: 0.0.0.0\n  port: 3307\n  max_connections: 500\n"
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("dolt-config", ns, "dolt"),
            "data": {"config.yaml": config},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": _meta("dolt", ns, "dolt"),
            "spec": {
                "serviceName": "dolt",
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "dolt",
                                "image": "dolthub/dolt-sql-server:latest",
                                "args": ["--config", "/etc/dolt/config.yaml"],
                                "ports": [{"name": "mysql", "containerPort": 3307}],
                                "env": [_secret_env("DOLT_ROOT_PASSWORD", "gc-dolt", "password")],
                                "resources": _resources("500m", "1Gi", "2", "4Gi"),
                                "volumeMounts": [
                                    {"name": "data", "mountPath": "/var/lib/dolt"},
                                    {"name": "config", "mountPath": "/etc/dolt"},
                                ],
                                **_tcp_probes(3307),
                            }
                        ],
                        "volumes": [{"name": "config", "configMap": {"name": "dolt-config"}}],
                    },
                },
                "volumeClaimTemplates": [_data_volume("20Gi")],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta("dolt", ns, "dolt"),
            "spec": {
                "selector": labels,
                "ports": [{"name": "mysql", "port": 3307, "targetPort": 3307}],
            },
        },
    ]


def _postgres(ns: str) -> list[Obj]:
    labels = {"app.kubernetes.io/name": "gc-postgres"}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": _meta("gc-postgres", ns, "gc-postgres"),
            "spec": {
                "serviceName": "gc-postgres",
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "postgres",
                                "image": "postgres:16",
                                "args": ["-c", "max_connections=300"],
                                "ports": [{"name": "postgres", "containerPort": 5432}],
                                "env": [
                                    {"name": "POSTGRES_DB", "value": "gascity"},
                                    {"name": "POSTGRES_USER", "value": "gascity"},
                                    _secret_env("POSTGRES_PASSWORD", "gc-postgres", "password"),
                                    {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
                                ],
                                "resources": _resources("250m", "512Mi", "1", "2Gi"),
                                "volumeMounts": [
                                    {"name": "data", "mountPath": "/var/lib/postgresql/data"}
                                ],
                                **_tcp_probes(5432),
                            }
                        ]
                    },
                },
                "volumeClaimTemplates": [_data_volume("10Gi")],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta("gc-postgres", ns, "gc-postgres"),
            "spec": {
                "selector": labels,
                "ports": [{"name": "postgres", "port": 5432, "targetPort": 5432}],
            },
        },
    ]


def _prune(ns: str, image: str) -> Obj:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _meta("gc-events-prune", ns, "gc-events-prune"),
        "spec": {
            "schedule": "0 */6 * * *",
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 2,
                    "template": {
                        "spec": {
                            "restartPolicy": "OnFailure",
                            "automountServiceAccountToken": False,
                            "containers": [
                                {
                                    "name": "prune",
                                    "image": image,
                                    "command": ["gc", "events", "prune", "--older-than", "24h"],
                                    "workingDir": "/city",
                                    "env": [
                                        {"name": "GC_CITY_DIR", "value": "/city"},
                                        _secret_env("GC_DOLT_PASSWORD", "gc-dolt", "password"),
                                    ],
                                    "resources": _resources("50m", "64Mi", "200m", "256Mi"),
                                    "volumeMounts": [
                                        {
                                            "name": "city-toml",
                                            "mountPath": "/city/city.toml",
                                            "subPath": "city.toml",
                                        }
                                    ],
                                }
                            ],
                            "volumes": [{"name": "city-toml", "configMap": {"name": "gc-city"}}],
                        }
                    },
                }
            },
        },
    }


def render(namespace: str = "gc", image: str = DEFAULT_IMAGE) -> list[Obj]:
    """Every object of the deployment, in apply order."""
    ns = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": {"app.kubernetes.io/part-of": "gascity"}},
    }
    return [
        ns,
        *_rbac(namespace),
        *_controller(namespace, image),
        *_dolt(namespace),
        *_postgres(namespace),
        _prune(namespace, image),
    ]
