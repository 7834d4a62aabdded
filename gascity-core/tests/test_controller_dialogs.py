"""The controller's startup-dialog step over in-process providers: the gate, what
reaches the provider, skipping a provider without keys, cancel on stop, the bound."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from gascity import hookimpl
from gascity.city import City
from gascity.controller import Controller
from gascity.testing import FakeProvider, MemoryEvents, open_test_city, wait_for
from gascity.types import StartConfig

TRUST = " Do you trust the files in this folder?\n \u276f 1. Yes, proceed\n   2. No, exit\n"
PROMPT = "\u276f \n"
BANNER = " * starting up\n"


class KeyedFake(FakeProvider):
    """The fake provider with a screen and a keyboard: each session shows ``screen``
    (a per-name override in ``screens``) until Enter turns a trust dialog into a
    prompt."""

    def __init__(self, screen: str = TRUST) -> None:
        super().__init__()
        self.screen = screen
        self.screens: dict[str, str] = {}
        self.keys: dict[str, list[str]] = {}
        self.configs: dict[str, StartConfig] = {}
        self.peeked: set[str] = set()
        self.peek_error: Exception | None = None
        self.lock = threading.Lock()

    @hookimpl
    def start(self, name: str, config: StartConfig) -> bool:
        self.configs[name] = config
        return super().start(name, config)

    @hookimpl
    def peek(self, name: str, lines: int) -> str:
        with self.lock:
            self.peeked.add(name)
        if self.peek_error is not None:
            raise self.peek_error
        return self.screens.get(name, self.screen)

    @hookimpl
    def send_keys(self, name: str, keys: Sequence[str]) -> bool:
        with self.lock:
            self.keys.setdefault(name, []).extend(keys)
            if self.screens.get(name, self.screen) == TRUST and list(keys) == ["Enter"]:
                self.screens[name] = PROMPT
        return True


@pytest.fixture
def cities(tmp_path: Path) -> Iterator[list[City]]:
    opened: list[City] = []
    yield opened
    for city in opened:
        city.close()


def controller(tmp_path: Path, toml: str, provider: object,
               cities: list[City]) -> Controller:
    (tmp_path / "city.toml").write_text("[workspace]\nname = \"c\"\n" + toml)
    city = open_test_city(tmp_path, session=provider, events=MemoryEvents())
    cities.append(city)
    return Controller(city)


CLAUDE = '[[agent]]\nname = "mayor"\nprovider = "claude"\n'


def test_a_claude_agent_gets_its_trust_dialog_answered(tmp_path: Path,
                                                       cities: list[City]) -> None:
    fake = KeyedFake()
    ctl = controller(tmp_path, CLAUDE, fake, cities)
    assert ctl.tick().started == ["mayor"]
    assert fake.configs["mayor"].emits_permission_warning is True  # reached the start
    assert ctl.dialogs.wait(20)
    assert fake.keys == {"mayor": ["Enter"]}
    assert fake.screens["mayor"] == PROMPT


def test_the_gate_is_the_references(tmp_path: Path, cities: list[City]) -> None:
    fake = KeyedFake()
    ctl = controller(tmp_path, (
        '[[agent]]\nname = "plain"\nstart_command = "run"\n'
        '[[agent]]\nname = "named"\nstart_command = "run"\nprocess_names = ["run"]\n'
        '[[agent]]\nname = "warns"\nstart_command = "run"\nemits_permission_warning = true\n'
        '[[agent]]\nname = "off"\nprovider = "claude"\nemits_permission_warning = false\n'
    ), fake, cities)
    assert sorted(ctl.tick().started) == ["named", "off", "plain", "warns"]
    assert ctl.dialogs.wait(20)
    # "off" still names its processes (node, claude): the reference dismisses then too.
    assert sorted(fake.keys) == ["named", "off", "warns"]
    assert "plain" not in fake.peeked


def test_a_provider_without_send_keys_is_skipped(tmp_path: Path, cities: list[City]) -> None:
    fake = FakeProvider()  # peek, but no send_keys
    ctl = controller(tmp_path, CLAUDE, fake, cities)
    assert ctl.tick().started == ["mayor"]
    assert not ctl.dialogs.supported()
    assert ctl.dialogs.active() == []


def test_a_failing_screen_is_logged_not_raised(tmp_path: Path, cities: list[City],
                                               caplog: pytest.LogCaptureFixture) -> None:
    fake = KeyedFake()
    fake.peek_error = RuntimeError("capture-pane: lost server")
    ctl = controller(tmp_path, CLAUDE, fake, cities)
    with caplog.at_level(logging.WARNING, logger="gascity.controller.dialogs"):
        assert ctl.tick().started == ["mayor"]
        assert ctl.dialogs.wait(20)
    assert "session mayor: startup dialogs not answered: workspace trust dialog: " \
        "capture-pane: lost server" in caplog.text
    report = ctl.tick()
    assert report.started == [] and report.failed == {}  # the session runs on


def test_a_stop_cancels_the_dismissal(tmp_path: Path, cities: list[City]) -> None:
    fake = KeyedFake(screen=BANNER)  # no dialog and no prompt: 32 s of polling
    ctl = controller(tmp_path, CLAUDE, fake, cities)
    assert ctl.tick().started == ["mayor"]
    assert ctl.dialogs.active() == ["mayor"]
    (tmp_path / "city.toml").write_text('[workspace]\nname = "c"\n')
    report = ctl.tick()
    assert report.stopped == ["mayor"], report
    assert ctl.dialogs.wait(5)  # one poll (0.5 s), not the 32 s left
    assert fake.keys == {}


def test_at_most_start_concurrency_sessions_are_polled_at_once(
        tmp_path: Path, cities: list[City]) -> None:
    fake = KeyedFake(screen=BANNER)
    agents = "".join(f'[[agent]]\nname = "a{i}"\nprovider = "claude"\n' for i in range(5))
    ctl = controller(tmp_path, "[daemon]\nstart_concurrency = 2\n" + agents, fake, cities)
    assert len(ctl.tick().started) == 5
    assert len(ctl.dialogs.active()) == 5
    wait_for(lambda: len(fake.peeked) >= 2, 10, what="two sessions polled")
    time.sleep(1.5)  # three polls' time: without the bound all five start in ms
    assert len(fake.peeked) == 2
    ctl.dialogs.close()
    assert ctl.dialogs.active() == []
    assert not ctl.dialogs.begin("late", fake.configs["a0"])  # closed: nothing new


def test_the_controller_loop_closes_them_when_it_ends(tmp_path: Path,
                                                     cities: list[City]) -> None:
    fake = KeyedFake(screen=BANNER)
    ctl = controller(tmp_path, "[daemon]\nshutdown_timeout = \"0s\"\n" + CLAUDE, fake, cities)
    ticked = threading.Event()
    loop = threading.Thread(target=ctl.run, kwargs={"on_tick": lambda r: ticked.set()})
    loop.start()
    assert ticked.wait(20)
    assert ctl.dialogs.active() == ["mayor"]
    ctl.stop_requested()
    loop.join(20)
    assert not loop.is_alive()
    assert ctl.dialogs.active() == []


class _Seat:
    """An election seat the test hands over (the controller's coordination)."""

    identity = "me"

    def __init__(self) -> None:
        self.leading = True

    def may_act(self) -> bool:
        return self.leading

    def holder(self) -> str | None:
        return self.identity if self.leading else "someone-else"

    def on_change(self, callback: object) -> None:
        pass

    def load_state(self) -> str | None:
        return None

    def save_state(self, text: str) -> None:
        pass

    def release(self) -> None:
        self.leading = False


class _LeasedFake(KeyedFake):
    def __init__(self, seat: _Seat) -> None:
        super().__init__(screen=BANNER)
        self.seat = seat

    @hookimpl
    def coordination(self) -> _Seat:
        return self.seat


def test_a_replica_that_lost_its_lease_types_no_answer(tmp_path: Path,
                                                      cities: list[City]) -> None:
    # The controller checks the lease before each start and stop it hands to a
    # provider; a dismissal under way is the same replica acting on a session, so a
    # lost lease ends its keys too (a provider without a fence of its own would type).
    seat = _Seat()
    fake = _LeasedFake(seat)
    ctl = controller(tmp_path, CLAUDE, fake, cities)
    assert ctl.tick().started == ["mayor"]
    assert ctl.dialogs.active() == ["mayor"]
    seat.leading = False  # the lease ran out; then the trust dialog shows
    with fake.lock:
        fake.screens["mayor"] = TRUST
    assert ctl.dialogs.wait(20)
    assert fake.keys == {}
