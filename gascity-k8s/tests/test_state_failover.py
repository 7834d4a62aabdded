"""A quarantine, a drain and crash counters made by one leader are what the next
leader acts on: the state lives in the cluster (the ConfigMap), not in the old
leader's ``.gc/``, which the new one never sees (each replica has its own emptyDir)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gascity.controller import Controller
from gascity.plugins import PluginContext
from gascity.testing import MemoryEvents, open_test_city, wait_for
from gascity.types import META_DRAIN
from gascity_k8s.liveness import session_name
from gascity_k8s.naming import meta_annotation, pod_name
from gascity_k8s.provider import K8sProvider
from gascity_k8s.testing import KubeEmulator

NS = CITY = "survive"
FAST = {
    "lease_duration_seconds": 1.5,
    "renew_deadline_seconds": 1.0,
    "retry_period_seconds": 0.2,
    "prebaked": True,
}


def _toml(count_file: Path) -> str:
    return (
        f'[workspace]\nname = "{CITY}"\n'
        # One crash more than max_restarts within the window quarantines the agent.
        '[daemon]\nmax_restarts = 1\nrestart_window = "1h"\n'
        '[[agent]]\nname = "steady"\ncommand = "run steady"\n'
        '[[agent]]\nname = "flaky"\ncommand = "run flaky"\n'
        '[[agent]]\nname = "workers"\ncommand = "run worker"\nmax_active_sessions = 2\n'
        f'scale_check = "cat {count_file}"\ndrain_timeout = "1h"\n'
    )


@pytest.fixture
def emulator() -> Iterator[KubeEmulator]:
    with KubeEmulator(simulate=True) as emu:
        yield emu


def _replica(emulator: KubeEmulator, root: Path, identity: str, toml: str,
             events: MemoryEvents) -> tuple[K8sProvider, Controller]:
    """A controller at ``root/city``, as every replica's pod mounts its city at /city
    (so the sessions' GC_CITY, part of their fingerprint, is the same), over its own
    emptyDir (nothing of .gc/ is shared): ``root/city`` points at it from now on."""
    empty_dir = root / f"emptydir-{identity}"
    empty_dir.mkdir(parents=True)
    (empty_dir / "city.toml").write_text(toml)
    city_dir = root / "city"
    city_dir.unlink(missing_ok=True)
    city_dir.symlink_to(empty_dir)
    ctx = PluginContext(
        role="session", name="k8s",
        settings={"namespace": NS, "identity": identity, "city_path": str(root), **FAST},
        city_name=CITY, city_dir=city_dir,
        env={"KUBECONFIG": str(emulator.write_kubeconfig(root / "kubeconfig"))},
    )
    provider = K8sProvider(ctx)
    return provider, Controller(open_test_city(city_dir, session=provider, events=events))


def _live(emulator: KubeEmulator) -> list[str]:
    return sorted(session_name(p) or "" for p in emulator.pods(NS)
                  if not p["metadata"].get("deletionTimestamp"))


def test_a_new_leader_keeps_the_quarantine_drain_and_crash_counts(
    emulator: KubeEmulator, tmp_path: Path
) -> None:
    count = tmp_path / "workers.count"
    count.write_text("2\n")
    toml = _toml(count)
    first_events, second_events = MemoryEvents(), MemoryEvents()
    first, leader = _replica(emulator, tmp_path, "r0", toml, first_events)
    second: K8sProvider | None = None
    try:
        everyone = ["flaky", "steady", "workers-1", "workers-2"]
        wait_for(lambda: leader.tick().follower is None and _live(emulator) == everyone,
                 timeout=20)
        # flaky crashes twice: quarantined, and not started again.
        for _ in range(2):
            emulator.store.delete(NS, pod_name(CITY, "flaky"), 0)
            wait_for(lambda: leader.tick() and (
                "flaky" in leader.state.quarantined or "flaky" in _live(emulator)), timeout=20)
        assert "flaky" in leader.state.quarantined
        # The pool shrinks: workers-2 drains (for up to an hour), still running.
        count.write_text("1\n")
        wait_for(lambda: leader.tick() and "workers-2" in leader.state.drains, timeout=20)
        drain = leader.state.drains["workers-2"]
        crashes = dict(leader.state.crashes)
        assert crashes.get("flaky")
        assert _live(emulator) == ["steady", "workers-1", "workers-2"]
        # The leader freezes (its renewals stop, as under SIGSTOP); r1 takes over.
        assert first.coord is not None
        first.coord.elector._stop.set()
        second, follower = _replica(emulator, tmp_path, "r1", toml, second_events)
        assert follower.tick().follower == "r0"
        wait_for(lambda: follower.tick().follower is None, timeout=10)
        for _ in range(3):
            report = follower.tick()
            assert report.aborted is None
        # It resumed from the cluster, and acts on it: flaky stays down, the drain goes
        # on from when it began (no second drain event), the counters are the same.
        assert follower.state.quarantined == leader.state.quarantined
        assert follower.state.drains["workers-2"] == drain
        assert follower.state.crashes == crashes
        assert _live(emulator) == ["steady", "workers-1", "workers-2"]
        types = [e.type for e in second_events.events]
        assert "session.woke" not in types and "session.draining" not in types, types
        pod = emulator.store.get(NS, pod_name(CITY, "workers-2"))
        assert pod["metadata"]["annotations"][meta_annotation(META_DRAIN)] == drain.reason
    finally:
        first.shutdown()
        if second is not None:
            second.shutdown()
