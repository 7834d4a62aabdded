"""The controller: runs reconcile ticks against one city's plugins.

A tick is: reload the config if it changed (keeping the old one on any error) ->
scale checks (concurrent) -> **one** ``list_running`` -> :func:`make_plan` -> execute
(crash reports, stops, drains, starts in dependency waves) -> save state. A session
that is healthy costs no call beyond the listing.

When the session provider offers :class:`~gascity.coordination.Coordination`, several
replicas share the city: only the one that may act ticks, its state lives where the
provider keeps it, and a :class:`~gascity.errors.NotLeader` from any write ends the
tick at once, saving nothing.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import event_names as ev
from ..city import City
from ..config import LoadedConfig, load_city
from ..config.lastgood import save_snapshot
from ..coordination import Coordination
from ..errors import ConfigError, GasCityError, NotLeader, NotThisCity, Unsupported
from ..osutil.runner import run_shell
from ..plugins.facade import Hooks
from ..plugins.manager import SELECTABLE
from ..reconcile import ControllerState, build_desired, make_plan, run_scale_checks
from ..reconcile.desired import DesiredSession
from ..reconcile.drift import live_fingerprint
from ..reconcile.plan import Holds, Observations, Plan, StartAction, StopAction, waves
from ..reconcile.scale import ScaleResult
from ..reconcile.state import Overrides
from ..types import META_DRAIN, META_DRAIN_ACK, META_LIVE, EventDraft, Liveness, RunningSession
from .agent_hooks import HOOK_TIMEOUT, run_agent_hook, run_agent_hook_later
from .configwatch import ConfigWatch, watched_paths
from .dialogs import DialogDismissals
from .paths import CityPaths

if TYPE_CHECKING:
    from ..supervisor.client import SupervisorLink

__all__ = ["Controller", "TickReport"]

log = logging.getLogger("gascity.controller")

@dataclass
class TickReport:
    number: int = 0
    started: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    blocked: dict[str, str] = field(default_factory=dict)
    stopped: list[str] = field(default_factory=list)
    drained: list[str] = field(default_factory=list)
    undrained: list[str] = field(default_factory=list)
    crashed: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    desired: int = 0
    running: int = 0
    config_error: str | None = None
    follower: str | None = None
    """Set when another replica leads (its name, or "" if unknown): nothing was done."""
    aborted: str | None = None
    """Set when the leadership was lost mid-tick: the tick stopped there."""
    scale: dict[str, ScaleResult] = field(default_factory=dict)
    """Each pool's scale-check result this tick (count, error, start/end times)."""
    scale_seconds: float = 0.0
    list_seconds: float = 0.0
    seconds: float = 0.0
    changed: bool = False
    """The tick acted or recorded something (what a foreground controller prints)."""

    def summary(self) -> str:
        if self.follower is not None:
            return f"tick {self.number}: follower; {self.follower or 'nobody'} leads"
        parts = [f"tick {self.number}: {self.running} running, {self.desired} desired"]
        for label, items in (
            ("started", self.started),
            ("stopped", self.stopped),
            ("draining", self.drained),
            ("undrained", self.undrained),
            ("crashed", self.crashed),
            ("quarantined", self.quarantined),
        ):
            if items:
                parts.append(f"{label} {', '.join(items)}")
        if self.failed:
            parts.append("failed " + ", ".join(f"{k} ({v})" for k, v in self.failed.items()))
        if self.blocked:
            parts.append("blocked " + ", ".join(f"{k} (on {v})" for k, v in self.blocked.items()))
        if self.config_error:
            parts.append("config rejected: " + self.config_error.splitlines()[0])
        if self.aborted:
            parts.append("ABORTED: " + self.aborted)
        return "; ".join(parts) + f" ({self.seconds * 1000:.0f} ms)"


@dataclass
class _Derived:
    """What the tick derives from one loaded config (held by identity) and reuses while
    it stays loaded: a steady tick hashes nothing and rebuilds no desired set."""

    config: object
    levels: dict[str, int]
    fingerprints: dict[str, str] = field(default_factory=dict)
    desired_key: tuple[object, ...] | None = None
    desired: dict[str, DesiredSession] | None = None
    unresolved: dict[str, str] = field(default_factory=dict)
    """Agents left out of ``desired`` because their launch cannot be resolved."""
    has_live: bool | None = None
    """Whether any agent has ``session_live`` (else live drift is not looked for)."""


def freeze_heap() -> None:
    """Exempt what exists now (above all the loaded config) from the cyclic GC.

    A city's config is built once and lives until the next reload; at 30k agents the
    collector's full passes over it took 13% of each tick. Collect first so garbage
    is not frozen with it.
    """
    gc.collect()
    gc.freeze()


class Controller:
    """Reconciles one open :class:`City`. Thread-compatible: one tick at a time."""

    def __init__(self, city: City, *, clock: Callable[[], float] = time.time) -> None:
        self.city = city
        self.paths = CityPaths(city.dir)
        self.clock = clock
        self.loaded: LoadedConfig = city.loaded
        self.state = ControllerState.load(self.paths.state)
        freeze_heap()
        self._saved_state = self.state.to_text()
        # The last state serialized and its text: a steady tick's state equals it.
        self._text_of: tuple[ControllerState, str] | None = None
        self._derived: _Derived | None = None
        # name -> (when asked, answer) for providers whose listing has no activity time.
        self._idle_asked: dict[str, tuple[float, datetime | None]] = {}
        self.coordination: Coordination | None = None
        self._coordinated = False
        self.leading = True
        """Whether the last tick ran as the leader (always, without coordination)."""
        self._shared_state: str | None = None
        save_snapshot(city.dir, self.loaded.config.model_dump(mode="json"), self.loaded.path)
        self._watch = ConfigWatch.of(self.loaded)
        self._stop_sessions = False
        self.ticks = 0
        self.last_report: TickReport | None = None
        self.supervisor: SupervisorLink | None = None
        """The supervisor running this controller as a city runtime; ``None`` when it
        runs standalone. An API can report its health next to the city's."""
        self._tick_lock = threading.Lock()
        self._tick_done = threading.Condition()
        self._wake = threading.Event()
        self._reload_requested = False
        self._stop = threading.Event()
        self._unresolved: dict[str, str] = {}
        # Changes the CLI asks for while this controller owns the state file; applied
        # by the ticking thread, so the state has one writer.
        self._intents: list[tuple[str, str]] = []
        self._intents_lock = threading.Lock()
        self._list_error: str | None = None
        self.dialogs = DialogDismissals(self.hooks, self.loaded.config.daemon.start_concurrency,
                                        may_act=self._may_act)
        """Startup dialogs being answered, off the tick, for the sessions just started."""

    @property
    def hooks(self) -> Hooks:
        return self.city.hooks

    # ------------------------------------------------------------------ config

    def maybe_reload(self, force: bool = False) -> str | None:
        """Re-read the config if one of its files changed. Returns the error if the
        new one is bad.

        Every file the city was composed from is watched (see
        :mod:`~gascity.controller.configwatch`): only files that have stopped
        changing are read, and only a change of content reloads. The new config must
        parse, hold a ``[workspace]`` table and pass what ``gc config validate``
        checks, the selected plugins' tables included; anything else keeps the
        running config with one ``config.rejected`` event naming the file.
        """
        watch = self._watch
        if not force:
            changed = watch.settled_change()
            if not changed:
                return None  # unchanged, or still being written: next tick looks again
            now = ConfigWatch.snapshot(watch.paths)
            if now.revision == watch.revision:
                self._watch = now  # touched, not changed
                return None
        path = self.loaded.path
        began = time.time_ns()
        reads: list[str] = []
        try:
            loaded = load_city(path, reads)
            if "workspace" not in loaded.config.model_fields_set:
                raise ConfigError(str(path), [
                    "workspace: missing; expected a [workspace] table (an empty or "
                    "truncated city.toml is never applied)"])
            self._check_plugin_tables(loaded)
        except ConfigError as exc:
            # Watch the files of the attempt too, so fixing a new pack is noticed.
            self._watch = ConfigWatch.snapshot(watched_paths(self.loaded, reads), began)
            return self._reject(str(exc), exc.path)
        if loaded.city_name != self.loaded.city_name:
            self._watch = ConfigWatch.snapshot(watched_paths(self.loaded, reads), began)
            return self._reject(
                f"{path}: workspace.name changed from '{self.loaded.city_name}' to "
                f"'{loaded.city_name}'; the city name is fixed for the life of a controller",
                str(path),
            )
        old = self.loaded.config
        self.loaded = loaded
        self.city.loaded = loaded
        self._watch = ConfigWatch.of(loaded)
        freeze_heap()
        save_snapshot(self.city.dir, loaded.config.model_dump(mode="json"), loaded.path)
        # A reload is the operator's "I fixed it": forget crash history and quarantine.
        self.state.crashes.clear()
        cleared = sorted(self.state.quarantined)
        self.state.quarantined.clear()
        notes = []
        for role in ("session", "events", "mail"):
            if old.section(role).provider != loaded.config.section(role).provider:
                notes.append(f"[{role}] provider changes take effect when the controller restarts")
        self._emit(ev.CONFIG_RELOADED, str(path), "config reloaded" + ("; " + "; ".join(notes)
                                                                       if notes else ""),
                   unquarantined=cleared)
        return None

    def _check_plugin_tables(self, loaded: LoadedConfig) -> None:
        """Build the selected plugins from the new config once, as ``gc config
        validate`` does, when one of their sections changed; raise ConfigError."""
        old = self.loaded.config
        if all(old.section(r).model_dump() == loaded.config.section(r).model_dump()
               for r in SELECTABLE):
            return
        try:
            probe = City.open(loaded.path, env=self.city.pm.env, observers=False)
        except ConfigError:
            raise
        except GasCityError as exc:  # a plugin that cannot be built from these settings
            raise ConfigError(str(loaded.path), [str(exc)]) from None
        probe.close()

    def _reject(self, error: str, file: str) -> str:
        # The watch now holds the bad files' stamps: reported once, not every tick.
        log.error("config rejected, keeping the previous one: %s", error)
        self._emit(ev.CONFIG_REJECTED, str(self.loaded.path), error.splitlines()[0],
                   error=error, file=file)
        return error

    # -------------------------------------------------------------------- tick

    def tick(self) -> TickReport:
        with self._tick_lock:
            self._apply_intents()
            report = self._tick()
        with self._tick_done:
            self.ticks += 1
            report.number = self.ticks
            self.last_report = report
            self._tick_done.notify_all()
        if report.changed:
            # Logged once numbered: a summary logged inside the tick said "tick 0".
            log.info("%s", report.summary())
        self.hooks.tick_finished(self, report)
        return report

    def _coordinate(self) -> Coordination | None:
        if not self._coordinated:
            self._coordinated = True
            self.coordination = self.hooks.coordination()
            if self.coordination is not None:
                self.leading = False
                self.coordination.on_change(self._wake.set)
        return self.coordination

    def _lead(self, coordination: Coordination, report: TickReport) -> bool:
        """Whether this replica may tick; on taking over, resume the shared state."""
        if not coordination.may_act():
            if self.leading:
                log.warning("lost the leadership to %s", coordination.holder() or "nobody")
            self.leading = False
            report.follower = coordination.holder() or ""
            return False
        if not self.leading:
            text = coordination.load_state()
            self.state = ControllerState.from_text(text)
            self._shared_state = self.state.to_text() if text is not None else None
            log.info("leading as %s; resumed the controller state", coordination.identity)
            self.leading = True
        return True

    def _tick(self) -> TickReport:
        t0 = time.perf_counter()
        report = TickReport()
        coordination = self._coordinate()
        if coordination is not None and not self._lead(coordination, report):
            report.seconds = time.perf_counter() - t0
            return report
        try:
            self._reconcile(report)
        except NotLeader as exc:
            # Nothing more is written, the state included: the new leader decides.
            self.leading = False
            report.aborted = str(exc) or "lost the leadership"
            log.warning("tick stopped: %s", report.aborted)
        report.seconds = time.perf_counter() - t0
        return report

    def _reconcile(self, report: TickReport) -> None:
        force = self._reload_requested
        self._reload_requested = False
        report.config_error = self.maybe_reload(force=force)
        config = self.loaded.config
        overrides = Overrides.load(self.paths.overrides)
        # An on_demand named session that nobody woke is held like a suspended agent.
        asleep = self.loaded.composition.on_demand - set(overrides.woken)
        suspended = frozenset(overrides.suspended_agents) | asleep
        city_suspended = overrides.city_suspended or config.workspace.suspended

        pools = [
            a for a in config.agent
            if a.is_pool and not a.suspended and a.name not in suspended and not city_suspended
        ]
        t_scale = time.perf_counter()
        scale = run_scale_checks(
            pools,
            self.city.dir,
            concurrency=config.daemon.probe_concurrency,
            timeout=config.daemon.probe_timeout,
            cap=config.daemon.max_pool_sessions,
            cancel=self._stop,
        )
        report.scale_seconds = time.perf_counter() - t_scale
        report.scale = dict(scale)
        if self._stop.is_set():
            # Stopping cut the checks short: their fallback counts must not scale pools
            # on the way down.
            report.aborted = "the controller is stopping"
            return
        derived = self._derived
        if derived is None or derived.config is not config:
            derived = self._derived = _Derived(config, levels=waves(config))
        counts = {name: res.count for name, res in scale.items()}
        aliased = {a.name: sum(1 for owner in overrides.aliases.values() if owner == a.name)
                   for a in pools} if overrides.aliases else {}
        for a in pools:
            if overrides.extra_sessions.get(a.name) or aliased.get(a.name):
                # `gc session new`: instances above the scale check, within the pool's cap,
                # which the sessions named by an alias share.
                cap = a.max_active_sessions
                wanted = counts.get(a.name, 0) + overrides.extra_sessions.get(a.name, 0)
                room = None if cap is None else max(0, cap - aliased.get(a.name, 0))
                counts[a.name] = wanted if room is None else min(room, wanted)
        aliases = dict(overrides.aliases)
        key = (tuple(sorted(counts.items())), suspended, city_suspended,
               tuple(sorted(aliases.items())))
        if derived.desired is None or derived.desired_key != key:
            derived.desired_key = key
            derived.unresolved = {}
            derived.desired = build_desired(
                config,
                counts,
                city_name=self.city.name,
                city_dir=self.city.dir,
                suspended_agents=suspended,
                city_suspended=city_suspended,
                fingerprints=derived.fingerprints,
                problems=derived.unresolved,
                pack_dirs=self.loaded.composition.packs,
                rig_agents=self.loaded.composition.rig_agents,
                namepools=self.loaded.composition.namepools,
                aliases=aliases,
                pack_overlay_dirs=self.loaded.composition.pack_overlay_dirs,
                rig_overlay_dirs=self.loaded.composition.rig_overlay_dirs,
            )
        desired = derived.desired
        if overrides.held_sessions:
            held = set(overrides.held_sessions)
            desired = {n: d for n, d in desired.items() if n not in held}
        for agent_name, why in derived.unresolved.items():
            report.failed[agent_name] = why
            if self._unresolved.get(agent_name) != why:  # once, not every tick
                log.error("agent %s cannot start: %s", agent_name, why)
                self._emit(ev.SESSION_START_FAILED, agent_name, f"{agent_name}: {why}",
                           agent=agent_name, reason="launch", error=why)
        self._unresolved = derived.unresolved
        t_list = time.perf_counter()
        state = self.state
        try:
            running = self.hooks.list_running("")  # the tick's one provider call
            self._list_error = None
        except GasCityError as exc:
            running, unseen = self._probe_each(list(desired), config.daemon.probe_concurrency, exc)
            # A session the probe says is gone is started again, but not counted as a
            # crash: the listing that would show how it ended is what failed.
            state = state.copy()
            state.last_running = [n for n in state.last_running if n not in unseen]
        report.list_seconds = time.perf_counter() - t_list
        now = self.clock()
        plan = make_plan(
            config=config,
            desired=desired,
            running=running,
            state=state,
            now=now,
            observed=Observations(scale=scale, acked=self._probe_acks(running),
                                  idle=self._probe_idle(running, config)),
            holds=Holds(suspended_agents=suspended, city_suspended=city_suspended,
                        unresolved=frozenset(derived.unresolved)),
            levels=derived.levels,
        )
        report.desired = len(desired)
        report.running = len(running)
        if not plan.is_noop or plan.events:
            self._execute(plan, report)
        self._reapply_live(desired, running, plan)
        self.state = plan.state
        self._save_state(now)
        report.changed = not plan.is_noop or bool(report.config_error)

    def _probe_each(
        self, names: list[str], concurrency: int, error: GasCityError
    ) -> tuple[list[RunningSession], set[str]]:
        """The listing failed: ask each desired session instead (bounded concurrency).

        Only desired sessions are asked, so nothing is an orphan and nothing is
        stopped for it; a session that answers "running" or cannot be asked is left
        alone this tick (``STARTING``: never restarted, never a crash). Returns the
        sessions to plan with and the names the provider says are not running.
        """
        message = f"listing sessions failed: {error}"
        if self._list_error != message:  # one event per outage, not one per tick
            log.warning("%s; asking each desired session instead", message)
            self._emit(ev.SESSION_LIST_FAILED, self.city.name, message, error=str(error))
        self._list_error = message

        def probe(name: str) -> bool | None:
            try:
                return self.hooks.is_running(name)
            except GasCityError as exc:
                log.debug("is_running %s: %s", name, exc)
                return None

        if not names:
            return [], set()
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(names)))) as pool:
            answers = dict(zip(names, pool.map(probe, names), strict=True))
        running = [
            RunningSession(name, Liveness.STARTING, detail="listing failed")
            for name, up in answers.items()
            if up is not False
        ]
        return running, {name for name, up in answers.items() if up is False}

    def _desired_names(self) -> set[str]:
        derived = self._derived
        if derived is not None and derived.desired is not None:
            return set(derived.desired)
        return {a.name for a in self.loaded.config.agent}  # no tick ran in this process

    def _save_state(self, now: float) -> None:
        """Rewrite the state file only when it changed; stamp the tick on it always.

        ``last_tick`` is the file's modification time (one ``utime``), so a steady
        tick of a large city writes no bytes at all.
        """
        text = self._state_text()
        coordination = self.coordination
        if coordination is not None and text != self._shared_state:
            # The replicas' shared copy, also written only when it changed.
            try:
                coordination.save_state(text)
                self._shared_state = text
            except NotLeader:
                raise
            except GasCityError as exc:
                log.warning("saving the controller state failed (next tick retries): %s", exc)
        try:
            if text != self._saved_state:
                self.state.save(self.paths.state, text)
                self._saved_state = text
            os.utime(self.paths.state, (now, now))
        except OSError as exc:
            # The fleet keeps running; the next change retries the write.
            log.warning("cannot write %s: %s", self.paths.state, exc)
            self._saved_state = ""

    def _state_text(self) -> str:
        """``self.state.to_text()``, serialized again only when the state changed: each
        plan holds a fresh copy, and comparing it costs a fraction of the JSON."""
        state, last = self.state, self._text_of
        if last is not None and replace(state, last_tick=last[0].last_tick) == last[0]:
            return last[1]
        text = state.to_text()
        self._text_of = (state.copy(), text)
        return text

    def _probe_acks(self, running: Iterable[RunningSession]) -> frozenset[str]:
        """Draining sessions whose provider cannot list metadata: ask each for an ack.

        Only sessions being drained are asked, so a steady tick asks nobody.
        """
        acked: set[str] = set()
        for record in running:
            if record.meta is None and record.name in self.state.drains:
                try:
                    if self.hooks.get_meta(record.name, META_DRAIN_ACK):
                        acked.add(record.name)
                except GasCityError:
                    pass
        return frozenset(acked)

    def _probe_idle(self, running: Iterable[RunningSession], config: Any) -> frozenset[str]:
        """Sessions of agents with ``idle_timeout`` that have been quiet for that long.

        The activity time comes with the listing where the provider can tell
        (``RunningSession.last_activity``: tmux, subprocess), so idle timeouts cost no
        call at all. Where it cannot, a session is asked (``last_activity``) at most
        once per quarter of its timeout, not once per tick.
        """
        from ..reconcile.desired import session_owner
        from ..reconcile.naming import session_names

        watched = {a.name: a for a in config.agent if a.idle_timeout}
        if not watched:
            self._idle_asked.clear()
            return frozenset()
        idle: set[str] = set()
        now = self.clock()
        seen: set[str] = set()
        naming = session_names(config, self.city.name)
        wanted = (self._derived.desired if self._derived else None) or {}
        aliases = {d.name: d.agent for d in wanted.values() if d.alias}
        for record in running:
            owner = session_owner(record.name, watched, naming, aliases=aliases)
            if owner is None or record.liveness is not Liveness.ALIVE:
                continue
            timeout = float(watched[owner[0]].idle_timeout)
            last = record.last_activity
            if last is None:
                seen.add(record.name)
                last = self._ask_activity(record.name, now, timeout)
            if last is not None and now - last.timestamp() > timeout:
                idle.add(record.name)
        for name in set(self._idle_asked) - seen:
            del self._idle_asked[name]
        return frozenset(idle)

    def _ask_activity(self, name: str, now: float, timeout: float) -> datetime | None:
        asked = self._idle_asked.get(name)
        if asked is not None and now - asked[0] < timeout / 4:
            return asked[1]
        try:
            last = self.hooks.last_activity(name)
        except GasCityError:
            last = None
        self._idle_asked[name] = (now, last)
        return last

    # ----------------------------------------------------------------- execute

    def _emit(self, type_: str, subject: str, message: str, **payload: Any) -> None:
        self.hooks.emit_event(
            EventDraft(type=type_, actor="controller", subject=subject, message=message,
                       payload=payload)
        )

    def _execute(self, plan: Plan, report: TickReport) -> None:
        for event in plan.events:
            self.hooks.emit_event(event)
            if event.type == ev.SESSION_QUARANTINED:
                report.quarantined.append(event.subject)
        for crash in plan.crashes:
            try:
                output = self.hooks.peek(crash.name, 30)
            except Exception as exc:
                output = f"(output unavailable: {exc})"
            report.crashed.append(crash.name)
            self._emit(ev.SESSION_CRASHED, crash.name, f"{crash.name}: {crash.why}",
                       agent=crash.agent, reason=crash.why, output=output[-4000:])
            dead = self.loaded.config.agent_named(crash.agent)
            if dead is not None and dead.on_death:
                run_agent_hook_later(
                    "on_death", dead, city_dir=self.city.dir, city_name=self.city.name,
                    session=crash.name, rig=self.loaded.composition.rig_agents.get(dead.name))
        self._run_stops(plan.stops, plan, report)
        for drain in plan.drains:
            self._drain(drain.name, drain.agent, drain.reason, drain.undrain, report)
        self._run_starts(plan, report)

    def _pool(self, size: int) -> ThreadPoolExecutor:
        workers = max(1, min(self.loaded.config.daemon.start_concurrency, size))
        return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gc-op")

    def _run_stops(self, stops: list[StopAction], plan: Plan, report: TickReport) -> None:
        if not stops:
            return

        def stop(action: StopAction) -> None:
            self._still_leading(f"stopping {action.name}")
            self.dialogs.cancel(action.name)
            self.hooks.stop(action.name)

        # Saved before the first stop: a controller killed mid-stop leaves these names,
        # and the next one finishes the stops instead of recording crashes.
        now = time.time()
        plan.state.stopping.update({a.name: now for a in stops})
        plan.state.save(self.paths.state)
        with self._pool(len(stops)) as pool:
            futures = [(a, pool.submit(stop, a)) for a in stops]
            for action, future in futures:
                try:
                    future.result()
                except NotLeader:
                    raise
                except Exception as exc:
                    log.error("stopping %s failed: %s", action.name, exc)
                    self._emit(ev.SESSION_STOP_FAILED, action.name, f"{action.name}: {exc}",
                               agent=action.agent, reason=action.reason, error=str(exc))
                    continue
                plan.state.fingerprints.pop(action.name, None)
                plan.state.stopping.pop(action.name, None)
                if action.event is not None:
                    report.stopped.append(action.name)
                    self._emit(action.event, action.name,
                               f"{action.name}: stopped ({action.reason})",
                               agent=action.agent, reason=action.reason)

    def _drain(self, name: str, agent: str, reason: str, undrain: bool,
               report: TickReport) -> None:
        self._still_leading(f"{'undraining' if undrain else 'draining'} {name}")
        try:
            if undrain:
                self.hooks.remove_meta(name, META_DRAIN)
                self.hooks.remove_meta(name, META_DRAIN_ACK)
            else:
                self.hooks.set_meta(name, META_DRAIN, reason)
        except Unsupported:
            pass  # the controller's state carries the drain
        except NotLeader:
            raise
        except Exception as exc:
            log.warning("%s %s: %s", "undrain" if undrain else "drain", name, exc)
        if undrain:
            report.undrained.append(name)
            self._emit(ev.SESSION_UNDRAINED, name, f"{name}: wanted again", agent=agent)
        else:
            report.drained.append(name)
            self._emit(ev.SESSION_DRAINING, name, f"{name}: draining ({reason})",
                       agent=agent, reason=reason)

    def _run_starts(self, plan: Plan, report: TickReport) -> None:
        report.blocked.update(plan.blocked)
        if plan.starts:
            self._start_waves(plan, report)
        # Recorded when a session becomes blocked, not on every tick it stays so.
        for name, dep in report.blocked.items():
            if self.state.blocked.get(name) != dep:
                self._emit(ev.SESSION_BLOCKED, name, f"{name}: waiting for {dep}",
                           dependency=dep)
        plan.state.blocked = dict(report.blocked)

    def _start_waves(self, plan: Plan, report: TickReport) -> None:
        """The plan's starts, a wave at a time; a start whose dependency failed to
        start in an earlier wave waits (the plan says which it needs)."""
        by_wave: dict[int, list[StartAction]] = {}
        for action in plan.starts:
            by_wave.setdefault(action.wave, []).append(action)
        timeout = self.loaded.config.session.startup_timeout * 1.5 + 5
        with self._pool(len(plan.starts)) as pool:
            try:
                self._start_each_wave(pool, by_wave, timeout, plan, report)
            except NotLeader:
                # The starts not begun yet are dropped; those under way stop at their
                # provider's next fenced step.
                pool.shutdown(wait=False, cancel_futures=True)
                raise

    def _start_each_wave(self, pool: ThreadPoolExecutor, by_wave: dict[int, list[StartAction]],
                         timeout: float, plan: Plan, report: TickReport) -> None:
        up: set[str] = set()
        for wave in sorted(by_wave):
            futures: list[tuple[StartAction, Future[None]]] = []
            for action in by_wave[wave]:
                dep = action.waiting_for(up)
                if dep is not None:
                    report.blocked[action.session.name] = dep
                    self._not_running(plan, action.session.name)
                    continue
                # The StartConfig is built in the worker: a prompt template that
                # cannot be rendered fails this start, not the tick.
                futures.append((action, pool.submit(self._start_session, action.session)))
            for action, future in futures:
                if self._await_start(action, future, timeout, plan, report):
                    up.add(action.session.name)

    def _await_start(self, action: StartAction, future: Future[None], timeout: float,
                     plan: Plan, report: TickReport) -> bool:
        d = action.session
        try:
            future.result(timeout=timeout)
        except NotLeader:
            raise
        except FutureTimeout:
            self._start_failed(action, f"provider did not return within {timeout:g}s",
                               plan, report)
            return False
        except Exception as exc:
            self._start_failed(action, str(exc) or type(exc).__name__, plan, report)
            return False
        plan.state.fingerprints[d.name] = d.fingerprint
        report.started.append(d.name)
        self._emit(ev.SESSION_WOKE, d.name, f"{d.name}: started ({action.reason})",
                   agent=d.agent, reason=action.reason, instance=d.instance)
        # In the background: a dialog can take up to 32 s to show, and neither this
        # tick nor the next wave of starts waits for it.
        self.dialogs.begin(d.name, d.inputs.launch)
        return True

    def _start_session(self, d: DesiredSession) -> None:
        self._still_leading(f"starting {d.name}")
        self.hooks.start(d.name, d.config)

    def _may_act(self) -> bool:
        coordination = self.coordination
        return coordination is None or coordination.may_act()

    def _still_leading(self, what: str) -> None:
        """Raise :class:`NotLeader` once the lease is lost, before the provider is asked
        anything: a lease lost mid-tick ends the tick's remaining work at once."""
        coordination = self.coordination
        if coordination is not None and not coordination.may_act():
            raise NotLeader(f"{coordination.identity} no longer leads "
                            f"(holder: {coordination.holder() or 'nobody'}); not {what}")

    @staticmethod
    def _not_running(plan: Plan, name: str) -> None:
        """A planned start that did not happen: its absence next tick is no crash."""
        if name in plan.state.last_running:
            plan.state.last_running.remove(name)

    def _start_failed(self, action: StartAction, error: str, plan: Plan,
                      report: TickReport) -> None:
        d = action.session
        report.failed[d.name] = error
        log.error("starting %s failed: %s", d.name, error)
        plan.state.crashes.setdefault(d.agent, []).append(self.clock())
        self._not_running(plan, d.name)
        self._emit(ev.SESSION_START_FAILED, d.name, f"{d.name}: {error}", agent=d.agent,
                   reason=action.reason, error=error)

    # -------------------------------------------------------------- lifecycle

    def request_tick(self, reload: bool = False, wait: float = 60.0) -> int:
        """Wake the loop for a tick now; block until it finished. Returns its number."""
        with self._tick_done:
            target = self.ticks + 1
            if self._tick_lock.locked():
                target += 1  # the tick under way may have read the old config
        if reload:
            self._reload_requested = True
        self._wake.set()
        deadline = time.monotonic() + wait
        with self._tick_done:
            while self.ticks < target and time.monotonic() < deadline:
                self._tick_done.wait(timeout=0.2)
            return self.ticks

    def _apply_intents(self) -> None:
        with self._intents_lock:
            intents, self._intents = self._intents, []
        for verb, name in intents:
            if verb == "unquarantine":
                self.state.quarantined.pop(name, None)
                self.state.crashes.pop(name, None)

    def handle_command(self, command: str) -> str:
        if command == "ping":
            return "pong"
        verb, _, arg = command.partition(" ")
        if verb == "unquarantine" and arg:
            # `gc agent resume`: the controller owns controller-state.json, so the CLI
            # asks it instead of editing the file under it.
            with self._intents_lock:
                self._intents.append((verb, arg))
            return f"ok {arg} unquarantined, tick {self.request_tick()}"
        if command == "poke":
            return f"ok tick {self.request_tick()}"
        if command == "pass":
            # `gc start` on a running city: reconcile now and say what the pass did.
            self.request_tick()
            report = self.last_report
            return "ok " + (report.summary() if report else "no tick finished")
        if command == "reload":
            number = self.request_tick(reload=True)
            report = self.last_report
            if report is not None and report.config_error:
                return "error: " + report.config_error.replace("\n", " | ")
            return f"ok reloaded, tick {number}"
        if command == "stop":
            self._stop_sessions = True  # `gc stop`: the operator wants the city down
            self._stop.set()
            self._wake.set()
            return "ok stopping"
        return (f"error: unknown command {command!r}; expected ping, poke, pass, reload, "
                "stop or unquarantine NAME")

    def stop_requested(self) -> None:
        self._stop.set()
        self._wake.set()

    def health(self) -> dict[str, Any]:
        """For health endpoints: ``ready`` is a leader whose last tick finished without
        error less than three patrol intervals ago, or a follower (it only waits)."""
        report = self.last_report
        coordination = self.coordination
        interval = self.loaded.config.daemon.patrol_interval
        recent = report is not None and self.clock() - self.state.last_tick < 3 * interval + 5
        good = report is not None and not report.aborted and not report.config_error
        leader = coordination.may_act() if coordination is not None else True
        return {
            "leader": leader,
            "holder": coordination.holder() if coordination is not None else None,
            "identity": coordination.identity if coordination is not None else None,
            "ticks": self.ticks,
            "ready": (not leader) or (recent and good),
        }

    def run(self, on_tick: Callable[[TickReport], None] | None = None) -> None:
        """Tick every ``patrol_interval`` until stopped, then shut the city down; with
        a coordinating provider, hand the leadership over and leave the sessions to
        the next leader instead.

        ``on_tick`` sees every finished tick (the supervisor's city runtime reports each
        one to the supervisor)."""
        self._emit(ev.CONTROLLER_STARTED, self.city.name, "controller started",
                   provider=str(self.city.selected("session") or ""))
        self.hooks.controller_started(self)
        for warning in self.loaded.warnings:
            log.warning("%s", warning)
        self.run_boot_hooks()
        try:
            while not self._stop.is_set():
                try:
                    report = self.tick()
                    if on_tick is not None:
                        on_tick(report)
                except Exception:
                    # A provider outage must not kill the controller; next tick retries.
                    log.exception("tick failed")
                self._wake.wait(timeout=self.loaded.config.daemon.patrol_interval)
                self._wake.clear()
        finally:
            self.dialogs.close()
            # A coordinated replica stopped by a signal (a rollout, a node drain) hands
            # the city over and leaves the sessions running; `gc stop` stops them, if
            # this replica leads (a follower has none to stop).
            coordination = self.coordination
            if coordination is None:
                try:
                    self.shutdown_sessions()
                except NotThisCity as exc:
                    log.error("stopping the sessions: %s", exc)
            else:
                if self._stop_sessions and coordination.may_act():
                    try:
                        self.shutdown_sessions()
                    except NotLeader:
                        log.warning("lost the leadership while stopping the sessions")
                coordination.release()
            self._emit(ev.CONTROLLER_STOPPED, self.city.name, "controller stopped")
            self.hooks.controller_stopped(self)

    def _reapply_live(self, desired: dict[str, DesiredSession],
                      running: list[RunningSession], plan: Plan) -> None:
        """Gas City's live drift: a running session whose agent's ``session_live``
        changed gets the commands run again (in gc's process, as at start) and keeps
        running. Cheap when nothing changed: one dict lookup per session."""
        derived = self._derived
        if derived is not None:
            if derived.has_live is None:
                derived.has_live = any(a.session_live for a in self.loaded.config.agent)
            if not derived.has_live:
                return
        busy = {a.session.name for a in plan.starts} | {s.name for s in plan.stops}
        for record in running:
            d = desired.get(record.name)
            if d is None or record.meta is None or record.name in busy:
                continue
            agent = d.inputs.agent
            have = record.meta.get(META_LIVE, "")
            if not agent.session_live and not have:
                continue
            want = live_fingerprint(agent)
            if want == have:
                continue
            try:
                config = d.config
            except Exception as exc:  # a template that cannot render: next tick retries
                log.warning("session %s: session_live not re-applied: %s", record.name, exc)
                continue
            env = {**os.environ, **config.env}
            for key in [k for k, v in config.env.items() if v == ""]:
                env.pop(key, None)
            for command in config.session_live:
                result = run_shell(command, cwd=config.work_dir, env=env, timeout=HOOK_TIMEOUT)
                if not result.ok:
                    log.warning("session %s: session_live command failed (%s)", record.name,
                                result.error or result.describe())
            try:
                self.hooks.set_meta(record.name, META_LIVE, want)
            except Exception as exc:
                log.warning("session %s: cannot record session_live: %s", record.name, exc)

    def run_boot_hooks(self) -> list[str]:
        """Every agent's ``on_boot``, once, at controller start. Returns the failures."""
        failures: list[str] = []
        for agent in self.loaded.config.agent:
            if agent.on_boot and not agent.suspended:
                failed = run_agent_hook(
                    "on_boot", agent, city_dir=self.city.dir, city_name=self.city.name,
                    rig=self.loaded.composition.rig_agents.get(agent.name))
                if failed:
                    failures.append(failed)
        return failures

    def shutdown_sessions(self) -> list[str]:
        """Interrupt every session, wait ``shutdown_timeout``, stop the survivors in
        reverse dependency order. Returns the names stopped.

        A listing that fails is gone past (each known name is stopped instead); a
        backend that says it is another city's (:class:`NotThisCity`) is not: stopping
        by name there would stop that city's sessions, so it is raised untouched."""
        config = self.loaded.config
        try:
            running = self.hooks.list_running("")
        except NotThisCity:
            raise
        except Exception as exc:
            # Stop every name we know of rather than leave sessions behind: stop is
            # idempotent, so a name that is not running costs one call.
            known = sorted(set(self.state.last_running) | self._desired_names())
            log.warning("listing sessions for shutdown failed (%s); stopping each of %d "
                        "known names", exc, len(known))
            running = [RunningSession(n, Liveness.UNKNOWN, detail="listing failed")
                       for n in known]
        # Saved first: killed half-way, the next controller must not count these as
        # crashes (nor quarantine them for it).
        now = time.time()
        self.state.stopping.update({r.name: now for r in running})
        self.state.save(self.paths.state)
        for record in running:
            self.dialogs.cancel(record.name)
            try:
                self.hooks.interrupt(record.name)
            except Exception:
                pass
        deadline = time.monotonic() + config.daemon.shutdown_timeout
        names = {r.name for r in running}
        while time.monotonic() < deadline:
            try:
                current = [r for r in self.hooks.list_running("") if r.name in names]
            except Exception:
                break  # no way to watch them wind down: go on to stop them

            if all(r.liveness is Liveness.DEAD for r in current):
                break
            time.sleep(0.1)
        level = waves(config)
        agents = {a.name: a for a in config.agent}
        from ..reconcile.desired import session_owner
        from ..reconcile.naming import session_names

        naming = session_names(config, self.city.name)

        def order(name: str) -> int:
            owner = session_owner(name, agents, naming)
            return -level.get(owner[0], 0) if owner else 1

        stopped: list[str] = []
        for name in sorted(names, key=order):
            try:
                if self.hooks.stop(name):
                    stopped.append(name)
                    self._emit(ev.SESSION_STOPPED, name, f"{name}: stopped (shutdown)",
                               reason="shutdown")
            except Exception as exc:
                log.error("stopping %s failed: %s", name, exc)
        self.state.drains.clear()
        self.state.last_running = []
        self.state.stopping.clear()
        self.state.save(self.paths.state)
        return stopped
