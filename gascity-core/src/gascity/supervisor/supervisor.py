"""The machine-wide supervisor: one process per home, one city runtime per registered city.

The main loop owns the set of runtimes: it re-reads the registry (every
``patrol_interval``, on ``reload``, when a runtime exits), starts runtimes for new cities,
stops those of unregistered ones and restarts failed ones after their backoff. Control
socket threads only read that set and wait on it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..controller.lock import ControllerLock, ControllerRunning
from ..controller.paths import CityPaths
from ..controller.socket import ControlServer, send_command
from ..errors import ConfigError, GasCityError
from ..osutil.backoff import Backoff
from .home import SupervisorHome
from .registry import CityEntry, Registry, RegistryError
from .settings import SupervisorSettings

if TYPE_CHECKING:
    from ..controller.configwatch import ConfigWatch

__all__ = ["CityRuntime", "Supervisor", "SupervisorRunning"]

log = logging.getLogger("gascity.supervisor")

BACKOFF_FIRST = 10.0
BACKOFF_MAX = 300.0
"""The reference's restart backoff for a failing city runtime: 10 s doubling to 5 min."""
STOP_GRACE = 60.0
"""Seconds a runtime gets to stop its sessions after SIGTERM before it is killed."""


class SupervisorRunning(GasCityError):
    def __init__(self, pid: int | None, home: Path) -> None:
        self.pid = pid
        super().__init__(f"a supervisor is already running for {home} "
                         f"(pid {pid if pid else 'unknown'})")


def _source_watch(city: Path, since_ns: int | None) -> ConfigWatch:
    """Every file the city is composed from (city.toml, fragments, packs, prompts),
    stamped now; one changed since ``since_ns`` (the runtime's start) counts as
    changed already. Composing records what it read also when it fails, so a broken
    pack file is watched like city.toml."""
    from ..config import load_city
    from ..controller.configwatch import ConfigWatch, watched_paths

    reads: list[str] = []
    try:
        paths = watched_paths(load_city(city, reads), reads)
    except (GasCityError, OSError, ValueError):  # the runtime reported why it failed
        paths = tuple(dict.fromkeys(reads or [str(city / "city.toml")]))
    return ConfigWatch.snapshot(paths, since_ns)


@dataclass
class CityRuntime:
    entry: CityEntry
    proc: subprocess.Popen[bytes] | None = None
    state: str = "starting"
    """starting, running, backoff, stopping or stopped."""
    tick: int = 0
    last_tick: float | None = None
    report: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    failures: int = 0
    backoff: Backoff = field(default_factory=lambda: Backoff(BACKOFF_FIRST, BACKOFF_MAX))
    restarts: int = 0
    retry_at: float = 0.0
    started_ns: int | None = None
    """When the runtime was last spawned (``time.time_ns()``)."""
    sources: ConfigWatch | None = None
    """The city's source files as of its last failure: a change ends the backoff."""
    removed: bool = False

    def as_json(self, now: float) -> dict[str, Any]:
        return {
            "name": self.entry.name,
            "path": str(self.entry.path),
            "state": self.state,
            "pid": self.proc.pid if self.proc is not None else None,
            "tick": self.tick,
            "last_tick": self.last_tick,
            "sessions": self.report.get("running"),
            "desired": self.report.get("desired"),
            "summary": self.report.get("summary"),
            "error": self.error,
            "restarts": self.restarts,
            "retry_in": max(0.0, self.retry_at - now) if self.state == "backoff" else None,
        }


class Supervisor:
    def __init__(self, home: SupervisorHome, settings: SupervisorSettings | None = None) -> None:
        self.home = home
        self.settings = settings or SupervisorSettings.load(home.config)
        self.registry = Registry(home.registry)
        self.cities: dict[Path, CityRuntime] = {}
        self.started_at = time.time()
        self._cond = threading.Condition()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._passes = 0
        self._in_pass = False
        self._registry_error: str | None = None
        self._settings_mtime: int | None = self._config_mtime()

    def _config_mtime(self) -> int | None:
        try:
            return self.home.config.stat().st_mtime_ns
        except OSError:
            return None

    # --------------------------------------------------------------- lifecycle

    def run(self) -> None:
        """Serve until ``stop``/SIGTERM/SIGINT; then stop every city runtime.

        :raises SupervisorRunning: another supervisor holds this home.
        """
        self.home.ensure()
        lock = ControllerLock(self.home.lock)
        try:
            lock.acquire()
        except ControllerRunning as exc:
            raise SupervisorRunning(exc.pid, self.home.root) from None
        os.chmod(self.home.lock, 0o600)
        server = ControlServer(self.home.socket, self.handle_command)
        try:
            server.start()
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, lambda *_: self.request_stop())
                signal.signal(signal.SIGINT, lambda *_: self.request_stop())
                signal.signal(signal.SIGHUP, lambda *_: self._wake.set())
            log.info("supervisor running (pid %d) for %s; socket %s", os.getpid(),
                     self.home.root, self.home.socket)
            while not self._stop.is_set():
                try:
                    self._reload_settings()
                    self._reconcile()
                except Exception:
                    # Whatever one pass trips over, the cities that run keep running.
                    log.exception("supervisor pass failed; retrying at the next one")
                    with self._cond:
                        self._in_pass = False
                        self._passes += 1
                        self._cond.notify_all()
                self._wake.wait(timeout=self._next_wake())
                self._wake.clear()
            self._stop_all()
        finally:
            server.close()
            lock.release()
        log.info("supervisor stopped")

    def _reload_settings(self) -> None:
        """Pick up an edited supervisor.toml; a broken one keeps the settings in force."""
        mtime = self._config_mtime()
        if mtime == self._settings_mtime:
            return
        self._settings_mtime = mtime
        try:
            self.settings = SupervisorSettings.load(self.home.config)
        except ConfigError as exc:
            log.error("keeping the supervisor settings in force: %s", exc)

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _next_wake(self) -> float:
        now = time.time()
        wait = self.settings.patrol_interval
        with self._cond:
            for rt in self.cities.values():
                if rt.state == "backoff":
                    wait = min(wait, max(0.05, rt.retry_at - now))
        return wait

    # --------------------------------------------------------------- reconcile

    def _reconcile(self) -> None:
        with self._cond:
            self._in_pass = True
        entries = self._read_registry()
        now = time.time()
        with self._cond:
            if entries is not None:
                self._apply_registry(entries)
            to_start = [rt for rt in self.cities.values() if self._due(rt, now)]
        for rt in to_start:
            self._spawn(rt)
        with self._cond:
            self._in_pass = False
            self._passes += 1
            self._cond.notify_all()

    def _read_registry(self) -> list[CityEntry] | None:
        """The registered cities, or ``None`` (keep running what runs; said once)."""
        try:
            entries = self.registry.entries()
        except RegistryError as exc:
            if str(exc) != self._registry_error:
                log.error("registry unreadable, keeping the cities as they are: %s", exc)
            self._registry_error = str(exc)
            return None
        self._registry_error = None
        return entries

    def _apply_registry(self, entries: list[CityEntry]) -> None:
        """Unregistered cities are stopped (or forgotten), new ones added (under _cond)."""
        wanted = {e.path: e for e in entries}
        for path, rt in list(self.cities.items()):
            if path not in wanted and not rt.removed:
                rt.removed = True
                if rt.proc is None:
                    del self.cities[path]
                else:
                    self._terminate(rt)
        for path, entry in wanted.items():
            current = self.cities.get(path)
            if current is None:
                self.cities[path] = CityRuntime(entry)
            elif not current.removed:
                current.entry = entry

    def _due(self, rt: CityRuntime, now: float) -> bool:
        """Whether a city without a runtime gets one now; a changed source file of
        the city (city.toml, a fragment, a pack file) ends its backoff once written
        (under _cond)."""
        if rt.removed or rt.proc is not None:
            return False
        if rt.failures and rt.sources is not None and rt.sources.settled_change(0.0):
            log.info("%s: its config changed; restarting its runtime now", rt.entry.name)
            rt.failures = 0
            rt.backoff.reset()
            rt.retry_at = 0.0
        return now >= rt.retry_at

    def _spawn(self, rt: CityRuntime) -> None:
        path = rt.entry.path
        argv = [sys.executable, "-m", "gascity.supervisor.runtime", str(path), rt.entry.name]
        rt.started_ns = time.time_ns()
        try:
            # Its own session: a Ctrl-C at the supervisor's terminal reaches the
            # supervisor, which stops the cities in order.
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    cwd=path, start_new_session=True)
        except OSError as exc:
            with self._cond:
                self._failed(rt, f"{path}: cannot start the city runtime: {exc}")
            return
        with self._cond:
            if rt.tick or rt.error:
                rt.restarts += 1
            rt.proc, rt.state, rt.tick, rt.error = proc, "starting", 0, None
        log.info("%s: runtime started (pid %d) for %s", rt.entry.name, proc.pid, path)
        threading.Thread(target=self._follow, args=(rt, proc), daemon=True,
                         name=f"gc-city-{rt.entry.name}").start()

    def _follow(self, rt: CityRuntime, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            with self._cond:
                kind = event.get("event")
                if kind == "ready":
                    rt.state = "running"
                elif kind == "tick":
                    rt.tick = int(event.get("tick", rt.tick + 1))
                    rt.last_tick = float(event.get("at", time.time()))
                    rt.report = event
                    rt.failures = 0  # it reached a pass: healthy again
                    rt.backoff.reset()
                elif kind == "error":
                    rt.error = str(event.get("error"))
                self._cond.notify_all()
        code = proc.wait()
        # Read outside the lock: composing a city takes a while.
        failing = not (rt.removed or self._stop.is_set() or rt.state == "stopping")
        sources = _source_watch(rt.entry.path, rt.started_ns) if failing else None
        with self._cond:
            rt.proc = None
            if rt.removed or self._stop.is_set() or rt.state == "stopping":
                rt.state = "stopped"
                if rt.removed and self.cities.get(rt.entry.path) is rt:
                    del self.cities[rt.entry.path]
                log.info("%s: runtime stopped", rt.entry.name)
            else:
                self._failed(rt, rt.error or f"city runtime exited with status {code}",
                             sources)
            self._cond.notify_all()
        self._wake.set()

    def _failed(self, rt: CityRuntime, error: str, sources: ConfigWatch | None = None
                ) -> None:
        rt.failures += 1
        delay = rt.backoff.next()
        rt.retry_at = time.time() + delay
        rt.state = "backoff"
        rt.error = error
        rt.sources = sources or _source_watch(rt.entry.path, rt.started_ns)
        log.error("%s: %s; restarting in %gs (or when its config changes)", rt.entry.name,
                  error.splitlines()[0], delay)

    def _terminate(self, rt: CityRuntime) -> None:
        """SIGTERM (the runtime stops its sessions); SIGKILL if it outlives the grace."""
        proc = rt.proc
        if proc is None:
            return
        rt.state = "stopping"
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)

        def reaper() -> None:
            try:
                proc.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                log.error("%s: runtime ignored SIGTERM for %gs; killing it", rt.entry.name,
                          STOP_GRACE)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()

        threading.Thread(target=reaper, daemon=True).start()

    def _stop_all(self) -> None:
        with self._cond:
            running = [rt for rt in self.cities.values() if rt.proc is not None]
            for rt in running:
                self._terminate(rt)
            deadline = time.monotonic() + STOP_GRACE + 5
            while any(rt.proc is not None for rt in running) and time.monotonic() < deadline:
                self._cond.wait(timeout=0.2)

    # ---------------------------------------------------------------- commands

    def _reconcile_now(self, timeout: float = 30.0) -> None:
        """Have the main loop make a pass that started after this call; wait for it."""
        with self._cond:
            target = self._passes + (2 if self._in_pass else 1)
            self._wake.set()
            deadline = time.monotonic() + timeout
            while self._passes < target and time.monotonic() < deadline:
                self._cond.wait(timeout=0.2)

    def snapshot(self) -> list[dict[str, Any]]:
        now = time.time()
        with self._cond:
            return [rt.as_json(now) for rt in self.cities.values() if not rt.removed]

    def health(self) -> dict[str, Any]:
        """What the supervisor's own health check reports (``status`` command, city API)."""
        cities = self.snapshot()
        return {
            "pid": os.getpid(),
            "home": str(self.home.root),
            "uptime": time.time() - self.started_at,
            "registry_error": self._registry_error,
            "cities": len(cities),
            "cities_running": sum(1 for c in cities if c["state"] == "running"),
            "failing": [c["name"] for c in cities if c["state"] == "backoff"],
            "api": self.settings.api,
        }

    def handle_command(self, command: str) -> str:
        word, _, arg = command.partition(" ")
        if word == "ping":
            return str(os.getpid())
        if word == "stop":
            self.request_stop()
            return "ok stopping"
        if word == "cities":
            return json.dumps(self.snapshot())
        if word == "status":
            return json.dumps(self.health())
        if word == "reload":
            self._reconcile_now()
            poked = self._poke_all()
            return f"ok reloaded; poked {poked} cities"
        if word == "pass":
            return self._pass(arg)
        return (f"error: unknown command {word!r}; expected ping, status, cities, reload, "
                "pass or stop")

    def _poke_all(self) -> int:
        with self._cond:
            paths = [p for p, rt in self.cities.items() if rt.state == "running"]
        for path in paths:
            # One thread each: a city whose tick hangs delays nobody's poke.
            threading.Thread(target=self._poke, args=(path,), daemon=True).start()
        return len(paths)

    @staticmethod
    def _poke(path: Path, command: str = "poke", timeout: float = 60.0) -> str | None:
        try:
            return send_command(CityPaths(path).socket, command, timeout=timeout)
        except OSError:
            return None

    def _pass(self, arg: str) -> str:
        """``pass {"path": ..., "timeout": ...}``: the city's next reconcile pass.

        A runtime that has not ticked yet answers with its first pass; a running one is
        poked and answers with the pass the poke caused.
        """
        try:
            request = json.loads(arg)
            path = Path(request["path"]).resolve()
            timeout = float(request.get("timeout", 120.0))
        except (ValueError, KeyError, TypeError):
            return 'error: expected pass {"path": CITY_DIR, "timeout": SECONDS}'
        self._reconcile_now()
        deadline = time.monotonic() + timeout
        with self._cond:
            rt = self.cities.get(path)
            if rt is None or rt.removed:
                return f"error: {path} is not registered (gc register {path})"
            proc = rt.proc
            if proc is None:
                retry = max(0.0, rt.retry_at - time.time())
                return f"error: {rt.error or 'city runtime not running'} (retrying in {retry:.0f}s)"
            seen = rt.tick
        if seen:
            reply = self._poke(path, "poke", timeout)
            if reply is not None and reply.startswith("ok tick "):
                with contextlib.suppress(ValueError):
                    seen = int(reply.split()[-1]) - 1
        with self._cond:
            while rt.proc is proc and rt.tick <= seen and time.monotonic() < deadline:
                self._cond.wait(timeout=0.2)
            if rt.tick > seen and rt.report:
                return "ok " + json.dumps(rt.report)
            if rt.proc is not proc:
                return f"error: {rt.error or 'the city runtime exited'}"
            return (f"error: no reconcile pass of {path} within {timeout:g}s; the supervisor "
                    "keeps running it (gc cities, gc supervisor logs)")
