"""``[session.k8s]``: validated with pydantic, every key overridable by ``GC_K8S_<KEY>``."""

from __future__ import annotations

import re
from typing import Literal

import pydantic

__all__ = ["K8sSettings"]

_CPU = re.compile(r"^(\d+(\.\d+)?|\.\d+)m?$")
_MEM = re.compile(r"^(\d+(\.\d+)?|\.\d+)([eE]\d+|Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")


def _quantity(value: str, pattern: re.Pattern[str], what: str) -> str:
    value = str(value).strip()
    if not pattern.match(value):
        raise ValueError(
            f"{value!r} is not a Kubernetes {what} quantity "
            f"(e.g. {'500m or 2' if what == 'CPU' else '512Mi or 4Gi'})"
        )
    return value


class K8sSettings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    namespace: str = pydantic.Field("gc", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    image: str = "ghcr.io/gastownhall/gascity-agent:latest"
    context: str | None = None
    """kubeconfig context; unset = the current context."""
    kubeconfig: str | None = None
    """kubeconfig file; unset = ``$KUBECONFIG`` or ``~/.kube/config``."""
    cpu_request: str = "500m"
    mem_request: str = "1Gi"
    cpu_limit: str = "2"
    mem_limit: str = "4Gi"
    service_account: str = ""
    prebaked: bool = False
    """The image already holds the city (``gc build-image``): no init container, no staging."""
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    stop_grace_seconds: int = pydantic.Field(5, ge=0, le=3600)
    """Grace period when deleting a session's pod."""
    readiness_period_seconds: int = pydantic.Field(5, ge=1, le=300)
    """How often the kubelet checks that the agent's tmux pane is still alive."""
    watch_cache: bool = True
    """The controller keeps a watch-fed pod cache: a steady tick makes no API request."""
    resync_seconds: float = pydantic.Field(300.0, ge=1.0, le=86400.0)
    """How often the pod cache relists in full, whatever its watch says."""
    leader_election: bool = True
    """Controllers of this city elect a leader on a Lease; only it reconciles, and the
    controller state lives in a ConfigMap. Off: one controller, state in ``.gc/``."""
    lease_duration_seconds: float = pydantic.Field(15.0, gt=0, le=3600)
    """How long a follower waits, after the lease last changed, before taking over."""
    renew_deadline_seconds: float = pydantic.Field(10.0, gt=0, le=3600)
    """How long the leader may act after its last successful renewal."""
    retry_period_seconds: float = pydantic.Field(2.0, gt=0, le=600)
    """How often each replica tries to acquire or renew the lease."""
    city_path: str = ""
    """The path this city is known by in its namespace (unset = the city directory's real
    path). A second city of the same name at another path is refused; set the same value
    wherever one city is driven from two checkouts (a laptop and the controller's pod)."""
    identity: str = pydantic.Field("", pattern=r"^([A-Za-z0-9][A-Za-z0-9._-]{0,252})?$")
    """This replica's name in the election; unset = the pod name (``GC_K8S_POD_NAME``
    from the downward API, else the host name) plus a random suffix."""

    @pydantic.model_validator(mode="after")
    def _election_timing(self) -> K8sSettings:
        if not self.lease_duration_seconds > self.renew_deadline_seconds:
            raise ValueError(
                f"lease_duration_seconds ({self.lease_duration_seconds:g}) must be greater "
                f"than renew_deadline_seconds ({self.renew_deadline_seconds:g})"
            )
        if not self.renew_deadline_seconds > self.retry_period_seconds:
            raise ValueError(
                f"renew_deadline_seconds ({self.renew_deadline_seconds:g}) must be greater "
                f"than retry_period_seconds ({self.retry_period_seconds:g})"
            )
        return self

    @pydantic.field_validator("cpu_request", "cpu_limit")
    @classmethod
    def _cpu(cls, value: str) -> str:
        return _quantity(value, _CPU, "CPU")

    @pydantic.field_validator("mem_request", "mem_limit")
    @classmethod
    def _mem(cls, value: str) -> str:
        return _quantity(value, _MEM, "memory")
