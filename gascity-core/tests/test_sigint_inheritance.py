"""An agent started by a ``gc`` that was itself started with SIGINT ignored (a
``gc ... &`` in a script) can still be interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from gascity.testing import wait_for

GC = [sys.executable, "-c", "from gascity.cli.main import main; main()"]
SIGINT_BIT = 1 << (signal.SIGINT - 1)


def ignored_signals(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no SigIgn line for {pid}")


def test_agents_of_a_gc_started_with_sigint_ignored_take_sigint(tmp_path: Path) -> None:
    (tmp_path / "city.toml").write_text(
        '[workspace]\nname = "sigint"\n[session]\nprovider = "subprocess"\n'
        '[daemon]\nshutdown_timeout = "200ms"\n'
        '[[agent]]\nname = "waiter"\nstart_command = "sleep 300"\n'
    )
    env = {**os.environ, "GC_SESSION": "subprocess"}
    started = subprocess.run(
        [*GC, "start", "--once", str(tmp_path)], capture_output=True, text=True, env=env,
        timeout=60, check=False,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        assert started.returncode == 0, started.stderr
        pid_file = tmp_path / ".gc" / "sessions" / "waiter" / "pid"
        pid = int(wait_for(lambda: pid_file.is_file() and pid_file.read_text(), 10).split()[0])
        assert not ignored_signals(pid) & SIGINT_BIT
    finally:
        subprocess.run([*GC, "stop", str(tmp_path)], capture_output=True, env=env,
                       timeout=60, check=False)
