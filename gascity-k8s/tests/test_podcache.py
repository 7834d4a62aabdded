"""The watch-fed pod cache: steady ticks cost no request, and no change is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from gascity.controller import Controller
from gascity.plugins import PluginContext
from gascity.testing import MemoryEvents, open_test_city, wait_for
from gascity.types import RunningSession
from gascity_k8s.naming import city_selector, pod_name
from gascity_k8s.podcache import PodCache
from gascity_k8s.podspec import build_pod
from gascity_k8s.provider import K8sProvider
from gascity_k8s.settings import K8sSettings
from gascity_k8s.testing import KubeEmulator

from .conftest import ProviderFactory, running_fleet


def _fleet(emulator: KubeEmulator, city: str, ns: str, names: list[str]) -> None:
    settings = K8sSettings(namespace=ns, prebaked=True)
    for name in names:
        emulator.add_running_pod(
            ns,
            build_pod(
                city=city, name=name, command=f"run {name}", work_dir="/w", settings=settings
            ),
        )


def _key(records: list[RunningSession]) -> list[tuple[str, str, object]]:
    return sorted((r.name, r.liveness.value, sorted((r.meta or {}).items())) for r in records)


def _same_as_fresh(cached: K8sProvider, fresh: K8sProvider) -> bool:
    assert cached.cache is not None and cached.cache.synced
    return _key(cached.list_running("")) == _key(fresh.list_running(""))


def test_steady_tick_makes_no_api_request(
    make_provider: ProviderFactory, emulator: KubeEmulator, tmp_path: Path
) -> None:
    city, ns, count = "cached", "cached", 50
    city_dir = tmp_path / city
    city_dir.mkdir()
    running_fleet(emulator, city_dir, city, count)
    provider = make_provider(city=city, namespace=ns, prebaked=True)
    controller = Controller(open_test_city(city_dir, session=provider, events=MemoryEvents()))
    wait_for(lambda: controller.tick().follower is None, timeout=10)  # elected, state saved
    assert provider.cache is not None and provider.cache.synced
    wait_for(lambda: provider.cache is not None and provider.cache.watching, timeout=5)
    emulator.reset_counts()
    for _ in range(3):
        report = controller.tick()
        assert report.running == count
        assert (report.started, report.stopped, report.drained) == ([], [], [])
    # Lease renewals and watch bookmarks come by the clock, not per tick.
    per_tick = {k: n for k, n in emulator.requests.items() if not k.endswith("lease")}
    assert per_tick == {}
    background = ("lease", "bookmark")
    assert sum(n for k, n in emulator.bytes.items() if not k.endswith(background)) == 0


def test_cache_answers_as_a_fresh_list_through_changes(
    make_provider: ProviderFactory, emulator: KubeEmulator
) -> None:
    ns = "cache-same"
    _fleet(emulator, "demo", ns, ["a", "b", "c"])
    cached = make_provider(namespace=ns, prebaked=True)
    fresh = make_provider(namespace=ns, prebaked=True)
    cache = cached.start_cache()
    assert _same_as_fresh(cached, fresh)
    _fleet(emulator, "demo", ns, ["d"])
    cached.set_meta("a", "note", "hello")
    emulator.store.delete(ns, pod_name("demo", "b"), 0)
    emulator.store.delete(ns, pod_name("demo", "c"), 30)  # terminating, then gone
    wait_for(lambda: _same_as_fresh(cached, fresh), timeout=5)
    names = {r.name for r in cached.list_running("")}
    assert {"a", "d"} <= names and "b" not in names
    assert cached.get_meta("a", "note") == "hello"
    assert cache.relists == 1


def test_a_pod_relabelled_out_of_the_city_leaves_the_cache(
    make_provider: ProviderFactory, emulator: KubeEmulator
) -> None:
    ns = "cache-relabel"
    _fleet(emulator, "demo", ns, ["a", "b"])
    cached = make_provider(namespace=ns, prebaked=True)
    fresh = make_provider(namespace=ns, prebaked=True)
    cache = cached.start_cache()
    wait_for(lambda: cache.watching, timeout=5)
    # Someone takes the pod out of the city (kubectl label): no longer ours to list.
    emulator.store.patch(ns, pod_name("demo", "b"), {"metadata": {"labels": {"gc-city": "x"}}},
                         "application/merge-patch+json")
    wait_for(lambda: {r.name for r in cached.list_running("")} == {"a"}, timeout=5)
    assert _same_as_fresh(cached, fresh)
    assert cache.relists == 1


@pytest.mark.parametrize("fault", ["cut mid-stream", "410 Gone"])
def test_broken_watch_recovers_with_one_relist_and_loses_nothing(
    fault: str, make_provider: ProviderFactory, emulator: KubeEmulator
) -> None:
    ns = "cache-" + fault.split(maxsplit=1)[0].lower()
    _fleet(emulator, "demo", ns, ["a", "b"])
    cached = make_provider(namespace=ns, prebaked=True)
    fresh = make_provider(namespace=ns, prebaked=True)
    cache = cached.start_cache()
    wait_for(lambda: cache.watching, timeout=5)
    ended = emulator.break_watches() if fault == "cut mid-stream" else emulator.expire_watches()
    assert ended >= 1
    # Changes while the cache is reconnecting must not be lost.
    _fleet(emulator, "demo", ns, ["c"])
    emulator.store.delete(ns, pod_name("demo", "a"), 0)
    wait_for(lambda: cache.relists == 2 and cache.synced, timeout=10)
    wait_for(lambda: _same_as_fresh(cached, fresh), timeout=5)
    assert {r.name for r in cached.list_running("")} == {"b", "c"}
    # And the new watch follows changes again without another relist.
    _fleet(emulator, "demo", ns, ["d"])
    wait_for(lambda: "d" in {r.name for r in cached.list_running("")}, timeout=5)
    assert cache.relists == 2


def test_watch_ended_by_the_server_resumes_without_a_relist(
    make_provider: ProviderFactory, emulator: KubeEmulator
) -> None:
    ns = "cache-timeout"
    _fleet(emulator, "demo", ns, ["a"])
    provider = make_provider(namespace=ns, prebaked=True)
    # Each watch asks the server to end it after about a second.
    cache = PodCache(provider.clients, ns, city_selector("demo"), watch_seconds=1.0).start()
    try:
        wait_for(lambda: cache.watches >= 3, timeout=15)
        _fleet(emulator, "demo", ns, ["b"])
        wait_for(lambda: {p["metadata"]["name"] for p in cache.snapshot() or []} == {
            pod_name("demo", "a"), pod_name("demo", "b")}, timeout=5)
    finally:
        cache.stop()
    assert cache.relists == 1


def test_cache_between_a_cut_and_its_relist_lists_directly(
    make_provider: ProviderFactory, emulator: KubeEmulator
) -> None:
    ns = "cache-fallback"
    _fleet(emulator, "demo", ns, ["a"])
    provider = make_provider(namespace=ns, prebaked=True)
    cache = provider.start_cache()
    cache.retry = 3.0  # a slow reconnect, as during an API server outage
    wait_for(lambda: cache.watching, timeout=5)
    emulator.break_watches()
    wait_for(lambda: not cache.synced, timeout=5)
    emulator.reset_counts()
    _fleet(emulator, "demo", ns, ["b"])
    assert {r.name for r in provider.list_running("")} == {"a", "b"}
    assert emulator.requests["GET pods"] == 1


def test_periodic_resync_relists(make_provider: ProviderFactory, emulator: KubeEmulator) -> None:
    ns = "cache-resync"
    _fleet(emulator, "demo", ns, ["a"])
    provider = make_provider(namespace=ns, prebaked=True)
    cache = PodCache(provider.clients, ns, city_selector("demo"), resync=1.0).start()
    try:
        wait_for(lambda: cache.relists >= 3, timeout=10)
        assert cache.synced
        assert [p["metadata"]["name"] for p in cache.snapshot() or []] == [pod_name("demo", "a")]
    finally:
        cache.stop()


def test_bookmarks_carry_the_watch_past_a_compaction_without_a_relist(tmp_path: Path) -> None:
    """Writes elsewhere move the revision while the city's pods stay still; the
    bookmarks keep the cache's resourceVersion current, so once the history is
    compacted its next watch resumes instead of getting 410 Gone and relisting."""
    with KubeEmulator(simulate=True, bookmark_interval=0.2) as own:
        _fleet(own, "demo", "marks", ["a"])
        ctx = PluginContext(
            role="session", name="k8s", settings={"namespace": "marks", "prebaked": True},
            city_name="demo", city_dir=tmp_path,
            env={"KUBECONFIG": str(own.write_kubeconfig(tmp_path / "kubeconfig"))},
        )
        provider = K8sProvider(ctx)
        cache = PodCache(provider.clients, "marks", city_selector("demo"), watch_seconds=2.0)
        cache.start()
        try:
            wait_for(lambda: cache.watching, timeout=5)
            listed = int(cache.resource_version)
            _fleet(own, "other", "elsewhere", ["x", "y"])  # the revision moves on
            wait_for(lambda: int(cache.resource_version) > listed, timeout=5)  # a bookmark
            own.compact()  # everything up to now is gone from the watch history
            watches = cache.watches
            wait_for(lambda: cache.watches > watches and cache.watching, timeout=10)
            _fleet(own, "demo", "marks", ["b"])
            wait_for(lambda: len(cache.snapshot() or []) == 2, timeout=5)
        finally:
            cache.stop()
            provider.shutdown()
        assert cache.relists == 1
