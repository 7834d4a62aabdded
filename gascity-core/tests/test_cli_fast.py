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

# Which way ran shows in the modules loaded: click is the slow path's first import;
# the fast path builds a plugin through its PluginContext, or writes the store itself.
_GC = """
import atexit, os, sys
atexit.register(lambda: sys.__stderr__.write("\\nPATH=" + (
    "click" if "click" in sys.modules
    else "plugin" if "gascity.plugins.context" in sys.modules else "lean") + "\\n"))
sys.argv = ["gc", *sys.argv[1:]]
sys.path[0] = os.path.dirname(sys.executable)  # as in the gc script: not the cwd
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

[[agent]]
name = "worker"
command = "sleep 60"
"""

# (argv, extra environment, the way that must have run it: the store written directly,
# the built-in plugin built by the fast path, or click)
CASES: list[tuple[list[str], dict[str, str], str]] = [
    (["event", "emit", "build.done"], {}, "lean"),
    (["event", "emit", "build.done", "--actor", "me", "--subject", "s", "--message", "m",
      "--payload", '{"k": [1, 2]}', "--json"], {}, "lean"),
    (["event", "emit", "--payload=[1]", "x.y", "--actor=a", "--actor", "b"], {}, "lean"),
    (["event", "emit", "x.y"], {"GC_AGENT": "worker"}, "lean"),
    (["event", "emit", "x.y", "--message", "--json"], {}, "lean"),
    (["--city", "CITY", "event", "emit", "x.y"], {}, "lean"),
    (["event", "emit", "x.y"], {"GC_CITY_DIR": "CITY"}, "lean"),
    (["event", "emit", " "], {}, "click"),
    (["event", "emit", "x.y", "--payload", "{bad"], {}, "click"),
    (["event", "emit"], {}, "click"),
    (["event", "emit", "a", "b"], {}, "click"),
    (["event", "emit", "x.y", "--nope"], {}, "click"),
    (["event", "emit", "x.y", "--payload"], {}, "click"),
    (["event", "emit", "--help"], {}, "click"),
    (["event", "emit", "x.y"], {"GC_EVENTS": "nosuch"}, "click"),
    (["event", "emit", "x.y"], {"GC_FILE_EVENTS_FSYNC": "true"}, "plugin"),
    (["event", "emit", "x.y", "--json"], {"GC_FILE_EVENTS_FSYNC": "maybe"}, "click"),
    (["event", "emit", "x.y"], {"GC_FILE_EVENTS_OTHER": "1", "GC_SUBPROCESS_SPAWN": "1"},
     "lean"),
    (["event", "emit", "x.y"], {"GC_CITY_DIR": "/nonexistent/city"}, "click"),
    (["-v", "event", "emit", "x.y"], {}, "click"),
    (["mail", "send", "bob", "hello"], {}, "lean"),
    (["mail", "send", "--to", "bob", "-s", "subj", "-m", "body", "--json"], {}, "lean"),
    (["mail", "send", "--from", "alice", "bob", "hi there", "--subject=S"], {}, "lean"),
    (["mail", "send", "--to", "bob", "hello"], {"GC_ALIAS": "rig/worker"}, "lean"),
    (["mail", "send", "bob", "--body", "b", "-s", "x"], {}, "lean"),
    (["mail", "send", "bob", "-s", "only a subject"], {}, "lean"),
    (["mail", "send", "--to", "", "bob", "hi"], {}, "lean"),
    (["mail", "send", "--to", "bob", "one", "two"], {}, "click"),
    (["mail", "send", "bob", "hi", "--json"], {"GC_SQLITE_MAIL_BUSY_TIMEOUT": "5"}, "plugin"),
    (["mail", "send", "bob", "hi"], {"GC_SQLITE_MAIL_BUSY_TIMEOUT": "-1"}, "click"),
    (["mail", "send", "bob", "hi"], {"GC_FILE_EVENTS_INOTIFY": "off"}, "plugin"),
    (["mail", "send"], {}, "click"),
    (["mail", "send", "bob"], {}, "click"),
    (["mail", "send", "--all", "--to", "bob", "x"], {}, "click"),
    (["mail", "send", "bob", "-sX"], {}, "click"),
    (["mail", "send", "bob", "-s=x", "b"], {}, "click"),
    (["runtime", "drain-ack", "worker"], {}, "lean"),
    (["runtime", "drain-ack", "--session", "worker"], {}, "lean"),
    (["runtime", "drain-ack"], {"GC_SESSION_NAME": "worker"}, "lean"),
    (["runtime", "drain-ack"], {"GC_AGENT": "worker"}, "lean"),
    (["runtime", "drain-ack"], {}, "click"),
    (["runtime", "drain-ack", "ghost"], {}, "click"),
    (["runtime", "drain-ack", "worker"], {"GC_SESSION": "nosuch"}, "click"),
    (["runtime", "drain-ack", "worker"], {"GC_SUBPROCESS_STOP_GRACE": "3"}, "plugin"),
    (["runtime", "drain-ack", "worker"], {"GC_SUBPROCESS_STOP_GRACE": "soon"}, "click"),
    (["runtime", "drain-ack", "../worker"], {}, "click"),
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


@pytest.mark.parametrize(("argv", "env", "expected"), CASES, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else None)
def test_the_fast_path_and_click_answer_alike(tmp_path: Path, argv: list[str],
                                              env: dict[str, str], expected: str) -> None:
    fast_city, click_city = _city(tmp_path / "fast"), _city(tmp_path / "click")
    for city in (fast_city, click_city):  # a store with history: seqs and ids go on
        first = _run(_CLICK, ["event", "emit", "before"], {}, city)
        assert first[2] == 0, first
        assert _run(_CLICK, ["mail", "send", "x", "y"], {}, city)[2] == 0
    out, err, code, way = _run(_GC, argv, env, fast_city)
    c_out, c_err, c_code, _ = _run(_CLICK, argv, env, click_city)
    assert (out, err, code) == (c_out, c_err, c_code)
    assert _stored(fast_city) == _stored(click_city)
    assert way == expected, (way, err)


_EMIT, _SEND = ["event", "emit", "x", "--json"], ["mail", "send", "bob", "hi", "--json"]


@pytest.mark.parametrize(("table", "argv", "expected"), [
    ("[events.file]\nfsync = false\n", _EMIT, "lean"),
    ("[events.file]\nfsync = true\npoll_interval = 0.25\n", _EMIT, "lean"),
    ("[events.file]\npoll_interval = \"250ms\"\n", _EMIT, "plugin"),
    ("[events.file]\nfsync = 3\n", _EMIT, "click"),
    ("[events.file]\nfsnc = true\n", _EMIT, "click"),
    ("[events.file]\nfollow_grace = -1\n", _EMIT, "click"),
    ("[events]\nfile = 3\n", _EMIT, "lean"),
    ("[mail.sqlite]\nbusy_timeout = 5\n[events.file]\nfsync = true\n", _SEND, "lean"),
    ("[mail.sqlite]\nbusy_timeout = \"5\"\n", _SEND, "click"),
    ("[events.file]\npoll_interval = \"1s\"\n", _SEND, "plugin"),
    ("[session.subprocess]\nstop_grace = 2\n", ["runtime", "drain-ack", "worker"], "lean"),
    ("[session.subprocess]\nstop_grace = 0\n", ["runtime", "drain-ack", "worker"], "click"),
])
def test_a_settings_table_is_validated_alike(tmp_path: Path, table: str, argv: list[str],
                                             expected: str) -> None:
    cities = _city(tmp_path / "fast"), _city(tmp_path / "click")
    for city in cities:
        (city / "city.toml").write_text(_CITY.replace("[[agent]]", table + "\n[[agent]]"))
    out, err, code, way = _run(_GC, argv, {}, cities[0])
    assert (out, err, code) == _run(_CLICK, argv, {}, cities[1])[:3]
    assert _stored(cities[0]) == _stored(cities[1])
    assert way == expected, (way, err)


def test_a_torn_last_line_is_reported_alike(tmp_path: Path) -> None:
    fast_city, click_city = _city(tmp_path / "fast"), _city(tmp_path / "click")
    for city in (fast_city, click_city):
        assert _run(_CLICK, ["event", "emit", "before"], {}, city)[2] == 0
        with (city / ".gc" / "events.jsonl").open("a") as f:
            f.write('{"seq": 2, "type": "to')
    out, err, code, way = _run(_GC, ["event", "emit", "after"], {}, fast_city)
    assert (out, err, code) == _run(_CLICK, ["event", "emit", "after"], {}, click_city)[:3]
    assert "torn last line" in err and err.startswith("gc: ")
    assert (out.strip(), way) == ("2", "lean")
    fast_lines, click_lines = (_TS.sub("TS", (c / ".gc" / "events.jsonl").read_text())
                               for c in (fast_city, click_city))
    assert fast_lines == click_lines and fast_lines.count("\n") == 3


@pytest.mark.parametrize("argv", [["event", "emit", "x"], ["mail", "send", "bob", "hi"]],
                         ids=lambda a: " ".join(a[:2]))
def test_another_distributions_plugin_of_the_same_name_goes_the_click_way(
        tmp_path: Path, argv: list[str]) -> None:
    site = tmp_path / "site"
    info = site / "gcx_shadow-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gcx_shadow\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[gascity.events]\nfile = gcx_shadow:Store\n")
    city = _city(tmp_path)
    env = {"PYTHONPATH": str(site), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    _, _, _, way = _run(_GC, argv, env, city)
    assert way == "click"


_MODELS = [("session", "gascity.builtin.subprocess_provider", "SubprocessSettings"),
           ("events", "gascity.builtin.file_events", "FileEventsSettings"),
           ("mail", "gascity.builtin.sqlite_mail", "SqliteMailSettings")]


@pytest.mark.parametrize(("role", "module", "model"), _MODELS, ids=str)
def test_the_settings_kinds_are_the_builtin_plugins_own(role: str, module: str,
                                                        model: str) -> None:
    import dataclasses
    import importlib
    import typing

    from gascity.cli.fast import SETTINGS

    cls = getattr(importlib.import_module(module), model)
    hints = typing.get_type_hints(cls)  # Seconds is a float
    declared = {f.name: "bool" if hints[f.name] is bool else "positive"
                for f in dataclasses.fields(cls)}
    assert all(hints[f.name] in (bool, float) for f in dataclasses.fields(cls))
    assert declared == SETTINGS[role]


_VALUES = [True, False, 0, 1, 2.5, 1e-9, -1, -0.5, "30s", "1", float("inf"), float("nan"),
           [1], {"a": 1}, 10**30]


@pytest.mark.parametrize(("role", "module", "model"), _MODELS, ids=str)
def test_what_the_fast_path_takes_unvalidated_the_validator_takes_unchanged(
        role: str, module: str, model: str) -> None:
    import importlib

    from gascity.cli.fast import SETTINGS, _plain
    from gascity.plugins.settings import validate_dataclass

    cls = getattr(importlib.import_module(module), model)
    taken = 0
    for key, kind in SETTINGS[role].items():
        for value in _VALUES:
            if not _plain(kind, value):
                continue
            taken += 1
            result, problems = validate_dataclass(cls, {key: value}, role, {})
            assert problems == [] and result is not None, (key, value)
            # What the fast path uses: the boolean itself, float() of a number.
            expected = value if kind == "bool" else float(value)  # type: ignore[arg-type]
            assert getattr(result, key) is expected or (
                getattr(result, key) == expected and type(getattr(result, key)) is float
            ), (key, value)
    assert taken > 0
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
    for _ in range(2):  # the first may fill the entry-point cache
        proc = subprocess.run([sys.executable, "-c", probe, *argv], cwd=city,
                              capture_output=True, text=True, timeout=60, check=False,
                              env={k: v for k, v in os.environ.items()
                                   if not k.startswith("GC_")})
    assert proc.returncode == 0, proc.stderr
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("MODULES=")][-1]
    modules = set(json.loads(line.removeprefix("MODULES=")))
    ours = {m for m in modules if m.split(".")[0] == "gascity"}
    # Reading city.toml and finding the built-in plugin's entry point:
    common = {"gascity", "gascity._lazy", "gascity._version", "gascity.cli",
              "gascity.cli.fast", "gascity.cli.identity", "gascity.cli.main",
              "gascity.config", "gascity.config.light", "gascity.config.wording",
              "gascity.errors", "gascity.plugins", "gascity.plugins.epcache"}
    events = {"gascity.builtin", "gascity.builtin.eventlines", "gascity.osutil",
              "gascity.osutil.flock", "gascity.wire"}
    extra = {
        "event": events,
        "mail": events | {"gascity.builtin.maildb", "gascity.event_names",
                          "gascity.mailrow"},
        # The session's meta.json under its lock, and where a controller would listen.
        "runtime": {"gascity.builtin", "gascity.builtin.sessionmeta", "gascity.fsutil",
                    "gascity.metakeys", "gascity.osutil", "gascity.osutil.flock",
                    "gascity.controller", "gascity.controller.sockpath"},
    }[argv[0]]
    assert ours == common | extra
    lean_never = ("dataclasses", "pathlib", "logging", "threading", "pluggy", "inspect")
    for heavy in lean_never:
        assert heavy not in modules, heavy
    for heavy in ("click", "pydantic", "gascity.plugins.manager", "gascity.plugins.facade",
                  "gascity.cli.app", "gascity.cli.common", "gascity.reconcile",
                  "subprocess", "uuid", "ctypes"):
        assert not any(m == heavy or m.startswith(heavy + ".") for m in modules), heavy
