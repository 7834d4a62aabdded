"""The ``exec:`` events backend driven through real scripts written to the
reference's protocol: a POSIX shell one (jq) and a Python one pass the events kit;
scripts that answer exit 2, hang or print garbage get clear answers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gascity.errors import StoreUnavailable
from gascity.plugins import Hooks, PluginContext
from gascity.testing import hooks_for
from gascity.testing.kits.events import EventStoreKit
from gascity.types import EventDraft, EventFilter
from gascity_exec.events import ExecEvents, event_to_json, filter_to_json
from gascity_exec.wire import go_json

SCRIPTS = Path(__file__).parent / "scripts"
GC = [sys.executable, "-c", "from gascity.cli.main import main; main()"]


def make_events(script: Path, tmp_path: Path, **settings: object) -> ExecEvents:
    ctx = PluginContext(
        role="events",
        name="exec",
        argument=str(script),
        settings=dict(settings),
        city_name="test-city",
        city_dir=tmp_path,
        env={**os.environ, "EVENTS_FILE": str(tmp_path / "events.jsonl")},
    )
    return ExecEvents(ctx)


class TestPythonEventsScript(EventStoreKit):
    returns_seq = False
    supports_prune = False

    @pytest.fixture
    def events_hooks(self, tmp_path: Path) -> Iterator[Hooks]:
        yield hooks_for(make_events(SCRIPTS / "events_store.py", tmp_path), role="events")


class TestShellEventsScript(EventStoreKit):
    returns_seq = False
    supports_prune = False

    @pytest.fixture
    def events_hooks(self, tmp_path: Path) -> Iterator[Hooks]:
        yield hooks_for(make_events(SCRIPTS / "events_store.sh", tmp_path), role="events")


def test_the_wire_shapes_are_the_references(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    ts = datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)
    assert go_json(event_to_json(EventDraft(type="a.b", actor="x", ts=ts))) == (
        b'{"seq":0,"type":"a.b","ts":"2026-01-02T03:04:05.12Z","actor":"x"}'
    )
    full = EventDraft(type="t", subject="s", message="m<", payload={"k": 1}, ts=ts)
    assert go_json(event_to_json(full)) == (
        b'{"seq":0,"type":"t","ts":"2026-01-02T03:04:05.12Z","actor":"","subject":"s",'
        b'"message":"m\\u003c","payload":{"k":1}}'
    )
    assert go_json(filter_to_json(EventFilter())) == (
        b'{"Type":"","Actor":"","Since":"0001-01-01T00:00:00Z","AfterSeq":0}'
    )
    assert go_json(filter_to_json(EventFilter(types=("x",), actor="y", after_seq=4))) == (
        b'{"Type":"x","Actor":"y","Since":"0001-01-01T00:00:00Z","AfterSeq":4}'
    )


def test_payloads_are_any_json_value_both_ways(tmp_path: Path) -> None:
    # The reference's payload is a json.RawMessage: arrays and strings pass as they are.
    hooks = hooks_for(make_events(SCRIPTS / "events_store.py", tmp_path), role="events")
    hooks.record_event(EventDraft(type="a", payload=["x", 1]))
    hooks.record_event(EventDraft(type="b", payload="text"))
    hooks.record_event(EventDraft(type="c", payload={"k": [1]}))
    # Falsy values are values too (a RawMessage is omitted only when empty).
    for kind, falsy in (("d", 0), ("e", False), ("f", ""), ("g", [])):
        hooks.record_event(EventDraft(type=kind, payload=falsy))
    assert [e.payload for e in hooks.list_events()] == [
        ["x", 1], "text", {"k": [1]}, 0, False, "", []]


def test_ensure_running_is_called_once_per_process(tmp_path: Path) -> None:
    hooks = hooks_for(make_events(SCRIPTS / "events_store.py", tmp_path), role="events")
    for _ in range(3):
        hooks.emit("x")
    assert hooks.latest_event_seq() == 3
    assert (tmp_path / "events.jsonl.ensured").read_text() == "x\n"


def test_a_script_answering_exit_2_to_everything_optional(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script = tmp_path / "minimal"
    script.write_text('#!/bin/sh\n[ "$1" = record ] && { cat > /dev/null; exit 0; }\nexit 2\n')
    script.chmod(0o755)
    hooks = hooks_for(make_events(script, tmp_path), role="events")
    recorded = hooks.emit("x")
    assert recorded is not None and recorded.type == "x"
    assert hooks.latest_event_seq() == 0
    assert hooks.list_events() == []
    assert "exec events" not in caplog.text


def test_a_hanging_script_times_out_with_the_op_named(tmp_path: Path) -> None:
    script = tmp_path / "hangs"
    script.write_text('#!/bin/sh\n[ "$1" = ensure-running ] && exit 2\nexec sleep 30\n')
    script.chmod(0o755)
    hooks = hooks_for(
        make_events(script, tmp_path, timeout="500ms", kill_grace="100ms"), role="events"
    )
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=r"hangs list: timed out after 0\.5s"):
        hooks.list_events()
    assert time.monotonic() - started < 10
    assert hooks.emit("x") is None  # record never raises into the caller


def test_garbage_output_is_a_clear_error_naming_the_op(tmp_path: Path) -> None:
    script = tmp_path / "garbage"
    script.write_text('#!/bin/sh\necho "hello, I am not JSON"\n')
    script.chmod(0o755)
    hooks = hooks_for(make_events(script, tmp_path), role="events")
    with pytest.raises(StoreUnavailable, match=r"garbage list: expected a JSON array of events"):
        hooks.list_events()
    with pytest.raises(StoreUnavailable, match=r"garbage latest-seq: expected a sequence number"):
        hooks.latest_event_seq()


def test_a_failing_script_error_carries_its_stderr(tmp_path: Path) -> None:
    script = tmp_path / "fails"
    script.write_text(
        '#!/bin/sh\n[ "$1" = ensure-running ] && exit 2\necho "db down" >&2\nexit 1\n'
    )
    script.chmod(0o755)
    hooks = hooks_for(make_events(script, tmp_path), role="events")
    with pytest.raises(StoreUnavailable, match=r"exec events provider .*fails list: db down"):
        hooks.list_events()


def test_follow_streams_through_watch(tmp_path: Path) -> None:
    store = make_events(SCRIPTS / "events_store.sh", tmp_path)
    hooks = hooks_for(store, role="events")
    hooks.emit("before")
    from gascity.eventlog import follow

    stop = threading.Event()
    got: list[str] = []

    def reader() -> None:
        for event in follow(hooks, EventFilter(after_seq=1, types=("wanted",)), stop=stop):
            got.append(event.message)
            if len(got) == 2:
                stop.set()

    t = threading.Thread(target=reader)
    t.start()
    hooks.emit("wanted", message="one")
    hooks.emit("other")
    hooks.emit("wanted", message="two")
    t.join(20)
    stop.set()
    assert not t.is_alive()
    assert got == ["one", "two"]
    calls_after = store.client.calls
    assert calls_after < 10, "a watcher streams; it does not poll list"


def children_argv(pid: int) -> list[list[str]]:
    """The argv of each live child of ``pid`` (from /proc)."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                raw = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            out.append([a.decode() for a in raw.split(b"\0") if a])
    return out


def _follow(tmp_path: Path) -> tuple[subprocess.Popen[str], Hooks, Path]:
    """``gc events --follow --json`` on a city whose events store is the Python test
    script, after one ``history`` event; returns the follower, the store's hooks and
    the script."""
    city = tmp_path / "city"
    city.mkdir()
    script = SCRIPTS / "events_store.py"
    (city / "city.toml").write_text(
        f'[workspace]\nname = "w"\n\n[events]\nprovider = "exec:{script}"\n'
    )
    env = {**os.environ, "EVENTS_FILE": str(tmp_path / "events.jsonl")}
    env.pop("GC_EVENTS", None)
    hooks = hooks_for(make_events(script, tmp_path), role="events")
    hooks.emit("history", actor="t")
    proc = subprocess.Popen([*GC, "--city", str(city), "events", "--follow", "--json"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, hooks, script


def test_gc_events_follow_runs_the_watch_op(tmp_path: Path) -> None:
    proc, hooks, script = _follow(tmp_path)
    try:
        assert proc.stdout is not None
        # The history is printed before following starts after it: an event recorded
        # once it is read cannot fall between the two, however slow the machine.
        assert json.loads(proc.stdout.readline())["type"] == "history"
        hooks.emit("live.one", actor="t", message="hello")
        event = json.loads(proc.stdout.readline())
        assert event["type"] == "live.one" and event["message"] == "hello"
        assert [str(script), "watch", "1"] in [a[-3:] for a in children_argv(proc.pid)]
    finally:
        proc.terminate()  # gc's own cleanup ends the watcher (a kill would orphan it)
        proc.wait(10)


def _live(pid: int) -> bool:
    """Is ``pid`` a process that still runs (not gone, not a zombie nobody reaps)?"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signalled_follower_leaves_no_watcher_behind(tmp_path: Path, sig: int) -> None:
    # The watcher runs in its own session (a terminal's Ctrl-C is gc's to handle), so
    # only gc can end it: a `kill` or a closed terminal must not leave it running.
    proc, _hooks, _script = _follow(tmp_path)
    watchers: list[int] = []
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["type"] == "history"
        deadline = time.monotonic() + 30
        while not watchers and time.monotonic() < deadline:
            watchers = [int(c) for task in Path(f"/proc/{proc.pid}/task").iterdir()
                        for c in (task / "children").read_text().split()]
            time.sleep(0.05)
        assert watchers, "gc started no watcher"
        proc.send_signal(sig)
        proc.wait(30)
        deadline = time.monotonic() + 30
        while any(_live(w) for w in watchers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_live(w) for w in watchers), "the watch script outlived gc"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for w in watchers:
            if _live(w):
                os.kill(w, signal.SIGKILL)
