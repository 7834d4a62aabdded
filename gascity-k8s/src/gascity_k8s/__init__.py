"""Gas City on Kubernetes: the native ``k8s`` session provider, the
``gc-session-k8s`` exec-protocol script, ``gc build-image`` and ``gc k8s manifests``."""

from __future__ import annotations

from gascity._version import __version__ as __version__
