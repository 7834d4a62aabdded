"""``gc event emit`` / ``mail send`` / ``runtime drain-ack`` without click: the same call.

Every invocation runs twice, each in its own copy of a city: through ``gc`` (which
takes :mod:`gascity.cli.fast` when it can) and straight through the click command.
stdout, stderr, exit code and what ends up stored must be the same.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import click
import pytest

from gascity.cli.app import COMMANDS
from gascity.cli.fast import SPECS

# Which way ran shows in the modules loaded: click is the slow path's first import.
_GC = """
import atexit, sys
atexit.register(lambda: sys.__stderr__.write("\\nPATH=" + ("click" if "click" in sys.modules
                                                      else "fast") + "\\n"))
sys.argv = ["gc", *sys.argv[1:]]
from gascity.cli.main import main
main()
"""
_CLICK = """
import sys
from gascity.cli.app import cli
sys.argv = ["gc", *sys.argv[1:]]
cli(prog_name="gc")
"""

_CITY = """\
[workspace]
name = "fast"

[session]
provider = "subprocess"

[events.file]
fsync = false

[[agent]]
name = "worker"
command = "sleep 60"
"""

# (argv, extra environment, whether the fast path must have run it)
CASES: list[tuple[list[str], dict[str, str], bool]] = [
    (["event", "emit", "build.done"], {}, True),
    (["event", "emit", "build.done", "--actor", "me", "--subject", "s", "--message", "m",
      "--payload", '{"k": [1, 2]}', "--json"], {}, True),
    (["event", "emit", "--payload=[1]", "x.y", "--actor=a", "--actor", "b"], {}, True),
    (["event", "emit", "x.y"], {"GC_AGENT": "worker"}, True),
    (["event", "emit", "x.y", "--message", "--json"], {}, True),
    (["--city", "CITY", "event", "emit", "x.y"], {}, True),
    (["event", "emit", "x.y"], {"GC_CITY_DIR": "CITY"}, True),
    (["event", "emit", " "], {}, False),
    (["event", "emit", "x.y", "--payload", "{bad"], {}, False),
    (["event", "emit"], {}, False),
    (["event", "emit", "a", "b"], {}, False),
    (["event", "emit", "x.y", "--nope"], {}, False),
    (["event", "emit", "x.y", "--payload"], {}, False),
    (["event", "emit", "--help"], {}, False),
    (["event", "emit", "x.y"], {"GC_EVENTS": "nosuch"}, False),
    (["event", "emit", "x.y"], {"GC_CITY_DIR": "/nonexistent/city"}, False),
    (["-v", "event", "emit", "x.y"], {}, False),
    (["mail", "send", "bob", "hello"], {}, True),
    (["mail", "send", "--to", "bob", "-s", "subj", "-m", "body", "--json"], {}, True),
    (["mail", "send", "--from", "alice", "bob", "hi there", "--subject=S"], {}, True),
    (["mail", "send", "--to", "bob", "hello"], {"GC_ALIAS": "rig/worker"}, True),
    (["mail", "send", "bob", "--body", "b", "-s", "x"], {}, True),
    (["mail", "send", "bob", "-s", "only a subject"], {}, True),
    (["mail", "send", "--to", "", "bob", "hi"], {}, True),
    (["mail", "send", "--to", "bob", "one", "two"], {}, False),
    (["mail", "send"], {}, False),
    (["mail", "send", "bob"], {}, False),
    (["mail", "send", "--all", "--to", "bob", "x"], {}, False),
    (["mail", "send", "bob", "-sX"], {}, False),
    (["mail", "send", "bob", "-s=x", "b"], {}, False),
    (["runtime", "drain-ack", "worker"], {}, True),
    (["runtime", "drain-ack", "--session", "worker"], {}, True),
    (["runtime", "drain-ack"], {"GC_SESSION_NAME": "worker"}, True),
    (["runtime", "drain-ack"], {"GC_AGENT": "worker"}, True),
    (["runtime", "drain-ack"], {}, False),
    (["runtime", "drain-ack", "ghost"], {}, False),
    (["runtime", "drain-ack", "worker"], {"GC_SESSION": "nosuch"}, False),
]

_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00")


def _city(root: Path) -> Path:
    city = root / "city"
    (city / ".gc" / "sessions" / "worker").mkdir(parents=True)
    (city / "city.toml").write_text(_CITY)
    (city / ".gc" / "sessions" / "worker" / "meta.json").write_text('{"k": "v"}')
    return city


def _run(script: str, argv: list[str], env: dict[str, str], city: Path
         ) -> tuple[str, str, int, str]:
    def fill(s: str) -> str:
        return s.replace("CITY", str(city))

    proc = subprocess.run(
        [sys.executable, "-c", script, *(fill(a) for a in argv)], cwd=city,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("GC_")},
             **{k: fill(v) for k, v in env.items()}},
        capture_output=True, text=True, timeout=60, check=False)
    err, _, way = proc.stderr.rpartition("\nPATH=")
    if not _:
        err, way = proc.stderr, ""

    def norm(s: str) -> str:
        return _TS.sub("TS", s.replace(str(city), "CITY"))

    return norm(proc.stdout), norm(err), proc.returncode, way.strip()


def _stored(city: Path) -> dict[str, object]:
    events = city / ".gc" / "events.jsonl"
    text = _TS.sub("TS", events.read_text()) if events.exists() else ""
    lines = [json.loads(ln) for ln in text.splitlines()]
    rows: list[tuple[object, ...]] = []
    if (city / ".gc" / "mail.db").exists():
        db = sqlite3.connect(city / ".gc" / "mail.db")
        rows = db.execute("SELECT id, thread_id, reply_to, sender, recipient, subject, body "
                          "FROM messages ORDER BY id").fetchall()
        db.close()
    meta = (city / ".gc" / "sessions" / "worker" / "meta.json").read_text()
    return {"events": lines, "mail": rows, "meta": json.loads(meta)}


@pytest.mark.parametrize(("argv", "env", "fast"), CASES, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else None)
def test_the_fast_path_and_click_answer_alike(tmp_path: Path, argv: list[str],
                                              env: dict[str, str], fast: bool) -> None:
    fast_city, click_city = _city(tmp_path / "fast"), _city(tmp_path / "click")
    for city in (fast_city, click_city):  # a store with history: seqs and ids go on
        first = _run(_CLICK, ["event", "emit", "before"], {}, city)
        assert first[2] == 0, first
        assert _run(_CLICK, ["mail", "send", "x", "y"], {}, city)[2] == 0
    out, err, code, way = _run(_GC, argv, env, fast_city)
    c_out, c_err, c_code, _ = _run(_CLICK, argv, env, click_city)
    assert (out, err, code) == (c_out, c_err, c_code)
    assert _stored(fast_city) == _stored(click_city)
    assert way == ("fast" if fast else "click"), (way, err)


def test_a_broken_city_toml_goes_the_click_way(tmp_path: Path) -> None:
    city = _city(tmp_path)
    (city / "city.toml").write_text("[session\n")
    _, err, code, way = _run(_GC, ["event", "emit", "x"], {}, city)
    assert way == "click" and code == 2
    assert "city.toml" in err and "line 1" in err


def test_a_disabled_plugin_list_goes_the_click_way(tmp_path: Path) -> None:
    city = _city(tmp_path)
    with (city / "city.toml").open("a") as f:
        f.write('\n[plugins]\ndisabled = ["gascity-k8s"]\n')
    out, _, code, way = _run(_GC, ["event", "emit", "x"], {}, city)
    assert (out.strip(), code, way) == ("1", 0, "click")


@pytest.mark.parametrize("command", sorted(SPECS))
def test_the_fast_parser_accepts_what_the_click_command_declares(
        command: tuple[str, str]) -> None:
    group = COMMANDS[command[0]].load()
    assert isinstance(group, click.Group)
    cmd = group.commands[command[1]]
    arguments = tuple(p.name for p in cmd.params if isinstance(p, click.Argument))
    options: dict[str, str] = {}
    flags: dict[str, str] = {}
    for p in cmd.params:
        if isinstance(p, click.Option) and p.name != "help":
            for spelling in (*p.opts, *p.secondary_opts):
                (flags if p.is_flag else options)[spelling] = str(p.name)
    spec = SPECS[command]
    assert (spec.arguments, spec.options, spec.flags) == (arguments, options, flags)


@pytest.mark.parametrize("argv", [["event", "emit", "x"],
                                  ["mail", "send", "bob", "hi"],
                                  ["runtime", "drain-ack", "worker"]],
                         ids=lambda a: " ".join(a[:2]))
def test_the_fast_path_imports_only_its_own_few_modules(tmp_path: Path,
                                                         argv: list[str]) -> None:
    city = _city(tmp_path)
    probe = ('import atexit, json, sys\n'
             'atexit.register(lambda: sys.__stderr__.write("MODULES=" + json.dumps('
             'sorted(sys.modules)) + "\\n"))\n' + _GC)
    proc = subprocess.run([sys.executable, "-c", probe, *argv], cwd=city, capture_output=True,
                          text=True, timeout=60, check=False,
                          env={k: v for k, v in os.environ.items() if not k.startswith("GC_")})
    assert proc.returncode == 0, proc.stderr
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("MODULES=")][-1]
    modules = set(json.loads(line.removeprefix("MODULES=")))
    ours = {m for m in modules if m.split(".")[0] == "gascity"}
    common = {"gascity", "gascity._lazy", "gascity._version", "gascity.builtin", "gascity.cli",
              "gascity.cli.fast", "gascity.cli.identity", "gascity.cli.main",
              "gascity.config", "gascity.config.durations", "gascity.config.light",
              "gascity.config.wording", "gascity.errors", "gascity.plugins",
              "gascity.plugins.context", "gascity.plugins.epcache",
              "gascity.plugins.settings", "gascity.types"}
    events = {"gascity.builtin.file_events", "gascity.osutil", "gascity.osutil.flock"}
    extra = {
        "event": events,
        "mail": events | {"gascity.builtin.sqlite_mail", "gascity.event_names",
                          "gascity.mailrow"},
        "runtime": set(),
    }[argv[0]]
    if argv[0] == "runtime":
        # The subprocess provider's own imports, plus the controller's socket path.
        extra = {m for m in ours if m.startswith(("gascity.osutil", "gascity.builtin.",
                                                  "gascity.controller", "gascity.fsutil",
                                                  "gascity.readiness"))}
        assert "gascity.builtin.subprocess_provider" in extra
    assert ours == common | extra
    for heavy in ("click", "pydantic", "gascity.plugins.manager", "gascity.plugins.facade",
                  "gascity.cli.app", "gascity.cli.common", "gascity.reconcile",
                  "subprocess", "uuid", "ctypes"):
        assert not any(m == heavy or m.startswith(heavy + ".") for m in modules), heavy
