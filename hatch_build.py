"""Hatch metadata hook for the ``gascity`` meta-distribution.

The meta-distribution pins every first-party distribution to exactly its own version,
read from the one version source; writing those pins by hand is how they drift.
"""

from __future__ import annotations

from typing import Any

from hatchling.metadata.plugin.interface import MetadataHookInterface

DEFAULT = ["gascity-core", "gascity-tmux", "gascity-exec", "gascity-dashboard"]
EXTRAS = {
    "k8s": ["gascity-k8s"],
    "dolt": ["gascity-dolt-events"],
    "pgmail": ["gascity-pgmail"],
}


class PinFirstParty(MetadataHookInterface):
    def update(self, metadata: dict[str, Any]) -> None:
        version = metadata["version"]
        metadata["dependencies"] = [f"{name}=={version}" for name in DEFAULT]
        extras = {key: [f"{n}=={version}" for n in names] for key, names in EXTRAS.items()}
        extras["all"] = sorted({pin for pins in extras.values() for pin in pins})
        metadata["optional-dependencies"] = extras
