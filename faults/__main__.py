"""``python -m faults [--quick] [--out docs/reliability.md]``: run every experiment and
write the reliability report."""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

from .experiments import (
    GRACE,
    HOSTILE,
    PROBE_TIMEOUT,
    Row,
    concurrent_cli_writers,
    controller_kill9,
    dolt_outage_mid_burst,
    hostile_scale_checks,
    pgmail_outage_mid_burst,
    torn_config_writes,
)

ROOT = Path(__file__).resolve().parents[1]


def run(quick: bool) -> list[Row]:
    scale = 0.2 if quick else 1.0
    return [
        controller_kill9(trials=max(5, int(50 * scale))),
        torn_config_writes(trials=max(5, int(40 * scale))),
        hostile_scale_checks(reps=1 if quick else 3),
        concurrent_cli_writers(writers=4, each=max(3, int(15 * scale))),
        dolt_outage_mid_burst(trials=1 if quick else 5),
        pgmail_outage_mid_burst(trials=2 if quick else 10),
    ]


def render(rows: list[Row], command: str) -> str:
    lines = [
        "# Reliability: the fault suite",
        "",
        "Written by `" + command + "` (`nox -s faults`); a bounded subset of the same "
        "experiments runs in the default tests (`tests/test_faults.py`). Real parts "
        "throughout: controllers are real processes killed with SIGKILL, sessions are "
        "real processes of the `subprocess` provider, city.toml is a real file written "
        "while the controller ticks, scale checks are real `sh -c` commands, and the "
        "CLI writers are real `gc` processes against the file event log and the sqlite "
        "mail store.",
        "",
        f"Run on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"{_cores()} cores.",
        "",
        "| experiment | trials | survived | lost | duplicated | seconds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r.experiment} | {r.trials} | {r.survived} | {r.lost} | "
                     f"{r.duplicated} | {r.seconds:.1f} |")
    lines += ["", "## What each experiment checks", ""]
    lines += [
        "* **kill -9 of the controller**: a city of 3 agents and a pool of 3 under the "
        "`subprocess` provider; a controller process is started and killed with SIGKILL "
        "after a random 0-1.2 s (before, during or after its start burst), then a new "
        "controller ticks once. *Lost*: a desired session not running afterwards. "
        "*Duplicated*: a session listed twice, or more `sleep` processes carrying the "
        "trial's tag than desired sessions (an untracked leak counts here).",
        "* **torn city.toml writes**: while the controller ticks, city.toml is emptied, "
        "truncated mid-table, replaced by garbage bytes, or written in two steps with a "
        "0-150 ms pause at an `[[agent]]` boundary. *Survived*: no session stopped, "
        "drained or started across the ticks around the write; *lost* counts sessions "
        "gone, *duplicated* sessions started.",
        f"* **hostile scale checks**: {len(HOSTILE)} checks "
        f"({', '.join(HOSTILE)}) each run under `probe_timeout = {PROBE_TIMEOUT:g}s`; "
        f"*survived* means it returned within probe_timeout + {GRACE:g} s and the tick "
        "went on (the count falls back to `min`, or is clamped by the safety cap).",
        "* **concurrent CLI writers**: 4 processes each run `gc event emit` and `gc mail "
        "send` in a loop against one city. Trials count events plus messages; *lost* / "
        "*duplicated* compare what was stored with what was sent (event seqs must also be "
        "unique and contiguous).",
        "* **database outage mid-burst**: a writer emits 120 events to the dolt events "
        "store (a real MariaDB server started by the suite); the server is stopped at a "
        "random event and started again 20 events later. Spooled events are replayed "
        "on the next emit; *lost* / *duplicated* compare the stored burst with what was "
        "emitted, and *survived* also requires the original order.",
        "* **PostgreSQL mail outage mid-burst**: a writer sends 100 messages through the "
        "`postgres` mail store (a real PostgreSQL server started by the suite, "
        "`synchronous_commit = on`); another thread stops the server at a random message, "
        "in `fast` mode or `immediate` (crash) mode, and starts it again 0.2-1.5 s later. "
        "Within its `retry_window` (0.5 s here, shorter than most outages) the store "
        "retries what provably did not commit, and a send whose outcome is unknown with "
        "the same send key (a stored first attempt is found, not stored again). pgmail "
        "has no spool, so a send that still reports the store unavailable is retried by "
        "the writer, as a script re-running `gc mail send` would (the notes count them). "
        "*Lost*: a message the store accepted that is not stored; "
        "*duplicated*: a message stored twice; *survived* also requires every message to "
        "be accepted in the end.",
        "",
        "What the suite found: its first full run (before the fix) counted 3 duplicated "
        "sessions in 50 kill trials, processes the `subprocess` provider had spawned but "
        "not yet recorded when the controller died. The spawn id is now recorded before "
        "the spawn and carried in the session's environment, so the restarted "
        "controller's stop finds and ends such a process.",
    ]
    notes = [f"* {r.experiment}: {n}" for r in rows for n in r.notes]
    if notes:
        lines += ["", "## Notes", "", *notes]
    return "\n".join(lines) + "\n"


def _cores() -> int:
    import os

    return os.cpu_count() or 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faults")
    parser.add_argument("--quick", action="store_true", help="a fifth of the trials")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "reliability.md")
    args = parser.parse_args(argv)
    rows = run(args.quick)
    command = "python -m faults" + (" --quick" if args.quick else "")
    args.out.write_text(render(rows, command))
    for r in rows:
        print(f"{r.experiment}: {r.survived}/{r.trials} survived, {r.lost} lost, "
              f"{r.duplicated} duplicated ({r.seconds:.1f}s)")
    bad = any(r.lost or r.duplicated or r.survived != r.trials for r in rows)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
