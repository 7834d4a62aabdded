"""Dismissing the dialogs a coding agent shows at start, as Gas City does.

Claude Code, Codex and Gemini can stop at a question before their first prompt: is
this folder trusted, is bypass-permissions mode accepted, should the API key found
in the environment be used, keep waiting on a usage limit. An unattended session
stuck there never does any work, so after a start the controller answers them
through the session's screen (``peek``) and keyboard (``send_keys``).

Four phases run in this order, each polling the screen every 0.5 s for up to 8 s:

===================  ==================================================  ===========
phase                screen text (any of)                                keys
===================  ==================================================  ===========
workspace trust      "trust this folder", "Quick safety check", "Do you  Enter
                     trust the contents of this directory?", "Do you
                     trust the files in this folder?"
bypass permissions   "Bypass Permissions mode"                           Down, Enter
custom API key       "Detected a custom API key in your environment",    Up, Enter
                     "Do you want to use this API key?"
rate limit           "Usage limit reached", "rate limit", "Rate limit"   Down, Enter
===================  ==================================================  ===========

A phase ends when its keys are sent, when the screen shows a prompt (a line ending
in ``>``, ``$``, ``%``, ``#`` or U+276F: the agent is ready, so no dialog is coming),
when a later phase's dialog is already showing (trust sees the bypass warning, the
API key phase sees the rate limit), or after 8 s. The rate-limit answer is "Stop":
the agent exits and the controller's crash handling starts it again later.

Pure: the screen, the keyboard, the clock and the sleep are the caller's, so tests
drive it with recorded screen texts and no real time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "PEEK_LINES",
    "PHASES",
    "PHASE_TIMEOUT",
    "POLL_INTERVAL",
    "DialogError",
    "Outcome",
    "Phase",
    "accept_startup_dialogs",
    "shows_prompt",
    "wants_dismissal",
]

POLL_INTERVAL = 0.5
"""Seconds between two looks at the screen within a phase."""
PHASE_TIMEOUT = 8.0
"""How long one phase waits for its dialog (or a prompt) before giving up."""
KEY_GAP = 0.2
"""Pause between the keys of one answer: a menu needs the arrow handled before Enter."""
PEEK_LINES = 120
"""Screen lines read per look: a dialog can sit above a long banner."""

Peek = Callable[[int], str]
SendKeys = Callable[[Sequence[str]], object]

_PROMPT_ENDINGS = (">", "$", "%", "#", "\u276f")
_TRUST = (
    "trust this folder",
    "Quick safety check",
    "Do you trust the contents of this directory?",
    "Do you trust the files in this folder?",
)
_BYPASS = ("Bypass Permissions mode",)
_API_KEY = (
    "Detected a custom API key in your environment",
    "Do you want to use this API key?",
)
_RATE_LIMIT = ("Usage limit reached", "rate limit", "Rate limit")


def shows_prompt(screen: str) -> bool:
    """Does any line end in a shell or REPL prompt character? (The agent is ready.)"""
    for line in screen.split("\n"):
        # Prompts are often padded with non-breaking spaces after the character.
        text = line.replace("\u00a0", " ").rstrip(" \t")
        if text and text.endswith(_PROMPT_ENDINGS):
            return True
    return False


def _any(texts: tuple[str, ...]) -> Callable[[str], bool]:
    return lambda screen: any(t in screen for t in texts)


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    shows: Callable[[str], bool]
    """Is this phase's dialog on the screen?"""
    keys: tuple[str, ...]
    """The answer, sent one key at a time :data:`KEY_GAP` apart."""
    settle: float = 0.0
    """Wait after the answer, for the agent to draw its next screen."""
    handed_on: Callable[[str], bool] = lambda screen: False
    """A later phase's dialog is showing: end this phase without keys."""


PHASES: tuple[Phase, ...] = (
    # The safe choice ("yes, trust") is preselected: Enter accepts it.
    Phase("workspace trust", _any(_TRUST), ("Enter",), settle=0.5, handed_on=_any(_BYPASS)),
    # "No, exit" is preselected: Down moves to "Yes, I accept".
    Phase("bypass permissions", _any(_BYPASS), ("Down", "Enter")),
    # "No (recommended)" is preselected: Up moves to "Yes".
    Phase("custom API key", _any(_API_KEY), ("Up", "Enter"), handed_on=_any(_RATE_LIMIT)),
    # "Keep trying" is preselected: Down moves to "Stop".
    Phase("rate limit", _any(_RATE_LIMIT), ("Down", "Enter")),
)


class _Gated(Protocol):
    @property
    def emits_permission_warning(self) -> bool: ...
    @property
    def process_names(self) -> tuple[str, ...]: ...


def wants_dismissal(launch: _Gated) -> bool:
    """Gas City's gate (a ``StartConfig`` or a ``Launch``): an agent that warns of
    permissions, or one whose processes are named (a coding agent, not a plain command)."""
    return launch.emits_permission_warning or bool(launch.process_names)


class DialogError(Exception):
    """The screen or the keyboard failed during a phase; the message names it."""


@dataclass(frozen=True, slots=True)
class Outcome:
    dismissed: tuple[str, ...] = ()
    """Names of the phases whose dialog was answered, in order."""
    cancelled: bool = False


def _run_phase(phase: Phase, peek: Peek, send_keys: SendKeys, cancel: threading.Event,
               clock: Callable[[], float], sleep: Callable[[float], None],
               until: float | None) -> bool:
    """True when the dialog was answered."""
    deadline = clock() + PHASE_TIMEOUT
    if until is not None:
        deadline = min(deadline, until)
    while clock() < deadline and not cancel.is_set():
        screen = peek(PEEK_LINES)
        if phase.shows(screen):
            for i, key in enumerate(phase.keys):
                if i:
                    sleep(KEY_GAP)
                send_keys([key])
            if phase.settle:
                sleep(phase.settle)
            return True
        if shows_prompt(screen) or phase.handed_on(screen):
            return False
        sleep(POLL_INTERVAL)
    return False


def accept_startup_dialogs(
    peek: Peek,
    send_keys: SendKeys,
    *,
    cancel: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] | None = None,
    deadline: float | None = None,
) -> Outcome:
    """Answer the startup dialogs of :data:`PHASES` on one session's screen.

    ``peek(lines)`` returns the last ``lines`` of the screen; ``send_keys(keys)``
    types tmux key names. ``cancel`` ends the work at the next look (the session was
    stopped); the default ``sleep`` waits on it, so a cancel also cuts a wait short.
    ``deadline`` (on ``clock``) ends every phase by then: a provider's start that
    answers the dialogs stays within its startup timeout.
    Safe on a session without dialogs: with a prompt on screen every phase ends at its
    first look. Raises :class:`DialogError` when ``peek`` or ``send_keys`` does.
    """
    stop = cancel or threading.Event()

    def wait_or_cancel(seconds: float) -> None:
        stop.wait(seconds)

    wait = sleep or wait_or_cancel
    dismissed: list[str] = []
    for phase in PHASES:
        if stop.is_set():
            break
        try:
            if _run_phase(phase, peek, send_keys, stop, clock, wait, deadline):
                dismissed.append(phase.name)
        except Exception as exc:
            raise DialogError(f"{phase.name} dialog: {exc}") from exc
    return Outcome(tuple(dismissed), stop.is_set())
