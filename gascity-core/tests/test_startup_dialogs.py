"""The startup-dialog phases on recorded screen texts, on a fake clock (no real time)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from gascity.startup_dialogs import (
    PHASE_TIMEOUT,
    POLL_INTERVAL,
    DialogError,
    accept_startup_dialogs,
    shows_prompt,
)

# Screens as a terminal agent draws them (written for these tests).
TRUST = """\
 Do you trust the files in this folder?

 /home/dev/project

 Claude Code may read files in this folder. Reading untrusted files may lead
 Claude Code to behave in unexpected ways.

 \u276f 1. Yes, proceed
   2. No, exit

 Enter to confirm \u00b7 Esc to exit
"""
QUICK_SAFETY = " Quick safety check: is this a project you created or one you trust?\n" \
    " \u276f 1. Yes, I trust this folder\n   2. No, exit\n"
CODEX_TRUST = "Do you trust the contents of this directory? Working with untrusted\n" \
    "contents comes with higher risk of prompt injection.\n  1. Yes, continue\n  2. No, quit\n"
BYPASS = """\
 WARNING: Claude Code running in Bypass Permissions mode

 In Bypass Permissions mode, Claude Code will not ask for your approval before
 running potentially dangerous commands.

 \u276f 1. No, exit
   2. Yes, I accept

 Enter to confirm \u00b7 Esc to exit
"""
API_KEY = """\
 Detected a custom API key in your environment

 ANTHROPIC_API_KEY: sk-ant-...XXXX

 Do you want to use this API key?

   1. Yes
 \u276f 2. No (recommended)
"""
RATE_LIMIT = """\
 Usage limit reached for today's requests.

 \u25cf 1. Keep trying
   2. Stop
"""
PROMPT = " \u2733 Welcome to Gemini\n\n > \n\n ~/project   no sandbox   gemini-2.5-pro\n"
CLAUDE_PROMPT = "\u276f\u00a0\n"
SHELL_PROMPT = "dev@box:~/project$ \n"
BANNER = "Claude Code v2.0\nLoading...\n"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Agent:
    """A scripted terminal: it shows ``steps[i]`` until it gets ``answers[i]``
    (key by key, in order); ``after`` holds a step back until that fake time."""

    def __init__(self, clock: Clock, steps: Sequence[str], answers: Sequence[Sequence[str]],
                 after: Sequence[float] = ()) -> None:
        self.clock = clock
        self.steps = list(steps)
        self.answers = [list(a) for a in answers]
        self.after = list(after) + [0.0] * len(steps)
        self.step = 0
        self.pending: list[str] = []
        self.sent: list[str] = []
        self.peeks: list[int] = []
        self.wrong: list[str] = []

    def peek(self, lines: int) -> str:
        self.peeks.append(lines)
        if self.clock.now < self.after[self.step]:
            return BANNER
        return self.steps[self.step]

    def send_keys(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.sent.append(key)
            want = self.answers[self.step] if self.step < len(self.answers) else []
            if len(self.pending) < len(want) and want[len(self.pending)] == key:
                self.pending.append(key)
                if self.pending == want:
                    self.step += 1
                    self.pending = []
            else:
                self.wrong.append(key)

    def run(self, **kwargs: object) -> tuple[str, ...]:
        outcome = accept_startup_dialogs(self.peek, self.send_keys, clock=self.clock,
                                         sleep=self.clock.sleep, **kwargs)  # type: ignore[arg-type]
        return outcome.dismissed


def test_trust_then_bypass_reach_the_prompt() -> None:
    clock = Clock()
    agent = Agent(clock, [TRUST, BYPASS, CLAUDE_PROMPT], [["Enter"], ["Down", "Enter"]])
    assert agent.run() == ("workspace trust", "bypass permissions")
    assert agent.sent == ["Enter", "Down", "Enter"]
    assert agent.wrong == []
    assert agent.steps[agent.step] == CLAUDE_PROMPT
    # Enter, a settle of 0.5 s; Down, 0.2 s, Enter; then two phases see the prompt.
    assert clock.sleeps == [0.5, 0.2]
    assert agent.peeks[0] == 120


@pytest.mark.parametrize("screen", [PROMPT, CLAUDE_PROMPT, SHELL_PROMPT, "> \n", "% ", "# "])
def test_a_prompt_at_once_sends_nothing(screen: str) -> None:
    clock = Clock()
    agent = Agent(clock, [screen], [])
    assert agent.run() == ()
    assert agent.sent == []
    assert len(agent.peeks) == 4  # one look per phase
    assert clock.now == 0.0


@pytest.mark.parametrize("trust", [TRUST, QUICK_SAFETY, CODEX_TRUST])
def test_every_trust_wording_gets_enter(trust: str) -> None:
    agent = Agent(Clock(), [trust, SHELL_PROMPT], [["Enter"]])
    assert agent.run() == ("workspace trust",)
    assert agent.sent == ["Enter"]


def test_api_key_gets_up_enter_and_rate_limit_down_enter() -> None:
    agent = Agent(Clock(), [API_KEY, RATE_LIMIT, "exited\n"], [["Up", "Enter"], ["Down", "Enter"]])
    assert agent.run() == ("custom API key", "rate limit")
    assert agent.sent == ["Up", "Enter", "Down", "Enter"]
    assert agent.wrong == []


def test_trust_phase_leaves_a_bypass_warning_to_its_phase() -> None:
    clock = Clock()
    agent = Agent(clock, [BYPASS, CLAUDE_PROMPT], [["Down", "Enter"]])
    assert agent.run() == ("bypass permissions",)
    assert agent.sent == ["Down", "Enter"]  # no Enter from the trust phase first
    assert clock.now == pytest.approx(0.2)


def test_api_key_phase_leaves_a_rate_limit_to_its_phase() -> None:
    agent = Agent(Clock(), [RATE_LIMIT, "\u276f "], [["Down", "Enter"]])
    assert agent.run() == ("rate limit",)
    assert agent.sent == ["Down", "Enter"]


def test_a_late_dialog_is_still_answered() -> None:
    clock = Clock()
    agent = Agent(clock, [TRUST, SHELL_PROMPT], [["Enter"]], after=[3.0])
    assert agent.run() == ("workspace trust",)
    assert agent.sent == ["Enter"]
    assert clock.sleeps[:6] == [POLL_INTERVAL] * 6  # polled every 0.5 s until it showed


def test_no_dialog_and_no_prompt_waits_out_every_phase() -> None:
    clock = Clock()
    agent = Agent(clock, [BANNER], [])
    assert agent.run() == ()
    assert agent.sent == []
    assert clock.now == pytest.approx(4 * PHASE_TIMEOUT)
    assert len(agent.peeks) == 4 * int(PHASE_TIMEOUT / POLL_INTERVAL)


def test_a_dialog_after_its_phase_timed_out_is_left() -> None:
    clock = Clock()
    # The bypass warning only shows at 20 s: its phase (8 s to 16 s) has given up.
    agent = Agent(clock, [BYPASS, CLAUDE_PROMPT], [["Down", "Enter"]], after=[20.0])
    assert agent.run() == ()
    assert agent.sent == []


def test_cancel_ends_the_work_at_the_next_look() -> None:
    clock = Clock()
    cancel = threading.Event()
    agent = Agent(clock, [BANNER], [])

    def peek(lines: int) -> str:
        if len(agent.peeks) == 3:
            cancel.set()
        return agent.peek(lines)

    outcome = accept_startup_dialogs(peek, agent.send_keys, cancel=cancel, clock=clock,
                                     sleep=clock.sleep)
    assert outcome.cancelled
    assert len(agent.peeks) == 4
    assert clock.now == pytest.approx(4 * POLL_INTERVAL)


def test_the_default_sleep_waits_on_the_cancel_event() -> None:
    cancel = threading.Event()
    peeks: list[int] = []

    def peek(lines: int) -> str:
        peeks.append(lines)
        cancel.set()  # a stop arrives while the phase would sleep 0.5 s
        return BANNER

    outcome = accept_startup_dialogs(peek, lambda keys: None, cancel=cancel,
                                     clock=lambda: 0.0)
    assert outcome.cancelled and peeks == [120]


def test_a_failing_screen_names_the_phase() -> None:
    agent = Agent(Clock(), [TRUST], [["Enter"]])

    def peek(lines: int) -> str:
        if agent.sent:
            raise RuntimeError("session mayor not found")
        return agent.peek(lines)

    with pytest.raises(DialogError, match="bypass permissions dialog: session mayor not found"):
        accept_startup_dialogs(peek, agent.send_keys, clock=Clock(), sleep=lambda s: None)


def test_prompt_indicator() -> None:
    assert shows_prompt(CLAUDE_PROMPT) and shows_prompt(SHELL_PROMPT) and shows_prompt(PROMPT)
    assert shows_prompt("$\t\n\n")
    # Menus mark the selected entry with the same character, at the start of the line.
    for dialog in (TRUST, QUICK_SAFETY, CODEX_TRUST, BYPASS, API_KEY, RATE_LIMIT, BANNER, ""):
        assert not shows_prompt(dialog), dialog


def test_a_deadline_ends_every_phase_by_then() -> None:
    # A provider's start answers the dialogs within its startup timeout: without a
    # deadline four phases on a banner take 4 x 8 s.
    clock = Clock()
    agent = Agent(clock, [BANNER], [])
    assert agent.run(deadline=3.0) == ()
    assert clock.now == pytest.approx(3.0)
    assert len(agent.peeks) == int(3.0 / POLL_INTERVAL)
