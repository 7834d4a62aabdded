"""Each experiment returns one :class:`Row`: trials, survived, lost, duplicated."""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gascity.city import City
from gascity.controller import Controller
from gascity.osutil import killtree, proctree

__all__ = [
    "EXPERIMENTS",
    "Row",
    "concurrent_cli_writers",
    "controller_kill9",
    "dolt_outage_mid_burst",
    "hostile_scale_checks",
    "pgmail_outage_mid_burst",
    "torn_config_writes",
]


@dataclass
class Row:
    experiment: str
    trials: int = 0
    survived: int = 0
    lost: int = 0
    duplicated: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GC_")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return env


def _gc() -> str:
    return str(Path(sys.executable).parent / "gc")


# ------------------------------------------------------------- kill -9 controller

_CONTROLLER = """
import sys, time
from pathlib import Path
from gascity.city import City
from gascity.controller import Controller
with City.open(Path(sys.argv[1])) as city:
    c = Controller(city)
    while True:
        c.tick()
        time.sleep(0.05)
"""


def _kill_city(city_dir: Path, name: str, tag: str) -> str:
    agents = "".join(
        f'[[agent]]\nname = "a{i}"\ncommand = "sleep 1000"\nenv = {{FAULT_TAG = "{tag}"}}\n\n'
        for i in range(3)
    )
    pool = (
        f'[[agent]]\nname = "pool"\ncommand = "sleep 1000"\nenv = {{FAULT_TAG = "{tag}"}}\n'
        "min_active_sessions = 3\nmax_active_sessions = 3\n"
    )
    (city_dir / "city.toml").write_text(
        f'[workspace]\nname = "{name}"\n\n[session]\nprovider = "subprocess"\n\n'
        '[daemon]\npatrol_interval = "1s"\n\n' + agents + pool
    )
    return tag


def _tagged(tag: str) -> dict[str, list[int]]:
    """Live processes started for this trial, by session name."""
    table = proctree.live_table()
    found: dict[str, list[int]] = {}
    for pid in proctree.with_marker(f"FAULT_TAG={tag}", table):
        env = proctree.environ(pid) or b""
        name = ""
        for entry in env.split(b"\0"):
            if entry.startswith(b"GC_SESSION_NAME=") or entry.startswith(b"GC_SESSION="):
                name = entry.split(b"=", 1)[1].decode("utf-8", "replace")
        if table[pid].comm == "sleep":
            found.setdefault(name or f"pid{pid}", []).append(pid)
    return found


def controller_kill9(trials: int = 50, seed: int = 12) -> Row:
    """kill -9 the controller at a random point of its first reconcile (start burst
    included), restart it once, count each desired session's processes."""
    rng = random.Random(seed)
    row = Row("kill -9 of the controller at random points, then restart")
    t0 = time.monotonic()
    desired = ["a0", "a1", "a2", "pool-1", "pool-2", "pool-3"]
    for trial in range(trials):
        base = Path(tempfile.mkdtemp(prefix="gcfault-"))
        city_dir = base / f"k{trial}"
        city_dir.mkdir()
        tag = _kill_city(city_dir, f"k{trial}", f"kill-{os.getpid()}-{trial}")
        proc = subprocess.Popen([sys.executable, "-c", _CONTROLLER, str(city_dir)],
                                env=_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, 1.2))
        proc.kill()
        proc.wait()
        with City.open(city_dir, env=_env()) as city:
            Controller(city).tick()  # the restarted controller adopts
            listed = [s.name for s in city.hooks.list_running("")]
            by_name = _tagged(tag)
            procs = sum(len(p) for p in by_name.values())
            lost = sum(1 for n in desired if n not in listed)
            dup = max(0, len(listed) - len(set(listed))) + max(0, procs - len(desired))
            row.lost += lost
            row.duplicated += dup
            row.trials += 1
            row.survived += int(lost == 0 and dup == 0)
            if lost or dup:
                row.notes.append(f"trial {trial}: listed {sorted(listed)}, "
                                 f"{procs} tagged processes")
            for name in set(listed):
                city.hooks.stop(name)
        leftovers = [s for pids in _tagged(tag).values() for p in pids
                     if (s := proctree.read_stat(p)) is not None]
        if leftovers:
            killtree.terminate(lambda left=leftovers: left, grace=1.0)  # type: ignore[misc]
        shutil.rmtree(base, ignore_errors=True)
    row.seconds = time.monotonic() - t0
    return row


# ------------------------------------------------------------ torn config writes

_TORN_BASE = (
    '[workspace]\nname = "torn"\n\n[daemon]\npatrol_interval = "7s"\n\n'
    '[[agent]]\nname = "mayor"\ncommand = "run mayor"\n\n'
)
_TORN_POOL = (
    '[[agent]]\nname = "worker"\ncommand = "run worker"\n'
    "min_active_sessions = 3\nmax_active_sessions = 3\n"
)


def torn_config_writes(trials: int = 40, seed: int = 7) -> Row:
    """A writer empties, truncates, garbles or writes city.toml in two steps (pausing
    at an [[agent]] boundary) while the controller ticks: nothing may stop or restart."""
    from gascity.testing import FakeProvider, MemoryEvents, open_test_city

    rng = random.Random(seed)
    row = Row("torn / emptied / garbled city.toml writes during ticks")
    t0 = time.monotonic()
    full = _TORN_BASE + _TORN_POOL
    for trial in range(trials):
        base = Path(tempfile.mkdtemp(prefix="gcfault-"))
        city_dir = base / "torn"
        city_dir.mkdir()
        path = city_dir / "city.toml"
        path.write_text(full)
        fake = FakeProvider()
        city = open_test_city(city_dir, session=fake, events=MemoryEvents())
        try:
            controller = Controller(city)
            controller.tick()
            before = dict(fake.sessions)
            mode = rng.choice(["two-step", "empty", "truncated", "garbage"])
            pause = rng.uniform(0.0, 0.15)

            def write(mode: str = mode, pause: float = pause, target: Path = path) -> None:
                with target.open("wb") as fh:
                    if mode == "empty":
                        return
                    if mode == "garbage":
                        fh.write(b"\xff\xfe[[agent\x00")
                        return
                    fh.write(_TORN_BASE.encode())
                    fh.flush()
                    if mode == "truncated":
                        fh.write(_TORN_POOL[: rng.randrange(1, len(_TORN_POOL))].encode())
                        return
                    time.sleep(pause)
                    fh.write(_TORN_POOL.encode())

            writer = threading.Thread(target=write)
            writer.start()
            time.sleep(rng.uniform(0.0, 0.1))
            reports = [controller.tick()]
            writer.join()
            time.sleep(0.25)
            reports.append(controller.tick())
            changed = [n for r in reports for n in (*r.stopped, *r.drained, *r.started)]
            lost = sum(1 for n in before if n not in fake.sessions)
            row.trials += 1
            row.lost += lost
            row.duplicated += len([n for r in reports for n in r.started])
            ok = not changed and lost == 0
            row.survived += int(ok)
            if not ok:
                row.notes.append(f"trial {trial} ({mode}): {changed}")
        finally:
            city.close()
            shutil.rmtree(base, ignore_errors=True)
    row.seconds = time.monotonic() - t0
    return row


# ---------------------------------------------------------- hostile scale checks

HOSTILE = {
    "non-UTF-8 on stderr": "printf '\\377' >&2; exit 1",
    "setsid child": "setsid sleep 25 & echo 3",
    "background child": "sleep 100 & echo 3",
    "ignores TERM, hangs": "trap '' TERM; while :; do sleep 0.1; done",
    "huge output": "head -c 20000000 /dev/zero",
    "fork 30 sleepers": "for i in $(seq 30); do sleep 100 & done; echo 2",
    "kills itself": "kill -9 $$",
    "absurd count": "echo 10000000",
    "waits on stdin": "cat; echo 1",
}
PROBE_TIMEOUT = 1.0
GRACE = 1.0
"""What a hostile probe may take past probe_timeout (kill grace + pipe wait + slack)."""


def hostile_scale_checks(reps: int = 3) -> Row:
    """Every hostile check must finish within probe_timeout + GRACE, never break the
    tick, and an unbounded pool stays under the safety cap."""
    from gascity.config import parse_city
    from gascity.reconcile import run_scale_checks

    row = Row(f"hostile scale checks (probe_timeout {PROBE_TIMEOUT:g}s)")
    t0 = time.monotonic()
    text = "".join(
        f"[[agent]]\nname = \"p{i}\"\ncommand = \"x\"\nscale_check = '''{check}'''\n"
        for i, check in enumerate(HOSTILE.values())
    )
    agents = parse_city(text).agent
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="gcfault-") as tmp:
        for _ in range(reps):
            for agent, label in zip(agents, HOSTILE, strict=True):
                started = time.monotonic()
                res = run_scale_checks([agent], Path(tmp), concurrency=1,
                                       timeout=PROBE_TIMEOUT)[agent.name]
                took = time.monotonic() - started
                worst = max(worst, took)
                row.trials += 1
                ok = took <= PROBE_TIMEOUT + GRACE
                row.survived += int(ok)
                if not ok:
                    row.notes.append(f"{label}: {took:.2f}s ({res.error or res.count})")
    row.notes.append(f"slowest check: {worst:.2f}s")
    row.seconds = time.monotonic() - t0
    return row


# --------------------------------------------------------- concurrent CLI writers


def concurrent_cli_writers(writers: int = 4, each: int = 15) -> Row:
    """``writers`` processes each run ``each`` ``gc event emit`` and ``gc mail send``
    at once against one city: every event and message recorded exactly once."""
    row = Row(f"concurrent CLI writers ({writers} x {each} events + messages)")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gcfault-") as tmp:
        city_dir = Path(tmp) / "cli"
        city_dir.mkdir()
        (city_dir / "city.toml").write_text('[workspace]\nname = "cli"\n')
        script = (
            'for i in $(seq 1 "$N"); do '
            '"$GC" --city "$CITY" event emit fault.write --actor "w$W" --message "$W-$i" '
            '>/dev/null || exit 1; '
            '"$GC" --city "$CITY" mail send --from "w$W" --to mayor --body "$W-$i" '
            '>/dev/null || exit 1; done'
        )
        procs = [
            subprocess.Popen(["sh", "-c", script],
                             env={**_env(), "GC": _gc(), "CITY": str(city_dir),
                                  "W": str(w), "N": str(each)})
            for w in range(writers)
        ]
        codes = [p.wait(timeout=600) for p in procs]
        lines = (city_dir / ".gc" / "events.jsonl").read_text().splitlines()
        events = [json.loads(line) for line in lines]
        written = [e["message"] for e in events if e["type"] == "fault.write"]
        seqs = [e["seq"] for e in events]
        inbox = subprocess.run([_gc(), "--city", str(city_dir), "mail", "inbox", "mayor",
                                "--json"], capture_output=True, text=True, env=_env(),
                               check=False)
        bodies = [m.get("body", "") for m in json.loads(inbox.stdout or "[]")]
        expected = {f"{w}-{i}" for w in range(writers) for i in range(1, each + 1)}
        for got in (written, bodies):
            row.trials += len(expected)
            row.lost += len(expected - set(got))
            row.duplicated += len(got) - len(set(got))
            row.survived += len(expected & set(got))
        if seqs != list(range(1, len(seqs) + 1)):
            row.notes.append("event seqs not unique and contiguous")
            row.survived = 0
        if any(codes):
            row.notes.append(f"writer exit codes {codes}")
    row.seconds = time.monotonic() - t0
    return row


EXPERIMENTS: dict[str, Callable[[], Row]] = {
    "kill9": controller_kill9,
    "torn": torn_config_writes,
    "hostile": hostile_scale_checks,
    "cli": concurrent_cli_writers,
}


# ------------------------------------------------------ database outage mid-burst


def dolt_outage_mid_burst(trials: int = 4, burst: int = 120, seed: int = 9) -> Row:
    """A writer emits a burst of events to the dolt store (a real MariaDB server); the
    server is stopped at a random point and restarted about a second later. Every
    event must be stored exactly once (spooled ones replayed), in order."""
    from gascity.plugins import PluginContext
    from gascity.types import EventDraft, EventFilter
    from gascity_dolt_events.store import DoltEvents
    from gascity_dolt_events.testing import MariaDBServer

    rng = random.Random(seed)
    row = Row(f"dolt events: server down mid-burst ({burst} events each)")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gcfault-") as tmp, \
            MariaDBServer(Path(tmp) / "mariadb") as server:
        for trial in range(trials):
            city_dir = Path(tmp) / f"city{trial}"
            (city_dir / ".gc").mkdir(parents=True)
            settings = server.settings(database=f"fault_{trial}", retry_backoff="50ms",
                                       connect_timeout="1s")
            store = DoltEvents(PluginContext(role="events", name="dolt", settings=settings,
                                             city_name=f"outage{trial}", city_dir=city_dir))
            cut_at = rng.randrange(10, burst - 10)
            try:
                for i in range(burst):
                    if i == cut_at:
                        server.stop()
                    if i == cut_at + 20:
                        server.start()
                    store.emit_event(EventDraft(type="burst", actor="w", message=str(i)))
                store.emit_event(EventDraft(type="flush", message="after"))  # replays
                stored = [e.message for e in store.list_events(EventFilter(types=("burst",)))]
            finally:
                if not server.running:
                    server.start()
                store.shutdown()
            expected = [str(i) for i in range(burst)]
            lost = len(set(expected) - set(stored))
            dup = len(stored) - len(set(stored))
            row.trials += 1
            row.lost += lost
            row.duplicated += dup
            ok = lost == 0 and dup == 0 and stored == expected
            row.survived += int(ok)
            if not ok:
                row.notes.append(f"trial {trial}: cut at {cut_at}, {lost} lost, {dup} "
                                 f"duplicated, in order: {stored == expected}")
    row.seconds = time.monotonic() - t0
    return row


EXPERIMENTS["dolt-outage"] = dolt_outage_mid_burst


# ------------------------------------------------- PostgreSQL mail outage mid-burst


def pgmail_outage_mid_burst(trials: int = 6, burst: int = 100, seed: int = 11) -> Row:
    """A writer sends a burst of messages through the postgres mail store (a real
    PostgreSQL server) while another thread stops the server at a random message, in
    ``fast`` or ``immediate`` (crash) mode, and starts it again up to 1.5 s later.
    pgmail has no spool: a send that reports the store unavailable is retried by the
    writer, as a script re-running ``gc mail send`` would. *Lost*: a message the store
    accepted that is not stored; *duplicated*: a message stored more than once."""
    from gascity.errors import StoreUnavailable
    from gascity.plugins import PluginContext
    from gascity.types import MailDraft
    from gascity_pgmail.store import PostgresMail
    from gascity_pgmail.testing import PostgresServer

    rng = random.Random(seed)
    row = Row(f"postgres mail: server down mid-burst ({burst} messages each)")
    t0 = time.monotonic()
    refused = 0
    # The pool logs every failed reconnect during the outage; the row counts them.
    logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)
    # Acknowledged commits must survive a crash, as on a production server.
    with tempfile.TemporaryDirectory(prefix="gcfault-") as tmp, \
            PostgresServer(settings={"synchronous_commit": "on"}) as server:
        for trial in range(trials):
            ctx = PluginContext(role="mail", name="postgres",
                                settings={"dsn": server.dsn, "schema": f"fault_{trial}",
                                          "retry_window": 0.5, "connect_timeout": 1,
                                          "pool_timeout": 1.0},
                                city_name=f"outage{trial}", city_dir=Path(tmp))
            store = PostgresMail(ctx)
            cut_at = rng.randrange(5, burst - 5)
            mode = rng.choice(["fast", "immediate"])
            down_for = rng.uniform(0.2, 1.5)
            reached = threading.Event()

            def cut(mode: str = mode, down_for: float = down_for,
                    reached: threading.Event = reached) -> None:
                reached.wait(120)
                server.stop(mode)
                time.sleep(down_for)
                server.start()

            cutter = threading.Thread(target=cut)
            accepted: list[str] = []
            try:
                store.ensure_schema()
                cutter.start()
                for i in range(burst):
                    if i == cut_at:
                        reached.set()
                    token = f"m{i}"
                    for _ in range(200):
                        try:
                            store.send_mail(MailDraft("w", "boss", token, token))
                        except StoreUnavailable:
                            refused += 1
                            time.sleep(0.05)
                            continue
                        accepted.append(token)
                        break
                cutter.join()
                stored = [m.subject for m in
                          store.mail_inbox("boss", include_read=True,
                                           include_archived=True, limit=None)]
            finally:
                reached.set()
                if cutter.is_alive():
                    cutter.join()
                if not server.running:
                    server.start()
                store.shutdown()
            lost = len(set(accepted) - set(stored))
            dup = len(stored) - len(set(stored))
            row.trials += 1
            row.lost += lost
            row.duplicated += dup
            ok = lost == 0 and dup == 0 and len(accepted) == burst
            row.survived += int(ok)
            if not ok:
                row.notes.append(f"trial {trial}: {mode} stop at {cut_at} for {down_for:.1f}s, "
                                 f"{len(accepted)} accepted, {lost} lost, {dup} duplicated")
    row.notes.append(f"{refused} sends reported the store unavailable and were retried")
    row.seconds = time.monotonic() - t0
    return row


EXPERIMENTS["pgmail-outage"] = pgmail_outage_mid_burst
