"""The listing outage kit: a provider whose ``list_running`` fails never aborts a
tick or a stop.

The reference's screen script exits 1 from ``list-running`` on an empty server, and
any backend can lose its listing for a while (an API server down, a socket gone).
The kit runs a real controller over the subclass's real provider with one fault
injected in front of it (:class:`ListingOutage`: ``list_running`` raises, every
other hook is the provider's own) and checks what the controller must do: one
``session.list_failed`` event per outage, the desired sessions started or asked
``is_running``, no orphan stopped, nothing counted as a crash, and a shutdown that
stops every known name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ... import event_names as ev
from ... import hookimpl
from ...controller import Controller
from ...errors import SessionError
from ...types import EventFilter, StartConfig
from ..memory import MemoryEvents
from ..support import open_test_city, wait_for

__all__ = ["ListingOutage", "ListingOutageKit"]

AGENTS = ("mayor", "deacon")
AGENT_COMMAND = "trap '' INT; sleep 1000"
"""Ignores the shutdown's interrupt, so only a stop ends it."""


class ListingOutage:
    """A fault plugin: while ``down``, ``list_running`` raises as a broken backend does;
    otherwise it steps aside (``None``) and the provider answers."""

    def __init__(self) -> None:
        self.down = True

    @hookimpl(tryfirst=True)
    def list_running(self, prefix: str) -> None:
        if self.down:
            raise SessionError("listing failed: No Sockets found (injected outage)")


class ListingOutageKit:
    """Subclass, and provide an ``outage_provider`` fixture: a real session provider
    object for the city in ``outage_city`` (its ``city.toml`` is written by the kit)."""

    timeout = 20.0

    @pytest.fixture
    def outage_city(self, tmp_path: Path) -> Path:
        city = tmp_path / "outage-city"
        city.mkdir()
        agents = "".join(
            f'\n[[agent]]\nname = "{name}"\ncommand = "{AGENT_COMMAND}"\n' for name in AGENTS
        )
        (city / "city.toml").write_text(f'[workspace]\nname = "outage"\n{agents}')
        return city

    @pytest.fixture
    def outage_provider(self, outage_city: Path) -> Iterator[Any]:
        raise NotImplementedError("subclass the kit and provide an outage_provider fixture")

    def _names(self, provider: Any) -> set[str]:
        """The provider's own listing, past the fault."""
        return {r.name for r in provider.list_running("")}

    def test_a_listing_outage_never_aborts_a_tick_or_a_stop(
        self, outage_provider: Any, outage_city: Path
    ) -> None:
        provider = outage_provider
        stray = "stray-session"  # no agent's: an orphan the controller cannot see
        for name in (stray, "mayor"):  # mayor: left running by an earlier controller
            provider.start(name, StartConfig(command=AGENT_COMMAND, work_dir=str(outage_city),
                                             startup_timeout=self.timeout))
        try:
            self._check_outage(provider, outage_city, stray)
        finally:
            provider.stop(stray)

    def _check_outage(self, provider: Any, city_dir: Path, stray: str) -> None:
        fault, events = ListingOutage(), MemoryEvents()
        city = open_test_city(city_dir, session=provider, events=events, observers=[fault])
        controller = Controller(city)
        # With a probe, each desired session is asked: mayor runs, deacon is started.
        # Without one a session cannot be judged, so nothing is started twice.
        probes = city.hooks.implements("is_running")
        first = controller.tick()
        assert first.started == (["deacon"] if probes else []), first.summary()
        assert (first.crashed, first.stopped) == ([], [])
        if probes:
            wait_for(lambda: "deacon" in self._names(provider), self.timeout, what="deacon up")
        second = controller.tick()  # asked, found (or not judged): left alone
        assert (second.started, second.stopped, second.crashed) == ([], [], [])
        if probes:
            provider.stop("deacon")  # vanished while the listing is down
            wait_for(lambda: "deacon" not in self._names(provider), self.timeout,
                     what="deacon gone")
            third = controller.tick()
            assert (third.started, third.crashed) == (["deacon"], []), third.summary()
            wait_for(lambda: "deacon" in self._names(provider), self.timeout,
                     what="deacon back")
        assert stray in self._names(provider), "no orphan stop without a listing"
        failed = events.list_events(EventFilter(types=(ev.SESSION_LIST_FAILED,)))
        assert len(failed) == 1, "one event per outage, not one per tick"
        assert "injected outage" in failed[0].message
        assert not events.list_events(EventFilter(types=(ev.SESSION_CRASHED,)))

        # gc stop: every known name is stopped (the agents ignore the interrupt first).
        stopped = controller.shutdown_sessions()
        assert sorted(stopped) == (sorted(AGENTS) if probes else ["mayor"])
        wait_for(lambda: not set(AGENTS) & self._names(provider), self.timeout,
                 what="agents stopped")
        assert stray in self._names(provider)
