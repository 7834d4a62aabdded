"""Starting and collecting emitter processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from gascity_dolt_events.testing import MariaDBServer

EMITTER = Path(__file__).with_name("emitter.py")
PASSWORD_ENV = "GC_TEST_DOLT_PASSWORD"


def spawn(
    server: MariaDBServer,
    database: str,
    city_dir: Path,
    actor: str,
    plan: list[tuple[int, str | None, str | None]],
    **overrides: Any,
) -> subprocess.Popen[str]:
    settings = server.settings(database=database, password_env=PASSWORD_ENV)
    del settings["password"]
    settings.update(overrides)
    env = dict(os.environ)
    env[PASSWORD_ENV] = server.password
    argv = [sys.executable, str(EMITTER), str(city_dir), json.dumps(settings), actor]
    argv.append(json.dumps(plan))
    return subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def collect(
    procs: list[subprocess.Popen[str]], timeout: float = 120
) -> dict[str, list[int | None]]:
    results: dict[str, list[int | None]] = {}
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, f"emitter failed ({proc.returncode}):\n{err[-3000:]}"
        data = json.loads(out.strip().splitlines()[-1])
        results[data["actor"]] = data["seqs"]
    return results
