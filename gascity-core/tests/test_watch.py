"""FileWatch: wakes when the file changes (inotify, or the stat poll), not otherwise."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from gascity.watch import FileWatch

MODES = [pytest.param(True, id="inotify"), pytest.param(False, id="stat-poll")]


def later(delay: float, action: object) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        action()  # type: ignore[operator]

    t = threading.Thread(target=run)
    t.start()
    return t


def append(path: Path, text: str) -> None:
    with path.open("a") as f:
        f.write(text)


@pytest.mark.parametrize("inotify", MODES)
def test_an_append_wakes_the_waiter(tmp_path: Path, inotify: bool) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("")
    with FileWatch(path, poll_interval=0.05, inotify=inotify) as watch:
        if inotify and sys.platform.startswith("linux"):
            assert watch.uses_inotify
        t = later(0.2, lambda: append(path, "x\n"))
        began = time.monotonic()
        assert watch.wait(30) is True
        assert time.monotonic() - began < 30  # woke on the write, not the timeout
        t.join()
        assert watch.wait(0.2) is False  # nothing new since


@pytest.mark.parametrize("inotify", MODES)
def test_a_replaced_or_created_file_wakes_it(tmp_path: Path, inotify: bool) -> None:
    path = tmp_path / "events.jsonl"
    with FileWatch(path, poll_interval=0.05, inotify=inotify) as watch:
        later(0.1, lambda: path.write_text("first\n")).join()
        assert watch.wait(30) is True
        tmp = tmp_path / ".events.tmp"
        tmp.write_text("pruned\n")
        later(0.1, lambda: os.replace(tmp, path)).join()
        assert watch.wait(30) is True


def test_other_files_in_the_directory_do_not_wake_it(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("")
    with FileWatch(path, poll_interval=0.05) as watch:
        (tmp_path / "mail.db").write_text("noise")
        assert watch.wait(0.3) is False


def test_follow_prints_an_event_from_another_process(tmp_path: Path) -> None:
    import subprocess

    (tmp_path / "city.toml").write_text('[workspace]\nname = "f"\n')
    gc = [sys.executable, "-c", "from gascity.cli.main import main; main()",
          "--city", str(tmp_path)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GC_")}
    follower = subprocess.Popen([*gc, "events", "--follow", "--json", "-n", "0"],
                                stdout=subprocess.PIPE, text=True, env=env)
    try:
        time.sleep(1.0)  # let it reach its first wait
        subprocess.run([*gc, "event", "emit", "t.hello", "--message", "hi"], env=env,
                       check=True, capture_output=True, timeout=60)
        assert follower.stdout is not None
        line = follower.stdout.readline()
        assert '"type": "t.hello"' in line
    finally:
        follower.kill()
        follower.wait()
