"""The HA manifests' probes, for real: two k8s controllers (gascity-k8s, against its
API emulator) serving /healthz and /readyz through gascity-dashboard's [api] server.

/readyz must be 200 on the leader (its ticks succeed) and on the follower (it waits
its turn, and the PodDisruptionBudget counts it), and stay so across a failover.
"""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gascity.testing import free_port, wait_for
from gascity_k8s.naming import city_object
from gascity_k8s.testing import ControllerReplica, KubeEmulator

LEASE = city_object("probes", "leader")


def _toml(kubeconfig: Path, port: int) -> str:
    return (
        '[workspace]\nname = "probes"\n[daemon]\npatrol_interval = "500ms"\n'
        f'[api]\nport = {port}\n'
        '[session]\nprovider = "k8s"\n'
        f'[session.k8s]\nnamespace = "probes"\nprebaked = true\nkubeconfig = "{kubeconfig}"\n'
        "lease_duration_seconds = 2\nrenew_deadline_seconds = 1.4\nretry_period_seconds = 0.2\n"
        '[events]\nprovider = "file"\n[mail]\nprovider = "sqlite"\n'
        '[[agent]]\nname = "mayor"\ncommand = "run"\n'
    )


def _get(port: int, path: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, {}


@pytest.fixture
def emulator() -> Iterator[KubeEmulator]:
    with KubeEmulator(simulate=True) as emu:
        yield emu


def test_leader_and_follower_are_alive_and_ready_across_a_failover(
    emulator: KubeEmulator, tmp_path: Path
) -> None:
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    ports = [free_port(), free_port()]
    replicas = [
        ControllerReplica(i, tmp_path / "replicas", _toml(kubeconfig, ports[i]))
        for i in range(2)
    ]
    try:
        for replica in replicas:
            replica.start()
        for port in ports:
            wait_for(lambda p=port: _get(p, "/readyz")[0] == 200, timeout=60)
            status, body = _get(port, "/healthz")
            assert status == 200 and body["status"] == "ok"
        holder = emulator.lease_holders("probes")[LEASE][0]
        leader = next(r for r in replicas if r.identity == holder)
        follower = next(r for r in replicas if r is not leader)
        leader_port, follower_port = ports[leader.slot], ports[follower.slot]
        assert _get(follower_port, "/readyz") == (200, {"status": "ready", "reasons": []})
        leader.signal(signal.SIGSTOP)  # paused past its lease
        wait_for(lambda: emulator.lease_holders("probes")[LEASE] == (follower.identity, True),
                 timeout=10)
        wait_for(lambda: _get(follower_port, "/readyz")[0] == 200, timeout=10)
        leader.signal(signal.SIGCONT)
        # The old leader comes back as a follower: alive and ready, and writes nothing.
        wait_for(lambda: _get(leader_port, "/readyz")[0] == 200, timeout=10)
        assert _get(leader_port, "/healthz")[0] == 200
    finally:
        for replica in replicas:
            replica.stop()
    output = "".join(r.output() for r in replicas)
    assert "Traceback" not in output, output
