"""What one ``gc`` call costs an agent, next to the least any program could pay.

Agents run ``gc event emit``, ``gc mail send`` and ``gc runtime drain-ack`` in their
loops, each a fresh Python process. Each command is timed next to its floor, in the
same run and interleaved (floor, command, floor, command...) so a busy machine
slows both alike:

* ``gc --version`` against ``python -c pass`` (the interpreter starting at all);
* ``gc event emit`` against a script that reads city.toml with tomllib, takes the
  events lock and appends one line, as the ``file`` store does;
* ``gc mail send`` against a script that reads city.toml and inserts one row into the
  city's SQLite mail database;
* ``gc runtime drain-ack`` against a script that reads city.toml and rewrites the
  session's ``meta.json`` under its lock, as the ``subprocess`` provider does.

Wall time and CPU time (user + system of the child, from ``wait4``) are medians.

Both sides run with cached bytecode, as an installed ``gc`` does (pip compiles the
``.pyc`` files at install time) and as the floor's standard library always does:
``PYTHONDONTWRITEBYTECODE`` is dropped from the children's environment and their
``.pyc`` files go to a temporary ``PYTHONPYCACHEPREFIX`` (nothing is written to the
source tree of an editable install), filled by one warm-up run of each.

    python -m benchmarks.cli [--quick] [--json]
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import BenchTable, run_main

__all__ = ["run"]

_CITY = """\
[workspace]
name = "bench"

[session]
provider = "subprocess"

[[agent]]
name = "worker"
command = "sleep 3600"
"""

_EMIT_FLOOR = """
import fcntl, json, os, sys, tomllib
from datetime import datetime, timezone
with open("city.toml", "rb") as f:
    tomllib.load(f)
os.makedirs(".gc", exist_ok=True)
lock = os.open(".gc/events.lock", os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(lock, fcntl.LOCK_EX)
seq = 0
try:
    with open(".gc/events.jsonl", "rb") as f:
        f.seek(max(0, os.fstat(f.fileno()).st_size - 4096))
        tail = f.read().splitlines()
        seq = json.loads(tail[-1])["seq"] if tail else 0
except FileNotFoundError:
    pass
line = json.dumps({"seq": seq + 1, "type": sys.argv[1], "ts": datetime.now(timezone.utc)
                   .isoformat(), "actor": "cli", "subject": "", "message": "", "payload": {}})
fd = os.open(".gc/events.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
os.write(fd, (line + "\\n").encode())
print(seq + 1)
"""

_MAIL_FLOOR = """
import sqlite3, sys, time, tomllib
with open("city.toml", "rb") as f:
    tomllib.load(f)
db = sqlite3.connect(".gc/mail.db", timeout=10)
cur = db.execute("INSERT INTO floor (sender, recipient, body, created_at) VALUES (?, ?, ?, ?)",
                 (sys.argv[1], sys.argv[2], sys.argv[3], int(time.time() * 1e6)))
db.commit()
print("sent", cur.lastrowid, "to", sys.argv[2])
"""

# A temporary file as tempfile.mkstemp makes it (O_EXCL, 0600, a random name), without
# importing tempfile (and its random, shutil...): the least a program has to pay.
_DRAIN_FLOOR = """
import fcntl, json, os, sys, tomllib
with open("city.toml", "rb") as f:
    tomllib.load(f)
d = ".gc/sessions/" + sys.argv[1]
lock = os.open(d + "/meta.lock", os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(lock, fcntl.LOCK_EX)
with open(d + "/meta.json", "rb") as f:
    meta = json.loads(f.read())
meta["gc.drain_ack"] = "1"
tmp = d + "/.meta." + os.urandom(6).hex()
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
with os.fdopen(fd, "w") as f:
    f.write(json.dumps(meta))
os.replace(tmp, d + "/meta.json")
print(sys.argv[1] + ": drain acknowledged")
"""


def _gc() -> list[str]:
    here = Path(sys.executable).with_name("gc")
    found = str(here) if here.exists() else shutil.which("gc")
    if found is None:
        raise RuntimeError("the gc script is not installed next to this python or on PATH")
    return [found]


def _once(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``argv`` (which must succeed)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:4]} exited {proc.returncode}: {err.strip()[-300:]}")
    return wall, usage.ru_utime + usage.ru_stime


def _city(root: Path) -> Path:
    import sqlite3

    (root / "city.toml").write_text(_CITY)
    session = root / ".gc" / "sessions" / "worker"
    session.mkdir(parents=True, mode=0o700)
    (session / "meta.json").write_text("{}")
    # The floor's table lives beside the store's: same file, same locks, same fsyncs.
    db = sqlite3.connect(root / ".gc" / "mail.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS floor (id INTEGER PRIMARY KEY, sender TEXT, "
               "recipient TEXT, body TEXT, created_at INTEGER)")
    db.commit()
    db.close()
    return root


def run(quick: bool = False) -> list[BenchTable]:
    repeat = 5 if quick else 20
    py = sys.executable
    gc = _gc()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GC_") and k != "PYTHONDONTWRITEBYTECODE"}
    pycache = tempfile.mkdtemp(prefix="gcbench-pyc-")
    env["PYTHONPYCACHEPREFIX"] = pycache
    root = _city(Path(tempfile.mkdtemp(prefix="gcbench-cli-")))
    pairs: list[tuple[str, list[str], str, list[str]]] = [
        ("gc --version", [*gc, "--version"], "python -c pass", [py, "-c", "pass"]),
        ("gc event emit", [*gc, "event", "emit", "bench.tick"],
         "tomllib + flock + append", [py, "-c", _EMIT_FLOOR, "bench.tick"]),
        ("gc mail send", [*gc, "mail", "send", "--from", "a", "--to", "b", "--body", "hi"],
         "tomllib + sqlite insert", [py, "-c", _MAIL_FLOOR, "a", "b", "hi"]),
        ("gc runtime drain-ack", [*gc, "runtime", "drain-ack", "--session", "worker"],
         "tomllib + flock + meta.json", [py, "-c", _DRAIN_FLOOR, "worker"]),
    ]
    samples: dict[str, list[tuple[float, float]]] = {}
    try:
        for _, ours, _floor_name, floor in pairs:  # warm the page cache and .pyc files
            _once(ours, root, env)
            _once(floor, root, env)
        for _ in range(repeat):
            for name, ours, floor_name, floor in pairs:
                samples.setdefault(floor_name, []).append(_once(floor, root, env))
                samples.setdefault(name, []).append(_once(ours, root, env))
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(pycache, ignore_errors=True)

    def med(key: str, i: int) -> float:
        return statistics.median(s[i] for s in samples[key]) * 1000

    rows: list[list[Any]] = []
    data: dict[str, Any] = {"commands": []}
    for name, _, floor_name, _ in pairs:
        wall, cpu, fwall, fcpu = med(name, 0), med(name, 1), med(floor_name, 0), med(floor_name, 1)
        spread = (max(s[0] for s in samples[name]) - min(s[0] for s in samples[name])) * 500
        rows.append([f"`{name}`", f"{wall:.0f} ±{spread:.0f}", f"{cpu:.0f}", floor_name,
                     f"{fwall:.0f}", f"{fcpu:.0f}", f"{wall / fwall:.2f}x",
                     f"{cpu / fcpu:.2f}x" if fcpu else "-"])
        data["commands"].append({"name": name, "wall_ms": wall, "cpu_ms": cpu,
                                 "floor": floor_name, "floor_wall_ms": fwall,
                                 "floor_cpu_ms": fcpu})
    return [BenchTable(
        "One gc call against its floor (embedded backends: file events, SQLite mail, "
        "subprocess sessions)",
        ["Command", "Wall ms", "CPU ms", "Floor", "Floor wall ms", "Floor CPU ms",
         "Wall / floor", "CPU / floor"],
        rows,
        notes=f"Medians of {repeat} runs, command and floor interleaved in one run; CPU is "
              "the child's user + system time. Goal: each command at most 2x its floor. "
              "Floors are the same file work done by a minimal script with the same "
              "interpreter (`python -c` of a few lines). Both with cached bytecode "
              "(a temporary PYTHONPYCACHEPREFIX, PYTHONDONTWRITEBYTECODE dropped).",
        data=data,
    )]


if __name__ == "__main__":
    run_main(run, __doc__)
