"""A whole reconcile tick through the controller against the API emulator."""

from __future__ import annotations

import pytest

from gascity.controller import Controller
from gascity.testing import HookCallCounter, MemoryEvents, open_test_city
from gascity_k8s.testing import KubeEmulator

from .conftest import ProviderFactory, running_fleet


@pytest.mark.parametrize("count", [100, 1000])
def test_steady_tick_without_the_cache_is_one_api_request(
    count: int,
    make_provider: ProviderFactory,
    emulator: KubeEmulator,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    city, ns = f"tick{count}", f"tick{count}"
    city_dir = tmp_path_factory.mktemp(city)
    running_fleet(emulator, city_dir, city, count)
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
