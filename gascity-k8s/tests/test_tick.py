"""A whole reconcile tick through the controller against the API emulator."""

from __future__ import annotations

import pytest

from gascity.config import load_city
from gascity.controller import Controller
from gascity.reconcile import fingerprint
from gascity.testing import HookCallCounter, MemoryEvents, open_test_city
from gascity.types import META_FINGERPRINT
from gascity_k8s.podspec import build_pod
from gascity_k8s.settings import K8sSettings
from gascity_k8s.testing import KubeEmulator

from .conftest import ProviderFactory


@pytest.mark.parametrize("count", [100, 1000])
def test_steady_tick_without_the_cache_is_one_api_request(
    count: int,
    make_provider: ProviderFactory,
    emulator: KubeEmulator,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    city, ns = f"tick{count}", f"tick{count}"
    city_dir = tmp_path_factory.mktemp(city)
    (city_dir / "city.toml").write_text(
        f'[workspace]\nname = "{city}"\n'
        + "".join(f'[[agent]]\nname = "a{i}"\ncommand = "run {i}"\n' for i in range(count))
    )
    config = load_city(city_dir).config
    settings = K8sSettings(namespace=ns, prebaked=True)
    for agent in config.agent:  # a fleet already running with the current config
        emulator.add_running_pod(
            ns,
            build_pod(
                city=city,
                name=agent.name,
                command=agent.command,
                work_dir="/workspace",
                settings=settings,
                meta={META_FINGERPRINT: fingerprint(agent)},
            ),
        )
    # The baseline without the watch cache or the election: one list per tick.
    provider = make_provider(
        city=city, namespace=ns, prebaked=True, watch_cache=False, leader_election=False
    )
    counter = HookCallCounter()
    controller = Controller(
        open_test_city(city_dir, session=provider, events=MemoryEvents(), observers=[counter])
    )
    provider.list_running("")  # warm the connection pool
    emulator.reset_counts()
    report = controller.tick()
    assert report.running == count
    assert (report.started, report.stopped, report.drained) == ([], [], [])
    assert counter.session_calls == 1
    assert emulator.requests == {"GET pods": 1}
