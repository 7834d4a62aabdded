"""Reconcile ticks per provider at 10-1000 agents: ours against the baseline, side by side.

For each provider (started for real here) and agent count: provider calls per steady
tick, steady tick wall time, cold start to all running, and recovery after 10% of the
sessions die, each for our controller and for the pre-Phase-1 baseline reconciler
(:mod:`benchmarks.baseline`) on the same city and provider objects in the same run.

``python -m benchmarks.reconcile_ticks [--quick] [--only fake,k8s] [--sizes 1000]``
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmarks.baseline import BaselineReconciler
from benchmarks.common import BenchTable, Timing, print_tables
from gascity.controller import Controller
from gascity.plugins import PluginContext
from gascity.testing import FakeProvider, HookCallCounter, MemoryEvents, open_test_city
from gascity.testing.counter import SESSION_HOOKS
from gascity.types import Liveness

__all__ = ["Figures", "Target", "run", "targets", "write_city"]

FAKE_CALL_LATENCY = 0.002
"""Seconds per fake provider call: about one local ``tmux`` client round trip."""
K8S_REQUEST_LATENCY = 0.005
"""Seconds the emulator adds to every API request: a nearby cluster's API server."""
VENV_BIN = str(Path(sys.executable).parent)


class LatencyFake(FakeProvider):
    """The in-memory provider, paying a fixed latency on every hook call."""

    def __init__(self, latency: float) -> None:
        super().__init__()
        self.call_latency = latency

    def _record(self, hook: str, name: str = "") -> None:
        # Calls are not kept: at 1000 agents the baseline would pile up millions.
        if self.call_latency:
            time.sleep(self.call_latency)


@dataclass
class Rig:
    provider: Any
    command: str = "sleep 3600"
    vanish: Callable[[list[str]], None] | None = None
    """Makes sessions disappear behind the provider's back (faster than its ``stop``)."""
    wipe: Callable[[], None] | None = None
    """Removes every session at once, for a fresh cold start."""
    floor: Callable[[], object] | None = None
    """The least a steady tick could do with this provider: one listing, no more."""

    def alive_names(self) -> set[str]:
        """Sessions up right now, asked of the provider directly (not counted)."""
        return {r.name for r in self.provider.list_running("")
                if r.liveness is not Liveness.DEAD}

    def kill(self, names: Iterable[str]) -> None:
        """The sessions die (removed behind the controller's back)."""
        names = list(names)
        if self.vanish is not None:
            self.vanish(names)
            return
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(self.provider.stop, names))

    def stop_all(self) -> None:
        if self.wipe is not None:
            self.wipe()
        else:
            self.kill(r.name for r in self.provider.list_running(""))


@dataclass
class Target:
    key: str
    label: str
    sizes: list[int]
    """Agent counts measured here."""
    limits: dict[int, str] = field(default_factory=dict)
    """Agent counts not measured, with why."""
    baseline_max: int = 1000
    baseline_why: str = ""
    cold_repeat_max: int = 100
    """Cold starts are repeated 3 times up to this many agents, once above."""
    open: Callable[[Path, int], AbstractContextManager[Rig]] | None = None
    missing: str = ""
    """Set when the provider has not landed / cannot run here: why."""


def _ctx(name: str, city_dir: Path, city: str, *, argument: str = "",
         settings: dict[str, Any] | None = None,
         env: dict[str, str] | None = None) -> PluginContext:
    full_env = dict(os.environ)
    full_env["PATH"] = VENV_BIN + os.pathsep + full_env.get("PATH", os.defpath)
    full_env.update(env or {})
    return PluginContext(role="session", name=name, argument=argument, settings=settings or {},
                         city_name=city, city_dir=city_dir, env=full_env)


def _shutdown(provider: Any) -> None:
    stop = getattr(provider, "shutdown", None)
    if callable(stop):
        stop()


@contextmanager
def _fake(city_dir: Path, n: int) -> Iterator[Rig]:
    fake = LatencyFake(FAKE_CALL_LATENCY)
    # One listing call plus one pass over its records.
    yield Rig(fake, floor=lambda: {r.name: r.liveness for r in fake.list_running("")})


def _read_own_records(root: Path) -> int:
    """What the subprocess provider must read per session: its pid and meta files and
    its leader's /proc stat line."""
    alive = 0
    for name in os.listdir(root):
        base = f"{root}/{name}"
        try:
            with open(f"{base}/pid", "rb") as f:
                pid = f.read().split()[0].decode()
            with open(f"{base}/meta.json", "rb") as f:
                f.read()
            with open(f"/proc/{pid}/stat", "rb") as f:
                alive += bool(f.read())
        except (OSError, IndexError):
            continue
    return alive


def _subprocess_vanish(provider: Any) -> Callable[[list[str]], None]:
    """Sessions disappear as the provider's stop leaves them (process group killed,
    directory gone), without its careful whole-table scans: at 1000 sessions those
    made each kill phase and the teardown take many minutes, none of it measured."""
    from gascity.osutil import proctree

    def vanish(names: list[str]) -> None:
        for name in names:
            base = provider.root / name
            try:
                pid, ticks, _ = (base / "pid").read_text().split()
            except (OSError, ValueError):
                continue
            stat = proctree.read_stat(int(pid))
            if stat is not None and stat.start_time == int(ticks):  # still our leader
                with suppress(OSError):
                    os.killpg(int(pid), signal.SIGKILL)
            shutil.rmtree(base, ignore_errors=True)
        provider.shutdown()  # collects the killed leaders (its children)

    return vanish


@contextmanager
def _subprocess(city_dir: Path, n: int) -> Iterator[Rig]:
    from gascity.builtin.subprocess_provider import SubprocessProvider

    # Sessions die as by the provider's own stop (gone, not dead): a killed agent
    # would linger as a dead session that the baseline's per-name lookups cannot tell
    # from a live one.
    provider = SubprocessProvider(_ctx("subprocess", city_dir, city_dir.name,
                                       settings={"stop_grace": 2}))
    rig = Rig(provider, vanish=_subprocess_vanish(provider),
              floor=lambda: _read_own_records(provider.root))
    try:
        yield rig
    finally:
        rig.stop_all()
        _shutdown(rig.provider)


def _tmux_vanish(socket: str) -> Callable[[list[str]], None]:
    """Sessions die as if their tmux session were killed under them."""

    def vanish(names: list[str]) -> None:
        for name in names:
            subprocess.run(["tmux", "-L", socket, "kill-session", "-t", f"={name}"],
                           capture_output=True, check=False, timeout=30)

    return vanish


def _reap_tmux(socket: str) -> None:
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, check=False,
                   timeout=30)


@contextmanager
def _tmux(city_dir: Path, n: int) -> Iterator[Rig]:
    from gascity_tmux import TmuxProvider

    socket = f"gcbench-{uuid.uuid4().hex[:8]}"
    provider = TmuxProvider(_ctx("tmux", city_dir, city_dir.name,
                                 settings={"socket": socket, "config_file": "/dev/null"}))
    from gascity_tmux.listing import list_format

    bare = ["tmux", "-L", socket, "list-panes", "-a", "-F", list_format()]
    try:
        yield Rig(provider, vanish=_tmux_vanish(socket), wipe=lambda: _reap_tmux(socket),
                  floor=lambda: subprocess.run(bare, capture_output=True, check=True))
    finally:
        _shutdown(provider)
        _reap_tmux(socket)


@contextmanager
def _exec_tmux(city_dir: Path, n: int) -> Iterator[Rig]:
    from gascity_exec.provider import ExecProvider

    socket = f"gcbench-{uuid.uuid4().hex[:8]}"
    script = shutil.which("gc-session-tmux", path=VENV_BIN + os.pathsep + os.environ["PATH"])
    provider = ExecProvider(_ctx("exec", city_dir, city_dir.name, argument=str(script),
                                 env={"GC_TMUX_SOCKET": socket}))
    try:
        yield Rig(provider, vanish=_tmux_vanish(socket), wipe=lambda: _reap_tmux(socket))
    finally:
        _shutdown(provider)
        _reap_tmux(socket)


class _Emulator:
    """One API emulator per benchmark run, shared by the k8s and exec-k8s cities."""

    emulator: Any = None
    kubeconfig: Path | None = None
    counter = 0

    @classmethod
    def get(cls) -> tuple[Any, Path]:
        if cls.emulator is None:
            from gascity_k8s.testing import KubeEmulator

            cls.emulator = KubeEmulator(latency=K8S_REQUEST_LATENCY, simulate=True).start()
            root = Path(cls.emulator.root)
            cls.kubeconfig = cls.emulator.write_kubeconfig(root / "kubeconfig")
        assert cls.kubeconfig is not None
        return cls.emulator, cls.kubeconfig

    @classmethod
    def namespace(cls) -> str:
        cls.counter += 1
        return f"bench{cls.counter}"

    @classmethod
    def close(cls) -> None:
        if cls.emulator is not None:
            cls.emulator.stop()
            cls.emulator = None


def _emulated_rig(provider: Any, emulator: Any, ns: str) -> Rig:
    """Pods die by vanishing from the emulator's store (the node lost them)."""

    def pods_of(names: set[str] | None) -> list[str]:
        return [p["metadata"]["name"] for p in emulator.pods(ns)
                if names is None
                or (p["metadata"].get("annotations") or {}).get("gc-session-name") in names]

    def vanish(names: list[str]) -> None:
        wanted = set(names)
        for pod in pods_of(wanted):
            emulator.store.remove(ns, pod)

    def wipe() -> None:
        for pod in pods_of(None):
            emulator.store.remove(ns, pod)

    return Rig(provider, vanish=vanish, wipe=wipe)


@contextmanager
def _k8s(city_dir: Path, n: int) -> Iterator[Rig]:
    from gascity_k8s.provider import K8sProvider

    emulator, kubeconfig = _Emulator.get()
    ns = _Emulator.namespace()
    provider = K8sProvider(_ctx("k8s", city_dir, city_dir.name,
                                settings={"namespace": ns, "prebaked": True,
                                          "kubeconfig": str(kubeconfig)}))
    rig = _emulated_rig(provider, emulator, ns)
    try:
        yield rig
    finally:
        rig.stop_all()
        _shutdown(provider)


@contextmanager
def _exec_k8s(city_dir: Path, n: int) -> Iterator[Rig]:
    from gascity_exec.provider import ExecProvider

    emulator, kubeconfig = _Emulator.get()
    ns = _Emulator.namespace()
    script = shutil.which("gc-session-k8s", path=VENV_BIN + os.pathsep + os.environ["PATH"])
    provider = ExecProvider(_ctx(
        "exec", city_dir, city_dir.name, argument=str(script),
        env={"KUBECONFIG": str(kubeconfig), "GC_K8S_NAMESPACE": ns,
             "GC_K8S_PREBAKED": "true"}))
    rig = _emulated_rig(provider, emulator, ns)
    try:
        yield rig
    finally:
        rig.stop_all()
        _shutdown(provider)


def _landed(module: str, script: str = "") -> str:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        return f"`{module}` is not installed (not landed yet)"
    if script and shutil.which(script, path=VENV_BIN + os.pathsep + os.environ["PATH"]) is None:
        return f"`{script}` is not on PATH"
    return ""


def targets(quick: bool) -> list[Target]:
    """Every provider with the agent counts it is measured at, quick or full."""
    full = [10, 30, 50, 100, 300, 1000]
    base_procs = ("at 1000 real sessions the baseline's ~3500 per-agent calls per tick "
                  "would take minutes per tick; its growth is already plain at 300")
    script = ("each call runs a Python script (~0.1-0.4 s of CPU on 2 cores); cold starts "
              "beyond this take minutes")
    kubectl = ("each call is a Python script plus `kubectl` processes (~1 s per call on 2 "
               "cores; ~45 s to cold-start 10 sessions): larger cities do not fit the budget")
    have_exec = _landed("gascity_exec")
    return [
        Target("fake", f"fake ({FAKE_CALL_LATENCY * 1000:g} ms/call)",
               [10, 100, 1000] if quick else full, baseline_max=100 if quick else 1000,
               open=_fake),
        Target("subprocess", "subprocess", [10, 30] if quick else full, baseline_max=300,
               baseline_why=base_procs, open=_subprocess),
        Target("tmux", "tmux", [10, 30] if quick else full, baseline_max=300,
               baseline_why=base_procs,
               open=_tmux, missing=_landed("gascity_tmux")
               or ("" if shutil.which("tmux") else "tmux is not installed")),
        Target("exec-tmux", "exec (gc-session-tmux)", [10] if quick else [10, 30, 50, 100],
               limits={} if quick else {300: script, 1000: script},
               baseline_max=10 if quick else 30, cold_repeat_max=10,
               baseline_why="the baseline's ~3.5 script calls per agent (~0.1 s each) make "
                            "ticks of tens of seconds beyond this",
               open=_exec_tmux, missing=have_exec or _landed("gascity_exec", "gc-session-tmux")),
        Target("k8s", f"k8s (emulator, {K8S_REQUEST_LATENCY * 1000:g} ms/request)",
               [10, 100] if quick else full, baseline_max=100 if quick else 1000,
               open=_k8s, missing=_landed("gascity_k8s")),
        Target("exec-k8s", "exec (gc-session-k8s, kubectl)", [10, 30],
               limits={50: kubectl, 100: kubectl, 300: kubectl, 1000: kubectl},
               baseline_max=10, cold_repeat_max=0,
               baseline_why="one script + kubectl per call: a baseline tick at 10 agents "
                            "already takes over 10 s (see the tables)",
               open=_exec_k8s,
               missing=("skipped in --quick: ~45 s to cold-start 10 sessions; measured in the "
                        "full run") if quick else (
                   _landed("gascity_k8s", "gc-session-k8s") or have_exec
                   or ("" if shutil.which("kubectl") else "kubectl is not installed"))),
    ]


def close_shared() -> None:
    _Emulator.close()


# ------------------------------------------------------------------- the cities


POOL_SIZE = 9
"""Pools of up to 9 instances, so that no session name is a prefix of another. The
committed RESULTS.md was measured this way because tmux 3.3 resolves
``list-panes -s -t =p1-1`` to ``p1-10``, which then broke gc-session-tmux starts and
tmux stops of such names; both are fixed and tested since, and the rule is kept so runs
stay comparable."""


def write_city(city_dir: Path, n: int, command: str) -> list[str]:
    """Half singletons, half pools of up to :data:`POOL_SIZE` (static size): ``n``
    sessions in all. Returns the session names the city wants.
    """
    city_dir.mkdir(parents=True, exist_ok=True)
    singles = n // 2
    lines = [f'[workspace]\nname = "{city_dir.name}"\n',
             # Benchmarks kill sessions on purpose; never let that quarantine an agent.
             "[daemon]\nmax_restarts = 100000\nstart_concurrency = 8\n"]
    names: list[str] = []
    for i in range(singles):
        lines.append(f'[[agent]]\nname = "a{i:04d}"\ncommand = "{command}"\n')
        names.append(f"a{i:04d}")
    left, j = n - singles, 0
    while left > 0:
        size = min(POOL_SIZE, left)
        pool = f"p{j:03d}"
        if size == 1:
            lines.append(f'[[agent]]\nname = "{pool}"\ncommand = "{command}"\n')
            names.append(pool)
        else:
            lines.append(f'[[agent]]\nname = "{pool}"\ncommand = "{command}"\n'
                         f"max_active_sessions = {size}\n")
            names += [f"{pool}-{k}" for k in range(1, size + 1)]
        left -= size
        j += 1
    (city_dir / "city.toml").write_text("\n".join(lines))
    return names


# ------------------------------------------------------------------ measuring


@dataclass
class Figures:
    """Everything measured for one provider at one agent count."""

    target: str
    n: int
    ours_calls: float = 0.0
    ours_hooks: dict[str, int] = field(default_factory=dict)
    ours_tick: Timing | None = None
    ours_list: Timing | None = None
    ours_cpu: Timing | None = None
    floor: Timing | None = None
    base_calls: float | None = None
    base_hooks: dict[str, int] = field(default_factory=dict)
    base_tick: Timing | None = None
    cold: Timing | None = None
    cold_ticks: list[int] = field(default_factory=list)
    """Ticks each cold start took (more than 1: a start failed or a session died early)."""
    converge: Timing | None = None
    base_converge: Timing | None = None
    error: str = ""


Reconciler = Callable[[], tuple[float, int, int]]
"""One tick: (seconds, sessions started, failures)."""


def _ours(ctrl: Controller, list_seconds: list[float]) -> Reconciler:
    def tick() -> tuple[float, int, int]:
        rep = ctrl.tick()
        list_seconds.append(rep.list_seconds)
        return rep.seconds, len(rep.started), len(rep.failed)
    return tick


def _theirs(base: BaselineReconciler) -> Reconciler:
    def tick() -> tuple[float, int, int]:
        rep = base.tick()
        return rep.seconds, len(rep.started), len(rep.failed)
    return tick


def until_all_up(tick: Reconciler, rig: Rig, wanted: set[str], max_ticks: int = 30,
                 ticks_used: list[int] | None = None) -> float:
    """Tick until every wanted session is up; the ticks' own time (checks excluded)."""
    spent = 0.0
    for used in range(1, max_ticks + 1):
        seconds, _started, _failed = tick()
        spent += seconds
        if wanted <= rig.alive_names():
            if ticks_used is not None:
                ticks_used.append(used)
            return spent
    raise RuntimeError(f"not converged after {max_ticks} ticks: "
                       f"{len(wanted - rig.alive_names())} sessions still down")


def kill_and_converge(tick: Reconciler, rig: Rig, names: list[str], rep: int) -> float:
    every_tenth = [name for i, name in enumerate(names) if (i + rep) % 10 == 0]
    victims = every_tenth[: max(1, len(names) // 10)]
    rig.kill(victims)
    deadline = time.monotonic() + 60
    while set(victims) & rig.alive_names():
        if time.monotonic() > deadline:
            raise RuntimeError("killed sessions still listed as up after 60 s")
        time.sleep(0.02)
    return until_all_up(tick, rig, set(names))


def steady(tick: Reconciler, counter: HookCallCounter, repeat: int,
           floor: Callable[[], object] | None = None,
           cpu: list[float] | None = None,
           floors: list[float] | None = None) -> tuple[float, dict[str, int], Timing]:
    """Repeated steady ticks; with ``floor``, each tick follows one run of its floor, so a
    busy machine slows both alike. ``cpu`` gets this process's CPU seconds per tick."""
    counter.reset()
    samples = []
    for _ in range(repeat):
        if floor is not None and floors is not None:
            t0 = time.perf_counter()
            floor()
            floors.append(time.perf_counter() - t0)
        c0 = time.process_time()
        seconds, started, failed = tick()
        if cpu is not None:
            cpu.append(time.process_time() - c0)
        if started or failed:
            raise RuntimeError(f"a steady tick started {started} and failed {failed}")
        samples.append(seconds)
    snap = counter.snapshot()
    calls = counter.session_calls / repeat
    return calls, {k: v // repeat for k, v in snap.items() if k in SESSION_HOOKS}, Timing(samples)


def measure(target: Target, n: int, root: Path, quick: bool) -> Figures:
    assert target.open is not None
    fig = Figures(target.key, n)
    city_dir = root / f"{target.key}-{n}"
    repeat = 3 if quick else 5
    cold_reps = 1 if quick or n > target.cold_repeat_max else 3
    conv_reps = 2 if quick else 3
    with target.open(city_dir, n) as rig:
        names = write_city(city_dir, n, rig.command)
        wanted = set(names)
        counter = HookCallCounter()
        city = open_test_city(city_dir, session=rig.provider, events=MemoryEvents(),
                              observers=[counter])
        ctrl = Controller(city)
        listings: list[float] = []
        ours = _ours(ctrl, listings)
        cold = []
        for rep in range(cold_reps):
            if rep:
                rig.stop_all()
            cold.append(until_all_up(ours, rig, wanted, ticks_used=fig.cold_ticks))
        fig.cold = Timing(cold)
        cpu: list[float] = []
        floors: list[float] = []
        counter.reset()
        fig.ours_calls, fig.ours_hooks, fig.ours_tick = steady(
            ours, counter, repeat, rig.floor, cpu, floors)
        fig.ours_cpu = Timing(cpu)
        fig.floor = Timing(floors) if floors else None
        fig.ours_list = Timing(listings[-repeat:])  # the same steady ticks' listings
        fig.converge = Timing([kill_and_converge(ours, rig, names, rep)
                               for rep in range(conv_reps)])
        if n <= target.baseline_max:
            base = _theirs(BaselineReconciler(city))
            # The baseline's ticks grow with N: fewer samples where one takes a minute.
            b_repeat = 1 if n >= 1000 else 2 if quick or n >= 300 else 3
            fig.base_calls, fig.base_hooks, fig.base_tick = steady(base, counter, b_repeat)
            b_conv = 0 if n >= 300 else 1 if quick else 2
            if b_conv:
                fig.base_converge = Timing([kill_and_converge(base, rig, names, rep + 5)
                                            for rep in range(b_conv)])
    return fig


# ------------------------------------------------------------------- tables


def _ms(t: Timing | None) -> str:
    if t is None:
        return "—"
    if t.median >= 1:
        return f"{t.median:.2f} s ±{t.spread / 2:.2f}"
    return t.ms()


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or a <= 0:
        return "—"
    return f"{b / a:.1f}x"


def figure_dict(f: Figures) -> dict[str, Any]:
    def med(t: Timing | None) -> float | None:
        return None if t is None else t.median

    def spr(t: Timing | None) -> float | None:
        return None if t is None else t.spread

    return {
        "target": f.target, "n": f.n, "error": f.error,
        "ours_calls": f.ours_calls, "base_calls": f.base_calls,
        "ours_hooks": f.ours_hooks, "base_hooks": f.base_hooks,
        "ours_tick": med(f.ours_tick), "ours_tick_spread": spr(f.ours_tick),
        "base_tick": med(f.base_tick), "base_tick_spread": spr(f.base_tick),
        "ours_list": med(f.ours_list), "ours_cpu": med(f.ours_cpu), "floor": med(f.floor),
        "cold": med(f.cold), "cold_spread": spr(f.cold), "cold_ticks": f.cold_ticks,
        "converge": med(f.converge), "converge_spread": spr(f.converge),
        "base_converge": med(f.base_converge),
    }


SETUP = {
    "fake": ("`gascity.testing.FakeProvider` in memory, sleeping "
             f"{FAKE_CALL_LATENCY * 1000:g} ms in every hook call",
             "the provider's `stop`"),
    "subprocess": ("built-in `subprocess` provider: one real `sleep 3600` process tree per "
                   "session", "its process group killed and its directory removed behind "
                   "the provider's back (what its `stop` leaves: the session disappears)"),
    "tmux": ("`gascity-tmux` on a throwaway tmux server (`-L` socket): one real session per "
             "agent running `sleep 3600`", "`tmux kill-session` behind the provider's back"),
    "exec-tmux": ("`gascity-exec` running the `gc-session-tmux` script (one process per "
                  "operation) against a throwaway tmux server",
                  "`tmux kill-session` behind the provider's back"),
    "k8s": ("`gascity-k8s` (official client) against the in-process API emulator adding "
            f"{K8S_REQUEST_LATENCY * 1000:g} ms to every request; pods are simulated "
            "(Running and ready without processes) and `prebaked = true`, so 1000 fit here",
            "its pod vanishing from the emulator (a lost node)"),
    "exec-k8s": ("`gascity-exec` running `gc-session-k8s` (one script + `kubectl` processes per "
                 "operation) against the same emulator and latency",
                 "its pod vanishing from the emulator"),
}


def tables(figs: list[Figures], tgts: list[Target], quick: bool) -> list[BenchTable]:
    labels = {t.key: t.label for t in tgts}
    ok = [f for f in figs if not f.error]
    calls = BenchTable(
        "Provider calls per steady tick (ours vs baseline)",
        ["Provider", "Agents", "Ours", "Baseline", "Baseline / ours", "Baseline calls by hook"],
        notes="Counted by a `HookCallCounter` on the same city and provider objects, in the same "
              "run. A steady tick is one where every session is up and nothing changes. "
              "Baseline = the reference's loop before its Phase 1 (see `benchmarks/baseline.py`).",
    )
    wall = BenchTable(
        "Steady tick wall time (ours vs baseline)",
        ["Provider", "Agents", "Ours", "of which list_running", "CPU per tick", "Floor",
         "Ours / floor", "Baseline", "Baseline / ours"],
        notes="Median ± half the spread (max-min) over the repeated steady ticks of one run. "
              "CPU per tick: this process's CPU time (all threads) during a tick. Floor, "
              "run just before each tick: fake = one listing call plus one pass over its "
              "records; tmux = one bare `tmux list-panes -a` with the provider's format "
              "(a subprocess, as the provider runs it); subprocess = reading each session's "
              "own `pid` and `meta.json` files and its leader's `/proc/<pid>/stat`.",
    )
    life = BenchTable(
        "Cold start and recovery",
        ["Provider", "Agents", "Cold start to all running", "Ticks it took",
         "Converge after 10% die (ours)", "Converge (baseline)"],
        notes="Cold start: from an empty provider to every session up, summed tick time "
              f"(`start_concurrency = 8`). Recovery: 10% of sessions are stopped behind the "
              "controller's back; time of the ticks until all are up again. Repeats: "
              f"{'1' if quick else '3 (1 for the larger cities, see the code)'} cold, "
              f"{'2' if quick else '3'} recoveries (baseline: 1-2, none at 300+ agents).",
    )
    for f in ok:
        label = labels[f.target]
        by_hook = ", ".join(f"{k} {v}" for k, v in sorted(f.base_hooks.items())) or "—"
        calls.rows.append([label, f.n, f"{f.ours_calls:g}",
                           "—" if f.base_calls is None else f"{f.base_calls:g}",
                           _ratio(f.ours_calls, f.base_calls), by_hook])
        wall.rows.append([label, f.n, _ms(f.ours_tick), _ms(f.ours_list), _ms(f.ours_cpu),
                          _ms(f.floor),
                          _ratio(f.floor.median if f.floor else None,
                                 f.ours_tick.median if f.ours_tick else None),
                          _ms(f.base_tick),
                          _ratio(f.ours_tick.median if f.ours_tick else None,
                                 f.base_tick.median if f.base_tick else None)])
        life.rows.append([label, f.n, _ms(f.cold), ", ".join(map(str, f.cold_ticks)),
                          _ms(f.converge), _ms(f.base_converge)])
    setup = BenchTable(
        "How each provider runs here",
        ["Provider", "Setup", "A session dies by"],
        rows=[[labels[t.key], *SETUP[t.key]] for t in tgts if t.key in SETUP],
        notes="Cities: half the agents are singletons, half are pools of up to "
              f"{POOL_SIZE} instances (static size, no scale check); `start_concurrency = 8`. "
              "No session name is a prefix of another (see `POOL_SIZE` in the code): this "
              "run found that tmux 3.3 resolves `list-panes -s -t =a1` to `a10`, which "
              "broke gc-session-tmux starts and tmux stops of such names; both are fixed "
              "and tested since.",
    )
    limits = BenchTable("Agent counts not measured, and why", ["Provider", "Agents", "Why"])
    for t in tgts:
        if t.missing:
            limits.rows.append([t.label, "all", t.missing])
            continue
        for n, why in sorted(t.limits.items()):
            limits.rows.append([t.label, n, why])
        if t.baseline_why:
            limits.rows.append([t.label, f"baseline above {t.baseline_max}", t.baseline_why])
    for f in figs:
        if f.error:
            limits.rows.append([labels[f.target], f.n, f"failed: {f.error}"])
    data = {"figures": [figure_dict(f) for f in ok],
            "labels": labels, "quick": quick}
    calls.data = data
    return [setup, calls, wall, life, limits]


def run(quick: bool = False, only: Sequence[str] = (),
        sizes: Sequence[int] = ()) -> list[BenchTable]:
    """Every provider at every agent count it can hold here; ``only`` picks providers,
    ``sizes`` agent counts (of those each provider is measured at)."""
    tgts = [t for t in targets(quick) if not only or t.key in only]
    if sizes:
        tgts = [replace(t, sizes=[n for n in t.sizes if n in sizes]) for t in tgts]
    figs: list[Figures] = []
    root = Path(tempfile.mkdtemp(prefix="gcbench-ticks-"))
    try:
        for target in tgts:
            if target.missing:
                print(f"[ticks] {target.key}: skipped ({target.missing})", file=sys.stderr)
                continue
            for n in target.sizes:
                t0 = time.perf_counter()
                try:
                    fig = measure(target, n, root, quick)
                except Exception as exc:  # one provider failing must not lose the others
                    fig = Figures(target.key, n, error=f"{type(exc).__name__}: {exc}"[:300])
                figs.append(fig)
                print(f"[ticks] {target.key} n={n}: {time.perf_counter() - t0:.1f}s "
                      f"ours {fig.ours_calls:g} calls, baseline {fig.base_calls} calls"
                      + (f" ERROR {fig.error}" if fig.error else ""), file=sys.stderr)
    finally:
        close_shared()
        shutil.rmtree(root, ignore_errors=True)
    return tables(figs, tgts, quick)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="", help="providers, comma-separated")
    parser.add_argument("--sizes", default="", help="agent counts, comma-separated")
    args = parser.parse_args()
    print_tables(run(args.quick, [s for s in args.only.split(",") if s],
                     [int(n) for n in args.sizes.split(",") if n]))
