"""Lease leader election: one leader, fencing of a stale one, release, state handover."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gascity.controller import Controller
from gascity.errors import NotLeader
from gascity.plugins import PluginContext
from gascity.testing import MemoryEvents, open_test_city, wait_for
from gascity.types import StartConfig
from gascity_k8s.coordination import K8sCoordination
from gascity_k8s.provider import K8sProvider
from gascity_k8s.settings import K8sSettings
from gascity_k8s.testing import KubeEmulator

from .conftest import ProviderFactory

FAST = {
    "lease_duration_seconds": 1.5,
    "renew_deadline_seconds": 1.0,
    "retry_period_seconds": 0.2,
    "prebaked": True,
}


def test_client_go_defaults_and_their_order() -> None:
    settings = K8sSettings()
    assert (
        settings.lease_duration_seconds,
        settings.renew_deadline_seconds,
        settings.retry_period_seconds,
    ) == (15.0, 10.0, 2.0)
    with pytest.raises(ValueError, match=r"lease_duration_seconds .* greater"):
        K8sSettings(lease_duration_seconds=5, renew_deadline_seconds=10)
    with pytest.raises(ValueError, match=r"renew_deadline_seconds .* greater"):
        K8sSettings(renew_deadline_seconds=2, retry_period_seconds=2)


def _electors(make_provider: ProviderFactory, ns: str) -> list[K8sCoordination]:
    coords = []
    for i in range(2):
        provider = make_provider(namespace=ns, identity=f"replica-{i}", **FAST)
        coord = provider.coordination()
        assert coord is not None
        coords.append(coord)
    return coords


def test_exactly_one_leader_and_release_hands_over(
    make_provider: ProviderFactory, emulator: KubeEmulator
) -> None:
    ns = "lease-one"
    a, b = _electors(make_provider, ns)
    wait_for(lambda: a.may_act() or b.may_act(), timeout=5)
    time.sleep(0.6)  # several retry periods: the other must still be following
    assert a.may_act() != b.may_act()
    leader, follower = (a, b) if a.may_act() else (b, a)
    assert follower.holder() == leader.identity
    lease = emulator.leases.get(ns, leader.elector.name)
    assert lease["spec"]["holderIdentity"] == leader.identity
    assert lease["spec"]["leaseDurationSeconds"] == 2  # 1.5 s rounded up, never down
    begun = time.monotonic()
    leader.release()
    wait_for(follower.may_act, timeout=3)
    # A released lease is taken at the next retry, not after the lease duration.
    assert time.monotonic() - begun < 1.0
    assert not leader.may_act()
    assert emulator.leases.get(ns, leader.elector.name)["spec"]["leaseTransitions"] == 1


def test_paused_leader_is_fenced_and_replaced(
    make_provider: ProviderFactory, emulator: KubeEmulator
) -> None:
    """A leader whose renewals stop (as under SIGSTOP) may not write once its renew
    deadline passed, and the follower takes over after the lease duration."""
    ns = "lease-paused"
    stale = make_provider(namespace=ns, identity="stale", **FAST)
    coord = stale.coordination()
    assert coord is not None
    wait_for(coord.may_act, timeout=5)
    coord.elector._stop.set()  # its renew thread stops, as if the process were frozen
    other = make_provider(namespace=ns, identity="other", **FAST).coordination()
    assert other is not None
    config = StartConfig(command="sleep 100", work_dir="/workspace", startup_timeout=5)
    wait_for(lambda: not coord.may_act(), timeout=3)
    with pytest.raises(NotLeader, match="stale does not hold lease"):
        stale.start("mayor", config)
    wait_for(other.may_act, timeout=5)
    assert emulator.pods(ns) == []  # the fenced create never reached the server


def test_new_leader_resumes_the_controller_state(
    make_provider: ProviderFactory, emulator: KubeEmulator, tmp_path: Path
) -> None:
    ns = "lease-state"
    controllers = []
    for i in range(2):
        city_dir = tmp_path / f"replica-{i}"  # each replica has its own emptyDir
        city_dir.mkdir()
        (city_dir / "city.toml").write_text('[workspace]\nname = "demo"\n')
        provider = make_provider(namespace=ns, identity=f"r{i}", **FAST)
        controllers.append(
            Controller(open_test_city(city_dir, session=provider, events=MemoryEvents()))
        )
    first = controllers[0]
    wait_for(lambda: first.tick().follower is None, timeout=5)
    recent = [time.time() - 2, time.time() - 1]
    first.state.crashes["mayor"] = recent
    first.state.quarantined["mayor"] = 99.0
    first.tick()
    saved = emulator.configmaps.get(ns, "gc-demo-state")
    assert '"quarantined":{"mayor":99.0}' in saved["data"]["controller-state.json"]
    version = saved["metadata"]["resourceVersion"]
    first.tick()  # nothing changed: nothing written
    assert emulator.configmaps.get(ns, "gc-demo-state")["metadata"]["resourceVersion"] == version
    second = controllers[1]
    wait_for(lambda: second.tick().follower == "r0", timeout=5)
    assert first.coordination is not None
    first.coordination.release()
    wait_for(lambda: second.tick().follower is None, timeout=5)
    assert second.state.quarantined == {"mayor": 99.0}
    assert second.state.crashes == {"mayor": recent}
    assert first.tick().follower is not None  # released: it never acts again


def test_status_shows_the_holder_from_any_process(
    make_provider: ProviderFactory, emulator: KubeEmulator
) -> None:
    ns = "lease-status"
    observer = make_provider(namespace=ns, **FAST)  # as in `gc status`: no election
    assert "nobody (no lease" in observer.status_info()["session.k8s.leader"]
    leader = make_provider(namespace=ns, identity="the-leader", **FAST)
    coord = leader.coordination()
    assert coord is not None
    wait_for(coord.may_act, timeout=5)
    line = observer.status_info()["session.k8s.leader"]
    assert line.startswith("the-leader, renewed ") and f"lease {ns}/gc-demo-leader" in line
    assert "(this controller)" in leader.status_info()["session.k8s.leader"]
    assert observer.coord is None and observer.cache is None  # status started nothing


def test_identity_must_be_a_plain_name() -> None:
    with pytest.raises(ValueError, match="identity"):
        K8sSettings(identity="evil\r\nX-Injected: 1")


def test_a_lone_controller_leads_from_its_first_tick(
    make_provider: ProviderFactory, emulator: KubeEmulator, tmp_path: Path
) -> None:
    """A one-shot `gc start` against a city nobody else runs must act at once."""
    city_dir = tmp_path / "lone"
    city_dir.mkdir()
    (city_dir / "city.toml").write_text('[workspace]\nname = "demo"\n')
    provider = make_provider(namespace="lease-lone", identity="lone", **FAST)
    controller = Controller(open_test_city(city_dir, session=provider, events=MemoryEvents()))
    report = controller.tick()
    assert report.follower is None and report.aborted is None
    assert emulator.lease_holders("lease-lone")["gc-demo-leader"] == ("lone", True)


def test_a_replica_that_cannot_reach_the_api_is_not_ready(tmp_path: Path) -> None:
    city_dir = tmp_path / "blind"
    city_dir.mkdir()
    (city_dir / "city.toml").write_text('[workspace]\nname = "demo"\n')
    own = KubeEmulator(simulate=True).start()  # an API server this test can take down
    stopped = False
    try:
        ctx = PluginContext(
            role="session", name="k8s", settings={"namespace": "blind", "identity": "b", **FAST},
            city_name="demo", city_dir=city_dir,
            env={"KUBECONFIG": str(own.write_kubeconfig(tmp_path / "kubeconfig"))},
        )
        provider = K8sProvider(ctx)
        controller = Controller(
            open_test_city(city_dir, session=provider, events=MemoryEvents())
        )
        controller.tick()
        assert provider.readiness(controller) is None
        own.stop()  # the API server is gone, as in a partition
        stopped = True
        wait_for(lambda: provider.readiness(controller) is not None, timeout=10)
        reason = provider.readiness(controller)
        assert reason is not None and "cannot read lease blind/gc-demo-leader" in reason
        assert provider.coord is not None and not provider.coord.may_act()  # fenced too
        provider.shutdown()
    finally:
        if not stopped:
            own.stop()


def test_a_lease_lost_while_a_pod_starts_ends_the_start_at_once(
    make_provider: ProviderFactory, emulator: KubeEmulator
) -> None:
    """The start waits for its pod (held pending here, as by a slow image pull); the
    lease runs out meanwhile: the start ends with NotLeader at its next look, long
    before the startup timeout, and leaves the pod to the next leader."""
    ns = "lease-midstart"
    provider = make_provider(namespace=ns, identity="starter", **FAST)
    coord = provider.coordination()
    assert coord is not None
    wait_for(coord.may_act, timeout=5)
    outcome: list[BaseException | None] = []

    def start() -> None:
        try:
            provider.start("slow", StartConfig(command="sleep 100", work_dir="/workspace",
                                               startup_timeout=60))
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    emulator.kubelet.hold_new = True
    try:
        worker = threading.Thread(target=start, daemon=True)
        worker.start()
        wait_for(lambda: emulator.pods(ns), timeout=5)  # created; now pending
        lost = time.monotonic()
        coord.elector._stop.set()  # renewals stop: the lease runs out in about 1 s
        worker.join(timeout=20)
    finally:
        emulator.kubelet.hold_new = False
    assert outcome and isinstance(outcome[0], NotLeader), outcome
    assert time.monotonic() - lost < 20  # the 60 s startup timeout never came into it
    assert "starting pod" in str(outcome[0])
    assert len(emulator.pods(ns)) == 1  # a fenced replica deletes nothing
    for pod in emulator.pods(ns):
        emulator.store.delete(ns, pod["metadata"]["name"], 0)


def test_gc_status_prints_the_holder(
    make_provider: ProviderFactory, kubeconfig: Path, tmp_path: Path
) -> None:
    ns = "lease-cli"
    city = tmp_path / "holder-city"
    city.mkdir()
    (city / "city.toml").write_text(
        '[workspace]\nname = "demo"\n\n[session]\nprovider = "k8s"\n\n'
        f'[session.k8s]\nnamespace = "{ns}"\nprebaked = true\nkubeconfig = "{kubeconfig}"\n'
    )
    leader = make_provider(namespace=ns, identity="the-leader", where=city, **FAST)
    coord = leader.coordination()
    assert coord is not None
    wait_for(coord.may_act, timeout=5)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GC_")}
    env["GC_HOME"] = str(tmp_path / "gc-home")  # no supervisor of this machine's
    gc = [sys.executable, "-c", "from gascity.cli.main import main; main()"]
    result = subprocess.run([*gc, "--city", str(city), "status"], capture_output=True,
                            text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("session.k8s.leader: "))
    assert line.startswith("session.k8s.leader: the-leader, renewed "), line
    assert f"lease {ns}/gc-demo-leader" in line


def test_a_follower_waits_the_duration_the_holder_wrote(
    make_provider: ProviderFactory, emulator: KubeEmulator
) -> None:
    """Replicas with different timings side by side (a rolling update changing them):
    the follower waits the lease duration in the holder's record, not its own shorter
    one, so it never leads while the old holder may still act."""
    ns = "lease-mixed"
    slow = make_provider(namespace=ns, identity="slow", prebaked=True,
                         lease_duration_seconds=4.0, renew_deadline_seconds=3.0,
                         retry_period_seconds=0.2).coordination()
    assert slow is not None
    wait_for(slow.may_act, timeout=5)
    fast = make_provider(namespace=ns, identity="fast", **FAST).coordination()
    assert fast is not None
    wait_for(lambda: fast.holder() == "slow", timeout=5)
    slow.elector._stop.set()  # the holder freezes right after a renewal
    deadline = time.monotonic() + 20
    while not fast.may_act() and time.monotonic() < deadline:
        time.sleep(0.01)  # finer than wait_for: the first moment it leads is the point
    assert fast.may_act(), "the follower never took over"
    assert not slow.may_act()  # the old holder's deadline had passed by then
    assert emulator.leases.get(ns, "gc-demo-leader")["spec"]["holderIdentity"] == "fast"


class _Suspend:
    """The ``time`` module as a machine that slept sees it: the boot-time clock moved
    on by ``slept`` seconds, the monotonic clock did not (Linux stops it in suspend)."""

    def __init__(self) -> None:
        self.slept = 0.0

    def clock_gettime(self, clock: int) -> float:
        return time.clock_gettime(clock) + (self.slept if clock == time.CLOCK_BOOTTIME else 0)

    def __getattr__(self, name: str) -> object:
        return getattr(time, name)


@pytest.mark.skipif(not hasattr(time, "CLOCK_BOOTTIME"), reason="Linux's clock")
def test_a_leader_whose_machine_slept_past_its_lease_is_fenced(
    make_provider: ProviderFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gascity_k8s import lease

    coord = make_provider(namespace="lease-suspend", identity="laptop", **FAST).coordination()
    assert coord is not None
    wait_for(coord.may_act, timeout=5)
    coord.elector._stop.set()  # asleep: no renewal runs
    clock = _Suspend()
    monkeypatch.setattr(lease, "time", clock)
    assert coord.may_act()
    clock.slept = 60.0  # the lid was closed for a minute, then opened
    assert not coord.may_act()
    with pytest.raises(NotLeader):
        coord.fence("creating a pod")
