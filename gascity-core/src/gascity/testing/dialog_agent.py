"""A fake coding agent that stops at startup dialogs, for tests on a real terminal.

:func:`write_dialog_agent` writes a Python script; run in a session as
``<python> <script> <log> <mode>``, it puts its terminal in raw mode and reads the
keys the way a full-screen agent does (``Enter`` is CR, arrows are escape
sequences). Modes:

* ``dialogs``: waits for ``<log>.go`` to exist (so a test can first check that the
  start returned while the dialog was still to come), shows a workspace-trust
  dialog until it gets Enter, then a bypass-permissions warning until it gets Down
  and Enter, then a prompt.
* ``prompt``: a prompt at once.
* ``banner``: a banner forever, neither a dialog nor a prompt.

Every key read is appended to ``<log>`` (one name a line; ``wrong:<name>`` when it
was not the one the dialog wanted), ``ready`` once the prompt shows, and each key
typed at the prompt as ``after:<name>`` (a printable key as its bytes' repr).
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

__all__ = ["log_lines", "write_dialog_agent", "write_dialog_city"]

_SCRIPT = r'''
import os, sys, time, tty

log_path, mode = sys.argv[1], sys.argv[2]
fd = sys.stdin.fileno()
tty.setraw(fd)
KEYS = {b"\r": "Enter", b"\n": "Enter", b"\x1b[A": "Up", b"\x1b[B": "Down",
        b"\x1bOA": "Up", b"\x1bOB": "Down"}
pending = b""


def log(line):
    with open(log_path, "a") as f:
        f.write(line + "\n")


def show(text):
    # Raw mode: the terminal no longer turns LF into CR LF.
    os.write(1, b"\x1b[2J\x1b[H" + text.replace("\n", "\r\n").encode())


def next_key():
    global pending
    while True:
        for seq in sorted(KEYS, key=len, reverse=True):
            if pending.startswith(seq):
                pending = pending[len(seq):]
                return KEYS[seq]
        if pending and not pending.startswith(b"\x1b"):
            key, pending = pending[:1], pending[1:]
            return repr(key)
        if len(pending) >= 3:
            key, pending = pending, b""
            return repr(key)
        pending += os.read(fd, 64)


def expect(*keys):
    got = []
    while got != list(keys):
        key = next_key()
        if key == keys[len(got)]:
            got.append(key)
            log(key)
        else:
            got = []
            log("wrong:" + key)


BANNER = " * Fake Agent v1.0\n   starting up\n"
if mode == "dialogs":
    show(BANNER)
    while not os.path.exists(log_path + ".go"):
        time.sleep(0.05)
    show(" Do you trust the files in this folder?\n\n   " + os.getcwd() + "\n\n"
         " \u276f 1. Yes, proceed\n   2. No, exit\n\n Enter to confirm\n")
    expect("Enter")
    show(" WARNING: Fake Agent running in Bypass Permissions mode\n\n"
         " \u276f 1. No, exit\n   2. Yes, I accept\n\n Enter to confirm\n")
    expect("Down", "Enter")
elif mode == "banner":
    show(BANNER)
    while True:
        log("wrong:" + next_key())
show(BANNER + "\n\u276f ")
log("ready")
while True:
    log("after:" + next_key())
'''


def write_dialog_agent(directory: Path) -> Path:
    """Write the fake agent into ``directory``; returns the script's path."""
    path = directory / "fake_agent.py"
    path.write_text(_SCRIPT.lstrip())
    return path


def log_lines(log: Path) -> list[str]:
    """The keys the agent read so far (and ``ready``), in order."""
    return log.read_text().splitlines() if log.exists() else []


def write_dialog_city(city_dir: Path, mode: str, gate: str) -> Path:
    """A ``city.toml`` of one agent, ``claude``, running the fake agent in ``mode``;
    ``gate`` is extra TOML on the agent (``emits_permission_warning = true``).
    Returns the agent's key log."""
    script = write_dialog_agent(city_dir)
    log = city_dir / "keys.log"
    command = shlex.join([sys.executable, str(script), str(log), mode])
    (city_dir / "city.toml").write_text(
        # The agent reads its terminal raw: C-c is a key to it, so no wait for it to quit.
        f'[workspace]\nname = "dialogs"\n\n[daemon]\nshutdown_timeout = "0s"\n\n'
        f'[[agent]]\nname = "claude"\nstart_command = {json.dumps(command)}\n{gate}\n')
    return log
