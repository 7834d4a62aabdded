"""A baseline reconciler: the reference's loop before its Phase 1, for side-by-side runs.

Per tick it asks the provider about every agent on its own, the way the Go
reference did before "pre-fetch the running set":

* pool sizes: one is-running per possible pool instance (``countRunningPoolInstances``);
* every desired session: is-running, then (if running) process-alive and get-meta of
  the config fingerprint;
* orphan cleanup: one full listing.

Our contract has no per-name "is running" hook, so is-running is ``get_meta`` of the
agent key (``SessionNotFound`` = not running): one per-name round trip to the backing
system, which is what ``tmux has-session`` / ``kubectl get pod`` cost the reference.
The hook breakdown therefore shows ``get_meta`` twice per agent plus the pool probes.

It runs through the same :class:`~gascity.city.City` hooks (observers included) and
the same provider objects as :class:`~gascity.controller.Controller`, so a
:class:`~gascity.testing.HookCallCounter` counts both the same way.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from gascity.city import City
from gascity.errors import GasCityError, SessionNotFound
from gascity.reconcile import build_desired, session_owner
from gascity.reconcile.desired import DesiredSession
from gascity.types import META_AGENT, META_FINGERPRINT

__all__ = ["BaselineReconciler", "BaselineReport"]


@dataclass
class BaselineReport:
    started: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    running: int = 0
    desired: int = 0
    seconds: float = 0.0


class BaselineReconciler:
    """One tick at a time; pool scale checks are not run (static pool sizes)."""

    def __init__(self, city: City) -> None:
        self.city = city
        self.hooks = city.hooks
        self.pool_running: dict[str, int] = {}
        """What the last tick's per-instance probes counted, per pool."""

    def _is_running(self, name: str) -> bool:
        # The reference's IsRunning(name) was one per-name round trip (``tmux
        # has-session``, ``kubectl get pod``). Our contract's per-name lookup is get_meta,
        # which raises SessionNotFound for a session that does not exist.
        try:
            self.hooks.get_meta(name, META_AGENT)
        except SessionNotFound:
            return False
        return True

    def _desired(self) -> dict[str, DesiredSession]:
        config = self.city.loaded.config
        counts: dict[str, int] = {}
        for agent in config.agent:
            if not agent.is_pool:
                continue
            top = agent.max_active_sessions or agent.min_sessions
            # countRunningPoolInstances: one is-running per possible instance.
            names = [agent.name] if top == 1 else [f"{agent.name}-{i}"
                                                    for i in range(1, top + 1)]
            self.pool_running[agent.name] = sum(1 for n in names if self._is_running(n))
            counts[agent.name] = top  # static pools: the benchmark cities run no checks
        return dict(build_desired(config, counts, city_name=self.city.name,
                                  city_dir=self.city.dir))

    def tick(self) -> BaselineReport:
        t0 = time.perf_counter()
        report = BaselineReport()
        config = self.city.loaded.config
        desired = self._desired()
        report.desired = len(desired)
        to_start: list[DesiredSession] = []
        to_restart: list[DesiredSession] = []
        for name, d in desired.items():
            if not self._is_running(name):
                to_start.append(d)
                continue
            _agent = next(a for a in config.agent if a.name == d.agent)  # its config scan
            process_names = list(d.inputs.launch.process_names)  # the provider's if unset
            alive = self.hooks.process_alive(name, process_names)
            try:
                stored = self.hooks.get_meta(name, META_FINGERPRINT)
            except GasCityError:
                stored = None
            dead = bool(process_names) and alive is False
            if dead or (stored is not None and stored != d.fingerprint):
                to_restart.append(d)
                continue
            report.running += 1
        agents = {a.name: a for a in config.agent}
        orphans = [r.name for r in self.hooks.list_running("")
                   if r.name not in desired and session_owner(r.name, agents) is None]
        for name in [*orphans, *(d.name for d in to_restart)]:
            if self.hooks.stop(name):
                report.stopped.append(name)
        workers = max(1, min(config.daemon.start_concurrency, len(to_start) + len(to_restart)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {d.name: pool.submit(self.hooks.start, d.name, d.config)
                       for d in [*to_start, *to_restart]}
            for name, future in futures.items():
                try:
                    future.result()
                except Exception as exc:
                    report.failed[name] = str(exc) or type(exc).__name__
                else:
                    report.started.append(name)
        report.seconds = time.perf_counter() - t0
        return report
