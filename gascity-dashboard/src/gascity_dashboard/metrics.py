"""Prometheus metrics of one controller, in a registry of its own.

Counters and histograms are updated from the observer hooks (a few operations per
tick, whatever the city's size); the per-session and per-pool gauges are computed
at scrape time from the tick's listing, so a big city pays for them only when
Prometheus asks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from gascity.reconcile.desired import session_owner
from gascity.reconcile.naming import session_names
from gascity.types import EventDraft

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from gascity.controller.controller import Controller, TickReport

    from .feed import EventFeed
    from .view import CityView

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_SECONDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_CALLS = (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)


class _CityCollector(Collector):
    """Gauges read from the latest tick when scraped."""

    def __init__(self, view: CityView, feed: EventFeed) -> None:
        self.view = view
        self.feed = feed

    def collect(self) -> Iterable[Metric]:
        sessions = GaugeMetricFamily(
            "gascity_sessions", "Sessions seen by the latest listing, by agent and state.",
            labels=["agent", "state"])
        counts: dict[tuple[str, str], int] = {}
        for row in self.view.sessions():
            key = (row.agent, row.state)
            counts[key] = counts.get(key, 0) + 1
        for (agent, state), n in sorted(counts.items()):
            sessions.add_metric([agent, state], n)
        yield sessions

        desired = GaugeMetricFamily(
            "gascity_pool_desired_sessions", "Sessions a pool should run (its scale_check, "
            "clamped to min/max).", labels=["pool"])
        running = GaugeMetricFamily(
            "gascity_pool_running_sessions", "Sessions of a pool the latest listing found.",
            labels=["pool"])
        for pool in self.view.pools():
            desired.add_metric([pool["name"]], pool["desired"])
            running.add_metric([pool["name"]], pool["running"])
        yield desired
        yield running

        ready = GaugeMetricFamily("gascity_controller_ready",
                                  "1 when /readyz answers ready.")
        ready.add_metric([], 0 if self.view.not_ready() else 1)
        yield ready

        spool = GaugeMetricFamily(
            "gascity_events_spooled", "Events kept in a local spool, waiting for the store.")
        spool.add_metric([], float(self._spool_depth()))
        yield spool
        yield from self._supervisor()

    def _supervisor(self) -> Iterable[Metric]:
        """The machine-wide supervisor's health, when it runs this controller (asked at
        scrape time: one line over its socket)."""
        link = self.view.controller.supervisor
        if link is None:
            return
        health = link.health()
        up = GaugeMetricFamily("gascity_supervisor_up",
                               "1 when the supervisor running this city answers.")
        up.add_metric([], 1 if health.get("running") else 0)
        yield up
        if not health.get("running"):
            return
        for name, help_text, value in (
            ("gascity_supervisor_cities", "Cities registered with the supervisor.",
             health.get("cities")),
            ("gascity_supervisor_cities_running", "Registered cities whose runtime runs.",
             health.get("cities_running")),
            ("gascity_supervisor_cities_failing",
             "Registered cities whose runtime waits out its restart backoff.",
             len(health.get("failing") or [])),
            ("gascity_supervisor_uptime_seconds", "Seconds since the supervisor started.",
             health.get("uptime")),
        ):
            if isinstance(value, int | float):
                gauge = GaugeMetricFamily(name, help_text)
                gauge.add_metric([], float(value))
                yield gauge

    def _spool_depth(self) -> float:
        try:
            info = self.view.controller.hooks.status_info()
        except Exception:
            return 0.0
        total = 0.0
        for key, value in info.items():
            if key.endswith("spool_depth") and isinstance(value, int | float):
                total += value
        return total


class Metrics:
    def __init__(self, view: CityView, feed: EventFeed) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.tick_seconds = Histogram(
            "gascity_tick_duration_seconds", "Wall time of one reconcile tick.",
            buckets=_SECONDS, registry=r)
        self.tick_calls = Histogram(
            "gascity_tick_provider_calls", "Session-provider calls per tick.",
            buckets=_CALLS, registry=r)
        self.provider_calls = Counter(
            "gascity_provider_calls_total", "Session-provider calls, by hook.",
            ["hook"], registry=r)
        self.scale_seconds = Histogram(
            "gascity_scale_check_duration_seconds", "Wall time of one pool's scale_check.",
            ["pool"], buckets=_SECONDS, registry=r)
        self.scale_failures = Counter(
            "gascity_scale_check_failures_total",
            "scale_check runs whose answer was not used (error, timeout, garbage).",
            ["pool"], registry=r)
        self.starts = Counter("gascity_session_starts_total", "Sessions started.",
                              ["agent"], registry=r)
        self.start_failures = Counter("gascity_session_start_failures_total",
                                      "Session starts that failed.", ["agent"], registry=r)
        self.stops = Counter("gascity_session_stops_total", "Sessions stopped.",
                             ["agent"], registry=r)
        self.crashes = Counter("gascity_session_crashes_total",
                               "Sessions found crashed (dead agent process or vanished).",
                               ["agent"], registry=r)
        self.quarantines = Counter("gascity_session_quarantines_total",
                                   "Agents quarantined for crash-looping.", ["agent"],
                                   registry=r)
        self.config_rejections = Counter(
            "gascity_config_rejections_total",
            "city.toml changes rejected (the previous config was kept).", registry=r)
        self.events = Counter("gascity_events_total", "Events recorded by this controller.",
                              ["type"], registry=r)
        self.events_unstored = Counter(
            "gascity_events_unstored_total",
            "Events no store acknowledged (spooled or lost).", registry=r)
        self.mail_sent = Counter(
            "gascity_mail_sent_total", "mail.sent events seen in the event store.",
            registry=r)
        self.ticks = Counter("gascity_ticks_total", "Reconcile ticks finished.", registry=r)
        r.register(_CityCollector(view, feed))
        # The controller process's own CPU, memory and file descriptors, under the
        # names every Prometheus exporter gives them (process_*).
        ProcessCollector(registry=r)

    def on_tick(self, controller: Controller, report: TickReport,
                calls: Mapping[str, int]) -> None:
        self.ticks.inc()
        self.tick_seconds.observe(report.seconds)
        self.tick_calls.observe(sum(calls.values()))
        for hook, n in calls.items():
            self.provider_calls.labels(hook).inc(n)
        for pool, result in report.scale.items():
            if result.finished >= result.started > 0:
                self.scale_seconds.labels(pool).observe(result.finished - result.started)
            # A capped answer carries a warning in ``error`` but was used (clamped).
            if result.error and not result.capped:
                self.scale_failures.labels(pool).inc()
        changed = (report.started, report.failed, report.stopped, report.crashed,
                   report.quarantined)
        if not any(changed):
            return  # the steady tick
        agents = {a.name: a for a in controller.loaded.config.agent}
        names = session_names(controller.loaded.config, controller.loaded.city_name)

        def agent_of(name: str) -> str:
            owner = session_owner(name, agents, names)
            return owner[0] if owner else ""

        for name in report.started:
            self.starts.labels(agent_of(name)).inc()
        for name in report.failed:
            self.start_failures.labels(agent_of(name)).inc()
        for name in report.stopped:
            self.stops.labels(agent_of(name)).inc()
        for name in report.crashed:
            self.crashes.labels(agent_of(name)).inc()
        for subject in report.quarantined:
            self.quarantines.labels(agent_of(subject) or subject).inc()

    def on_event(self, event: EventDraft, stored: bool) -> None:
        self.events.labels(event.type).inc()
        if not stored:
            self.events_unstored.inc()
        if event.type == "config.rejected":
            self.config_rejections.inc()

    def on_stored_event(self, type_: str) -> None:
        """Every event the feed reads from the store (any process wrote it)."""
        if type_ == "mail.sent":
            self.mail_sent.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
