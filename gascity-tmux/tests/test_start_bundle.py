"""A start is one tmux invocation with one ``set-option``: the start bundle (see
gascity.tmuxconv), read alike with the per-key options set later and with sessions
started before bundles existed."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

from gascity.testing import wait_for
from gascity.tmuxconv import encode_value, option_for
from gascity.types import META_AGENT, META_DRAIN, META_FINGERPRINT, Liveness, StartConfig
from gascity_tmux import TmuxProvider
from gascity_tmux.runner import SEP

MakeProvider = Callable[..., TmuxProvider]


def cfg(command: str, work_dir: Path, **kw: object) -> StartConfig:
    return StartConfig(command=command, work_dir=str(work_dir), startup_timeout=15, **kw)  # type: ignore[arg-type]


def logging_tmux(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """PATH with a tmux that logs each invocation's arguments (one per line, then a
    ``--end--`` line) and execs the real one."""
    real = shutil.which("tmux")
    assert real, "tmux must be installed"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "tmux.log"
    wrapper = bindir / "tmux"
    wrapper.write_text(
        f"#!/bin/sh\nprintf '%s\\n' \"$@\" --end-- >> '{log}'\nexec '{real}' \"$@\"\n"
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}, log


def invocations(log: Path) -> list[list[str]]:
    calls: list[list[str]] = [[]]
    for arg in log.read_text().splitlines():
        if arg == "--end--":
            calls.append([])
        else:
            calls[-1].append(arg)
    return [c for c in calls if c]


def test_a_start_is_one_tmux_call_with_one_set_option(
    make_provider: MakeProvider, tmp_path: Path
) -> None:
    env, log = logging_tmux(tmp_path)
    provider = make_provider(env=env)
    meta = {META_FINGERPRINT: "f" * 32, META_AGENT: "mayor", "custom key": "a b=c%"}
    provider.start("first", cfg("sleep 300", tmp_path, meta=meta))
    log.write_text("")
    provider.start("second", cfg("sleep 300", tmp_path, meta=meta))
    calls = invocations(log)
    assert len(calls) == 1, calls
    assert calls[0].count("set-option") == 1, calls[0]
    assert calls[0].count("new-session") == 1
    for name in ("first", "second"):
        for key, value in meta.items():
            assert provider.get_meta(name, key) == value
        record = next(r for r in provider.list_running("") if r.name == name)
        assert record.meta == {META_FINGERPRINT: "f" * 32, META_AGENT: "mayor"}
        assert record.liveness is Liveness.ALIVE


def test_an_agent_that_exits_at_once_keeps_its_pane(
    make_provider: MakeProvider, tmp_path: Path
) -> None:
    # remain-on-exit follows new-session in the same invocation, and is turned back on
    # where the server has it off.
    provider = make_provider()
    provider.start("boot", cfg("sleep 300", tmp_path))
    provider.tmux.check("set-option", "-g", "remain-on-exit", "off")
    provider.start("quick", cfg("exit 7", tmp_path, meta={META_AGENT: "q"}))
    record = wait_for(
        lambda: r if (r := next((r for r in provider.list_running("") if r.name == "quick"),
                                None)) and r.liveness is Liveness.DEAD else None,
        10, what="quick's pane kept, dead",
    )  # fmt: skip
    assert record.meta == {META_AGENT: "q"}
    # tmux 3.3a marks a pane dead when its pty closes, and records the exit status when
    # it reaps the child; on a loaded machine an agent that exits at once sometimes gets
    # no recorded status at all (5 of 20 such starts under full CPU load here).
    # The pane is what must survive; the status is reported when tmux has it.
    assert record.detail in ("agent exited", "agent exited (status 7)"), record.detail


def test_meta_set_and_removed_after_the_start_wins_over_the_bundle(
    provider: TmuxProvider, tmp_path: Path
) -> None:
    provider.start("m", cfg("sleep 300", tmp_path, meta={META_FINGERPRINT: "f1", "k": "v"}))
    provider.remove_meta("m", META_FINGERPRINT)
    provider.remove_meta("m", "k")
    provider.remove_meta("m", "never set")
    assert provider.get_meta("m", META_FINGERPRINT) is None
    assert provider.get_meta("m", "k") is None
    assert provider.get_meta("m", "never set") is None
    record = next(r for r in provider.list_running("") if r.name == "m")
    assert record.meta == {}
    provider.set_meta("m", META_FINGERPRINT, "f2")
    provider.set_meta("m", META_DRAIN, "")
    assert provider.get_meta("m", META_FINGERPRINT) == "f2"
    record = next(r for r in provider.list_running("") if r.name == "m")
    assert record.meta == {META_FINGERPRINT: "f2", META_DRAIN: ""}
    # The bundle's work dir still serves copy_to.
    (tmp_path / "src.txt").write_text("x")
    provider.copy_to("m", str(tmp_path / "src.txt"), "copied.txt")
    assert (tmp_path / "copied.txt").read_text() == "x"


def test_a_session_started_before_bundles_is_read_and_stopped(
    provider: TmuxProvider, tmp_path: Path
) -> None:
    # What a start wrote before bundles: per-key options, and 1 on the agent's pane.
    marker = provider.marker("old", "abc123")
    provider.tmux.check(
        "set-option", "-g", "remain-on-exit", "on", SEP,
        "new-session", "-d", "-s", "old", "-c", str(tmp_path), "-e", marker,
        "sh", "-c", "sleep 300", SEP,
        "set-option", "-p", "@gc_agent_pane", "1", SEP,
        "set-option", "@gc_start_id", "abc123", SEP,
        "set-option", "@gc_work_dir", encode_value(str(tmp_path)), SEP,
        "set-option", option_for(META_FINGERPRINT), "old-fp",
    )  # fmt: skip
    record = next(r for r in provider.list_running("") if r.name == "old")
    assert record.meta == {META_FINGERPRINT: "old-fp"}
    assert record.liveness is Liveness.ALIVE
    assert provider.get_meta("old", META_FINGERPRINT) == "old-fp"
    assert provider.get_meta("old", META_AGENT) is None
    (tmp_path / "src.txt").write_text("y")
    provider.copy_to("old", str(tmp_path / "src.txt"), "copied.txt")
    assert (tmp_path / "copied.txt").read_text() == "y"
    # A child that left the pane's process tree is found by the marker's start id.
    stray = subprocess.Popen(["sleep", "300"], env={**os.environ, "GC_TMUX_SESSION":
                                                   marker.split("=", 1)[1]},
                             start_new_session=True)  # fmt: skip
    try:
        assert provider.stop("old") is True
        assert stray.wait(timeout=15) is not None
    finally:
        if stray.poll() is None:
            stray.kill()
            stray.wait()
    assert provider.list_running("") == []


def test_bundle_encoding_round_trips_odd_values() -> None:
    from gascity.tmuxconv import REMOVED, decode_bundle, encode_bundle, read_options, resolve

    values = {"@gc_a": "", "@gc_b": "sp ace = eq", "@gc_c": "%41 %", "@gc_d": "tab\tnl\nü;",
              "@gc_e": "#{session_name}"}  # fmt: skip
    raw = encode_bundle({k: encode_value(v) for k, v in values.items()})
    assert "\t" not in raw and "\n" not in raw
    bundle = decode_bundle(raw)
    assert {k: resolve("", bundle, k) for k in values} == values
    assert resolve("", bundle, "@gc_missing") is None
    assert resolve(REMOVED, bundle, "@gc_b") is None
    assert resolve(encode_value("own"), bundle, "@gc_b") == "own"
    assert decode_bundle("1") == {}
    # Per pane: own options alike on every line, the bundle on the agent's pane only.
    lines = [f"{encode_value('x')}\t", f"{encode_value('x')}\t{raw}", "short"]
    assert read_options(lines, ["@gc_b"]) == ["x"]
    assert read_options([f"\t{raw}"], ["@gc_b", "@gc_z"]) == [None, None]
    assert read_options([f"\t\t{raw}"], ["@gc_b", "@gc_z"]) == ["sp ace = eq", None]
