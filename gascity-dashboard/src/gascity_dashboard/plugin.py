"""The observer plugin: loaded in every process, active only in a foreground controller.

Importing and building it is cheap (no prometheus_client, no HTTP server): every
``gc`` command that opens a city loads observers, and agents run those in hot
loops. The heavy parts are imported in :meth:`DashboardPlugin.controller_started`,
and only when ``[api] port`` is set.

What it hooks, so a third party can add its own sink the same way:

* a wrapper around every session-provider hook: provider calls per tick (those of
  the API's own request threads are counted, but not as the tick's), and the tick's
  listing (kept by reference, read when someone asks);
* a wrapper around ``emit_event``: events by type, config rejections, and a nudge to
  the event feed so the SSE stream sees the stored event at once;
* ``tick_finished``: tick and scale-check durations, starts/stops/crashes/quarantines;
* ``controller_started`` / ``controller_stopped``: the HTTP server's lifetime.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from gascity import hookimpl
from gascity.plugins.manager import ROLE_HOOKS
from gascity.types import Event, EventDraft, RunningSession

if TYPE_CHECKING:
    from gascity.controller.controller import Controller, TickReport
    from gascity.plugins.context import PluginContext

    from .server import ApiServer

__all__ = ["DashboardPlugin", "api_thread"]

log = logging.getLogger("gascity.dashboard")

api_thread = threading.local()
"""``api_thread.serving`` is true in the HTTP server's request threads: a peek or a kill
asked for through the API is a provider call, but not one the tick made."""


class DashboardPlugin:
    """Entry point ``gascity.observers: dashboard``."""

    def __init__(self, ctx: PluginContext | None = None) -> None:
        self.ctx = ctx
        self.server: ApiServer | None = None
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self.listing: list[RunningSession] | None = None
        """The latest ``list_running`` answer, whoever asked for it."""

    @property
    def active(self) -> bool:
        return self.server is not None

    # ------------------------------------------------------------ lifecycle

    @hookimpl
    def controller_started(self, controller: Controller) -> None:
        api = controller.loaded.config.api
        if not api.port:
            return
        from .auth import bind_or_default
        from .server import ApiServer

        try:
            server = ApiServer(controller, self)
        except OSError as exc:
            # A taken port must not stop the fleet: the controller runs without its API.
            log.error("%s: [api] port = %d, bind = %r: cannot listen: %s; the controller "
                      "runs without its HTTP API", controller.loaded.path, api.port,
                      bind_or_default(api.bind), exc.strerror or exc)
            return
        server.start()
        self.server = server

    @hookimpl
    def tick_finished(self, controller: Controller, report: TickReport) -> None:
        server = self.server
        if server is None:
            return
        with self._lock:
            calls = dict(self._calls)
            self._calls.clear()
        server.view.on_tick(report)
        server.metrics.on_tick(controller, report, calls)

    @hookimpl
    def controller_stopped(self, controller: Controller) -> None:
        server, self.server = self.server, None
        if server is not None:
            server.close()

    @hookimpl
    def shutdown(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            server.close()

    # ------------------------------------------------------------- watching

    def _count(self, hook: str) -> None:
        server = self.server
        if server is None:
            return
        if getattr(api_thread, "serving", False):
            server.metrics.provider_calls.labels(hook).inc()
            return
        with self._lock:
            self._calls[hook] += 1

    @hookimpl(wrapper=True)
    def emit_event(self, event: EventDraft) -> Generator[None, Any, Any]:
        results = yield
        server = self.server
        if server is not None:
            stored = next((r for r in results if isinstance(r, Event)), None)
            server.metrics.on_event(event, stored is not None)
            server.feed.poke()
        return results


def _session_wrapper(name: str) -> Any:
    # Takes no hook arguments: pluggy lets an implementation accept a subset.
    if name == "list_running":

        def listing(self: DashboardPlugin) -> Generator[None, Any, Any]:
            self._count(name)
            result = yield
            if self.server is not None and result is not None:
                self.listing = result
            return result

        listing.__name__ = name
        return hookimpl(wrapper=True)(listing)

    def wrapper(self: DashboardPlugin) -> Generator[None, Any, Any]:
        self._count(name)
        return (yield)

    wrapper.__name__ = name
    return hookimpl(wrapper=True)(wrapper)


for _hook in sorted(ROLE_HOOKS["session"]):
    setattr(DashboardPlugin, _hook, _session_wrapper(_hook))
