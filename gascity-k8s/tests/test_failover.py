"""Two real controller processes on one city against the emulator: forced failovers.

Each round takes the leader down — SIGKILL, or SIGSTOP past its lease and SIGCONT
once the other replica took over — and deletes one agent pod at the same moment,
so the new leader has work to do. Over every round: never two live pods for one
session, every session back, no pod or state write by a replica that did not hold
a valid lease at that moment (the emulator logs each write with the writer's
User-Agent and the lease as it stood), and the takeover within the lease duration
plus one tick. A takeover does nothing but the lost pod's start: no drain, no
restart, no other pod write (the replicas see their city at one path, as pods at
``/city`` do, so nothing looks drifted to a new leader).

``GC_K8S_FAILOVERS`` sets the number of rounds (default 2, one of each; docs/k8s.md quotes 20);
``GC_K8S_FAILOVER_REPORT`` names a JSON file for the figures.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from gascity.testing import wait_for
from gascity_k8s.liveness import session_name
from gascity_k8s.naming import city_object, pod_name
from gascity_k8s.testing import ControllerReplica, KubeEmulator

ROUNDS = int(os.environ.get("GC_K8S_FAILOVERS", "2"))
LEASE, RENEW, RETRY, PATROL = 2.0, 1.4, 0.2, 0.5
AGENTS = [f"a{i}" for i in range(5)]
NS, CITY = "ha", "ha"
LEASE_NAME = city_object(CITY, "leader")


def _city_toml(kubeconfig: Path) -> str:
    return (
        f'[workspace]\nname = "{CITY}"\n'
        f'[daemon]\npatrol_interval = "{int(PATROL * 1000)}ms"\nshutdown_timeout = "200ms"\n'
        '[session]\nprovider = "k8s"\nstartup_timeout = "20s"\n'
        f'[session.k8s]\nnamespace = "{NS}"\nprebaked = true\nkubeconfig = "{kubeconfig}"\n'
        f"lease_duration_seconds = {LEASE}\nrenew_deadline_seconds = {RENEW}\n"
        f"retry_period_seconds = {RETRY}\n"
        '[events]\nprovider = "file"\n[mail]\nprovider = "sqlite"\n'
        + "".join(f'[[agent]]\nname = "{a}"\ncommand = "run {a}"\n' for a in AGENTS)
    )


class DuplicateWatch:
    """Samples the pods all along: the most live pods any one session ever had."""

    def __init__(self, emulator: KubeEmulator) -> None:
        self.emulator = emulator
        self.worst = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            live = Counter(
                session_name(p)
                for p in self.emulator.pods(NS)
                if not p["metadata"].get("deletionTimestamp")
            )
            self.worst = max([self.worst, *live.values()])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _holder(emulator: KubeEmulator) -> str | None:
    holder, valid = emulator.lease_holders(NS).get(LEASE_NAME, ("", False))
    return holder if holder and valid else None


def _fleet_complete(emulator: KubeEmulator) -> bool:
    live = [p for p in emulator.pods(NS) if not p["metadata"].get("deletionTimestamp")]
    return sorted(session_name(p) or "" for p in live) == AGENTS


@pytest.fixture
def emulator() -> Iterator[KubeEmulator]:
    with KubeEmulator(simulate=True) as emu:
        yield emu


def test_forced_failovers(emulator: KubeEmulator, tmp_path: Path) -> None:
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    toml = _city_toml(kubeconfig)
    replicas = [ControllerReplica(i, tmp_path / "replicas", toml) for i in range(2)]
    duplicates = DuplicateWatch(emulator)
    rounds: list[dict[str, object]] = []
    try:
        for replica in replicas:
            replica.start()
        wait_for(lambda: _holder(emulator) and _fleet_complete(emulator), timeout=60)
        for number in range(ROUNDS):
            holder = wait_for(lambda: _holder(emulator), timeout=30)
            wait_for(lambda: _fleet_complete(emulator), timeout=30)
            leader = next(r for r in replicas if r.identity == holder)
            other = next(r for r in replicas if r is not leader)
            # The follower must be up (a restarted one imports for a second or two).
            wait_for(lambda o=other: emulator.agents[f"gascity-k8s ({o.identity})"] > 0,
                     timeout=30)
            mode = "SIGKILL" if number % 2 == 0 else "SIGSTOP"
            victim = AGENTS[number % len(AGENTS)]
            began = time.monotonic()
            if mode == "SIGKILL":
                leader.kill()
            else:
                leader.signal(signal.SIGSTOP)
            emulator.store.delete(NS, pod_name(CITY, victim), 0)  # an agent pod lost too
            new = wait_for(
                lambda old=holder: (h := _holder(emulator)) and h != old and h, timeout=30
            )
            takeover = time.monotonic() - began
            wait_for(lambda: _fleet_complete(emulator), timeout=30)
            recovered = time.monotonic() - began
            assert new == other.identity
            if mode == "SIGSTOP":
                leader.signal(signal.SIGCONT)  # it wakes up paused far past its lease
                time.sleep(RETRY * 3)  # long enough to have tried whatever it would
            else:
                leader.start()
            rounds.append(
                {"round": number, "mode": mode, "takeover_s": round(takeover, 3),
                 "recovered_s": round(recovered, 3)}
            )
        time.sleep(PATROL * 2)
    finally:
        duplicates.close()
        for replica in replicas:
            replica.stop()
    stale = [
        (w.method, w.path, w.agent, w.holders.get(LEASE_NAME))
        for w in emulator.writes
        if ("/pods" in w.path or "/configmaps" in w.path)
        # The city's namespace claim is made before the election, by whoever is first.
        and w.name != city_object(CITY, "city")
        and w.holders.get(LEASE_NAME) != (_writer(w.agent), True)
    ]
    pod_writes = [w for w in emulator.writes if "/pods" in w.path]
    figures = {
        "rounds": rounds,
        "failovers": len(rounds),
        "duplicate_pods": max(0, duplicates.worst - 1),
        "stale_writes": len(stale),
        "pod_writes": len(pod_writes),
        "pod_writes_by_method": dict(Counter(w.method for w in pod_writes)),
        "lease_transitions": emulator.leases.get(NS, LEASE_NAME)["spec"]["leaseTransitions"],
        "max_takeover_s": max(float(str(r["takeover_s"])) for r in rounds),
        "max_recovered_s": max(float(str(r["recovered_s"])) for r in rounds),
        "lease_s": LEASE, "renew_s": RENEW, "retry_s": RETRY, "tick_s": PATROL,
    }
    report = os.environ.get("GC_K8S_FAILOVER_REPORT")
    if report:
        Path(report).write_text(json.dumps(figures, indent=1))
    assert len(rounds) == ROUNDS
    assert duplicates.worst == 1, figures
    assert stale == [], figures
    # The first fleet, then one start per round for the pod it lost: nothing else.
    assert figures["pod_writes_by_method"] == {"POST": len(AGENTS) + ROUNDS}, figures
    assert _fleet_complete(emulator)  # the replicas' exit left the agents running
    # The follower's clock starts when it first sees the last renewal: at most one
    # retry after it, plus one more retry to act on the expiry.
    assert figures["max_takeover_s"] <= LEASE + 2 * RETRY + 1.0, figures
    assert figures["max_recovered_s"] <= LEASE + 2 * RETRY + PATROL + 1.5, figures


def _writer(agent: str) -> str:
    return agent[agent.find("(") + 1 : agent.rfind(")")] if "(" in agent else agent
