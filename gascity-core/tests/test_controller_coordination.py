"""The controller as one of several replicas: followers do nothing, a lost lease ends
the tick at once, state goes through the coordination and only when it changed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gascity import hookimpl
from gascity.controller import Controller
from gascity.errors import NotLeader
from gascity.testing import FakeProvider, MemoryEvents, open_test_city
from gascity.types import RunningSession, StartConfig


class Seat:
    """An in-memory election seat: the test decides who leads."""

    def __init__(self, identity: str) -> None:
        self.identity = identity
        self.leading = True
        self.saved: list[str] = []
        self.stored: str | None = None
        self.released = False
        self.listeners: list[Callable[[], None]] = []

    def may_act(self) -> bool:
        return self.leading

    def holder(self) -> str | None:
        return self.identity if self.leading else "someone-else"

    def on_change(self, callback: Callable[[], None]) -> None:
        self.listeners.append(callback)

    def load_state(self) -> str | None:
        return self.stored

    def save_state(self, text: str) -> None:
        if not self.leading:
            raise NotLeader("not leading")
        self.saved.append(text)
        self.stored = text

    def release(self) -> None:
        self.released = True
        self.leading = False


class FencedProvider(FakeProvider):
    def __init__(self, seat: Seat) -> None:
        super().__init__()
        self.seat = seat
        self.lose_after_starts = -1
        self.attempts = 0
        """Calls of start, fenced ones included."""
        self.lose_on_list = False

    @hookimpl
    def list_running(self, prefix: str) -> list[RunningSession]:
        result = super().list_running(prefix)
        if self.lose_on_list:
            self.seat.leading = False  # the lease ran out during the tick's listing
        return result

    @hookimpl
    def coordination(self) -> Seat:
        return self.seat

    @hookimpl
    def start(self, name: str, config: StartConfig) -> bool:
        self.attempts += 1
        if not self.seat.may_act():
            raise NotLeader(f"not leading; not starting {name}")
        result = super().start(name, config)
        if len(self.calls_to("start")) == self.lose_after_starts:
            self.seat.leading = False  # the lease ran out while this start ran
        return result


def _city(tmp_path: Path, agents: int) -> Path:
    city = tmp_path / "city"
    city.mkdir()
    (city / "city.toml").write_text(
        '[workspace]\nname = "ha"\n[daemon]\nstart_concurrency = 1\n'
        + "".join(f'[[agent]]\nname = "a{i}"\ncommand = "run"\n' for i in range(agents))
    )
    return city


def test_follower_tick_does_nothing(tmp_path: Path) -> None:
    seat = Seat("me")
    seat.leading = False
    provider = FencedProvider(seat)
    controller = Controller(open_test_city(_city(tmp_path, 2), session=provider,
                                           events=MemoryEvents()))
    report = controller.tick()
    assert report.follower == "someone-else"
    assert "follower" in report.summary()
    assert provider.calls == []  # not even a listing
    assert seat.saved == []
    assert controller.health()["ready"] and not controller.health()["leader"]


def test_lease_lost_mid_tick_stops_the_tick_at_once(tmp_path: Path) -> None:
    seat = Seat("me")
    provider = FencedProvider(seat)
    provider.lose_after_starts = 1
    events = MemoryEvents()
    controller = Controller(open_test_city(_city(tmp_path, 4), session=provider, events=events))
    report = controller.tick()
    assert report.aborted is not None and "no longer leads" in report.aborted
    assert len(provider.calls_to("start")) == 1
    assert provider.attempts == 1  # the other three never reached the provider
    assert report.failed == {}  # a lost lease is not a start failure: no crash counted
    assert controller.state.crashes == {}
    assert seat.saved == []  # a stale replica writes no state
    assert not controller.health()["leader"]


def test_lease_lost_before_the_stops_stops_nothing(tmp_path: Path) -> None:
    seat = Seat("me")
    provider = FencedProvider(seat)
    city = _city(tmp_path, 3)
    controller = Controller(open_test_city(city, session=provider, events=MemoryEvents()))
    controller.tick()
    (city / "city.toml").write_text('[workspace]\nname = "ha"\n')  # every agent orphaned
    provider.lose_on_list = True  # leading when the tick begins, not by its stops
    calls = len(provider.calls)
    report = controller.tick()
    assert report.aborted is not None and "no longer leads" in report.aborted
    assert provider.calls_to("stop") == [] and provider.names() == ["a0", "a1", "a2"]
    assert [c for c in provider.calls[calls:] if c[0] != "list_running"] == []


def test_state_is_shared_only_when_it_changes_and_resumed_on_takeover(tmp_path: Path) -> None:
    seat = Seat("me")
    provider = FencedProvider(seat)
    city = _city(tmp_path, 2)
    controller = Controller(open_test_city(city, session=provider, events=MemoryEvents()))
    controller.tick()
    assert len(seat.saved) == 1 and '"last_running":["a0","a1"]' in seat.saved[0]
    controller.tick()
    controller.tick()
    assert len(seat.saved) == 1  # steady ticks write nothing
    # Another replica takes over with what this one saved.
    seat2 = Seat("other")
    seat2.leading = False
    seat2.stored = seat.stored.replace('"quarantined":{}', '"quarantined":{"a1":5.0}')
    second = FencedProvider(seat2)
    second.sessions = provider.sessions  # the same fleet, seen from another replica
    other = Controller(open_test_city(city, session=second, events=MemoryEvents()))
    assert other.tick().follower is not None
    seat2.leading = True
    other.tick()
    assert other.state.quarantined == {"a1": 5.0}
    assert seat2.saved == []  # it resumed exactly what was stored: nothing to write


def test_a_coordinated_controller_hands_over_instead_of_stopping_sessions(
    tmp_path: Path,
) -> None:
    seat = Seat("me")
    provider = FencedProvider(seat)
    controller = Controller(open_test_city(_city(tmp_path, 1), session=provider,
                                           events=MemoryEvents()))
    controller.tick()
    controller.stop_requested()
    controller.run()
    assert seat.released
    assert provider.calls_to("stop") == []
    assert provider.names() == ["a0"]


def test_health_leader_needs_a_good_recent_tick(tmp_path: Path) -> None:
    seat = Seat("me")
    controller = Controller(open_test_city(_city(tmp_path, 1), session=FencedProvider(seat),
                                           events=MemoryEvents()))
    assert controller.health()["ready"] is False  # leading, but no tick yet
    controller.tick()
    health = controller.health()
    assert health["ready"] and health["leader"] and health["identity"] == "me"


def test_gc_stop_on_the_leader_stops_the_sessions_then_hands_over(tmp_path: Path) -> None:
    seat = Seat("me")
    provider = FencedProvider(seat)
    controller = Controller(open_test_city(_city(tmp_path, 1), session=provider,
                                           events=MemoryEvents()))
    controller.tick()
    assert controller.handle_command("stop") == "ok stopping"
    controller.run()
    assert provider.calls_to("stop") == ["a0"]
    assert seat.released
