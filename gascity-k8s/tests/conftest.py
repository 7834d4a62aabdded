from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gascity.config import load_city
from gascity.plugins import PluginContext
from gascity.reconcile import build_desired
from gascity.types import META_FINGERPRINT
from gascity_k8s.podspec import build_pod
from gascity_k8s.provider import K8sProvider
from gascity_k8s.settings import K8sSettings
from gascity_k8s.testing import KubeEmulator

ProviderFactory = Callable[..., K8sProvider]


def running_fleet(emulator: KubeEmulator, city_dir: Path, city: str, count: int) -> None:
    """A city of ``count`` agents in ``city_dir`` whose pods already run with the
    current config (namespace = the city's name): a steady tick has nothing to do."""
    (city_dir / "city.toml").write_text(
        f'[workspace]\nname = "{city}"\n'
        + "".join(f'[[agent]]\nname = "a{i}"\ncommand = "run {i}"\n' for i in range(count))
    )
    settings = K8sSettings(namespace=city, prebaked=True)
    config = load_city(city_dir).config
    desired = build_desired(config, {}, city_name=city, city_dir=city_dir)
    for agent in config.agent:
        emulator.add_running_pod(
            city,
            build_pod(
                city=city,
                name=agent.name,
                command=agent.command,
                work_dir="/workspace",
                settings=settings,
                meta={META_FINGERPRINT: desired[agent.name].fingerprint},
            ),
        )


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


def forget_city_claims(emulator: KubeEmulator) -> None:
    """Each test's city lives in its own temp dir: drop the namespace claims the
    session-wide emulator keeps (``gc-<city>-city``) so the next test may reuse names."""
    for ns, name in list(emulator.configmaps.objects):
        if name.startswith("gc-") and name.endswith("-city"):
            emulator.configmaps.delete(ns, name)


@pytest.fixture
def make_provider(
    kubeconfig: Path, city_dir: Path, emulator: KubeEmulator
) -> Iterator[ProviderFactory]:
    made: list[K8sProvider] = []

    def make(
        city: str = "demo",
        namespace: str = "gc",
        env: dict[str, str] | None = None,
        where: Path | None = None,
        **settings: Any,
    ) -> K8sProvider:
        ctx = PluginContext(
            role="session",
            name="k8s",
            settings={"namespace": namespace, **settings},
            city_name=city,
            city_dir=where or city_dir,
            env={"KUBECONFIG": str(kubeconfig), "PATH": os.environ["PATH"], **(env or {})},
        )
        provider = K8sProvider(ctx)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.shutdown()
    forget_city_claims(emulator)
