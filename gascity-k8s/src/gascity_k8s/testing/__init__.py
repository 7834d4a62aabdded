"""An in-process Kubernetes API emulator (pods, selectors, exec over WebSocket)
for the tests and benchmarks of ``gascity-k8s``, and for anyone testing code that
drives pods with the official client or ``kubectl``."""

from __future__ import annotations

from .emulator import TOKEN, KubeEmulator
from .kubelet import Kubelet
from .rbac import Role
from .replicas import ControllerReplica
from .store import ApiError, PodStore

__all__ = ["TOKEN", "ApiError", "ControllerReplica", "KubeEmulator", "Kubelet", "PodStore", "Role"]
