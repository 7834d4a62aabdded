from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gascity.plugins import PluginContext
from gascity_k8s.provider import K8sProvider
from gascity_k8s.testing import KubeEmulator

ProviderFactory = Callable[..., K8sProvider]


@pytest.fixture(scope="session")
def emulator() -> Iterator[KubeEmulator]:
    with KubeEmulator(probe_period=0.1) as emu:
        yield emu


@pytest.fixture(scope="session")
def kubeconfig(emulator: KubeEmulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return emulator.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config")


@pytest.fixture
def city_dir(tmp_path: Path) -> Path:
    city = tmp_path / "city"
    city.mkdir()
    (city / "city.toml").write_text('[workspace]\nname = "demo"\n')
    (city / "prompts").mkdir()
    (city / "prompts" / "mayor.md").write_text("you are the mayor\n")
    (city / ".gc").mkdir()
    (city / ".gc" / "controller.lock").write_text("runtime state\n")
    (city / ".env").write_text("API_KEY=secret\n")
    return city


@pytest.fixture
def make_provider(kubeconfig: Path, city_dir: Path) -> Iterator[ProviderFactory]:
    made: list[K8sProvider] = []

    def make(
        city: str = "demo",
        namespace: str = "gc",
        env: dict[str, str] | None = None,
        **settings: Any,
    ) -> K8sProvider:
        ctx = PluginContext(
            role="session",
            name="k8s",
            settings={"namespace": namespace, **settings},
            city_name=city,
            city_dir=city_dir,
            env={"KUBECONFIG": str(kubeconfig), "PATH": os.environ["PATH"], **(env or {})},
        )
        provider = K8sProvider(ctx)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.shutdown()
