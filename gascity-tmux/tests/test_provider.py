"""Behaviour of the tmux provider beyond the conformance kit, on a real tmux server."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gascity.errors import SessionError, SessionExists, SessionNotFound
from gascity.osutil.proctree import live_table as process_table
from gascity.osutil.proctree import with_marker
from gascity.testing import wait_for
from gascity.types import (
    META_AGENT,
    META_DRAIN,
    META_DRAIN_ACK,
    META_FINGERPRINT,
    Liveness,
    RunningSession,
    StartConfig,
)
from gascity_tmux import TmuxProvider
from gascity_tmux.provider import MARKER_VAR

MakeProvider = Callable[..., TmuxProvider]


def cfg(command: str, work_dir: Path, **kw: object) -> StartConfig:
    return StartConfig(command=command, work_dir=str(work_dir), startup_timeout=15, **kw)  # type: ignore[arg-type]


def listed(p: TmuxProvider, name: str) -> RunningSession | None:
    return next((r for r in p.list_running("") if r.name == name), None)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def wait_output(p: TmuxProvider, name: str, text: str) -> str:
    return wait_for(
        lambda: out if text in (out := p.peek(name, 100)) else None, 10, what=repr(text)
    )


def tmux(p: TmuxProvider, *args: str) -> str:
    return subprocess.run(
        [*p.tmux.base_argv(), *args], capture_output=True, text=True, check=True
    ).stdout


# ------------------------------------------------------------------ lifecycle


def test_start_stop_race_on_one_name(make_provider: MakeProvider, tmp_path: Path) -> None:
    # Two provider objects stand for two processes: no shared in-process lock.
    a, b = make_provider(), make_provider()
    name = "race"
    errors: list[BaseException] = []
    for _ in range(8):
        barrier = threading.Barrier(3)

        def starter(p: TmuxProvider, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                p.start(name, cfg("sleep 300", tmp_path))
            except SessionExists:
                pass
            except BaseException as exc:
                errors.append(exc)

        def stopper(barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                b.stop(name)
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=starter, args=(a,)),
            threading.Thread(target=starter, args=(b,)),
            threading.Thread(target=stopper),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        records = [r for r in a.list_running("") if r.name == name]
        assert len(records) <= 1
        if records:
            assert records[0].liveness is Liveness.ALIVE
    a.stop(name)
    assert listed(a, name) is None
    assert with_marker(a.marker(name), process_table(), prefix=True) == set()
    assert a.stop(name) is False


def test_agent_that_exits_is_dead_and_kept_for_inspection(
    provider: TmuxProvider, tmp_path: Path
) -> None:
    provider.start("quitter", cfg("echo last words; sleep 0.2; exit 3", tmp_path))
    record = wait_for(
        lambda: r if (r := listed(provider, "quitter")) and r.liveness is Liveness.DEAD else None,
        10,
        what="quitter dead",
    )
    # tmux may mark the pane dead (pty closed) a moment before it has the status.
    record = wait_for(lambda: listed(provider, "quitter"), 10)
    assert record.detail.startswith("agent "), record.detail
    assert record.liveness is Liveness.DEAD
    assert record.processes == frozenset()
    # remain-on-exit keeps the pane, so the crash can be examined.
    assert "last words" in provider.peek("quitter", 20)
    assert provider.stop("quitter") is True


def test_zombie_detected_by_process_names(provider: TmuxProvider, tmp_path: Path) -> None:
    provider.start("shell", cfg("sleep 300", tmp_path))
    record = wait_for(lambda: listed(provider, "shell"), 10)
    assert record.liveness is Liveness.ALIVE
    # The listing names the pane's foreground command; the agent is not it.
    assert record.processes is not None
    assert "claude" not in record.processes
    assert provider.process_alive("shell", ["claude"]) is False
    # process_alive also walks the pane's process tree.
    assert wait_for(lambda: provider.process_alive("shell", ["sleep"]), 10)


def test_agent_pane_decides_liveness_when_the_user_split_the_window(
    provider: TmuxProvider, tmp_path: Path
) -> None:
    provider.start("split", cfg("sleep 1000", tmp_path))
    tmux(provider, "split-window", "-d", "-t", "=split:", "sleep", "300")
    agent_pid = int(
        tmux(provider, "list-panes", "-t", "=split:", "-F", "#{pane_pid} #{@gc_agent_pane}")
        .splitlines()[0]
        .split()[0]
    )
    os.kill(agent_pid, 9)
    record = wait_for(
        lambda: r if (r := listed(provider, "split")) and r.liveness is Liveness.DEAD else None,
        10,
        what="agent pane dead",
    )
    assert record.processes == frozenset({"sleep"})  # the user's pane lives on


def test_env_and_work_dir_reach_the_process(
    make_provider: MakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tmux server inherits this from its first client; the session must unset it.
    monkeypatch.setenv("GC_TEST_INHERITED", "should-not-leak")
    provider = make_provider()
    work = tmp_path / "dir with #{session_name} and spaces"
    work.mkdir()
    env = {
        "GC_SESSION_NAME": "envtest",
        "GC_AGENT": "mayor",
        "ODD": "a b;c $HOME #{x};",
        "GC_TEST_INHERITED": "",
    }
    script = (
        'echo "N=$GC_SESSION_NAME A=$GC_AGENT"; echo "O=$ODD"; '
        'echo "I=${GC_TEST_INHERITED-unset}"; echo "D=$(pwd)"; echo "M=$GC_TMUX_SESSION"; '
        "sleep 300"
    )
    provider.start("envtest", cfg(script, work, env=env))
    out = wait_output(provider, "envtest", "M=")
    assert "N=envtest A=mayor" in out
    assert "O=a b;c $HOME #{x};" in out
    assert "I=unset" in out
    assert f"D={work}" in out
    assert f"M={provider.socket}:envtest" in out


def test_pre_start_failure_warns_and_the_start_goes_on(
    provider: TmuxProvider, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Gas City's exec-session-provider spec: pre_start failures warn, never abort.
    with caplog.at_level("WARNING"):
        provider.start(
            "pre", cfg("sleep 300", tmp_path, pre_start=("true", "echo pre-boom >&2; exit 7"))
        )
    assert listed(provider, "pre") is not None
    assert re.search(r"pre_start\[2\] of 'pre' failed with exit status 7.*pre-boom", caplog.text)


def test_pre_start_sees_env_and_is_skipped_for_a_duplicate(
    provider: TmuxProvider, tmp_path: Path
) -> None:
    marker = tmp_path / "pre-ran"
    pre = (f'echo "$GC_AGENT" >> {shlex.quote(str(marker))}',)
    provider.start("dup", cfg("sleep 300", tmp_path, pre_start=pre, env={"GC_AGENT": "w"}))
    assert marker.read_text() == "w\n"
    with pytest.raises(SessionExists, match="dup"):
        provider.start("dup", cfg("sleep 300", tmp_path, pre_start=pre))
    assert marker.read_text() == "w\n"


def test_start_deadline_is_respected(provider: TmuxProvider, tmp_path: Path) -> None:
    config = StartConfig(
        command="sleep 300", work_dir=str(tmp_path), pre_start=("sleep 30",), startup_timeout=0.5
    )
    t0 = time.monotonic()
    with pytest.raises(SessionError, match="timed out"):
        provider.start("slow", config)
    assert time.monotonic() - t0 < 5
    assert listed(provider, "slow") is None


def test_missing_work_dir_is_a_clear_error(provider: TmuxProvider, tmp_path: Path) -> None:
    with pytest.raises(SessionError, match="not a directory"):
        provider.start("nodir", cfg("sleep 1", tmp_path / "missing"))
    assert listed(provider, "nodir") is None


def test_session_setup_failure_is_not_fatal_and_setup_reaches_tmux(
    provider: TmuxProvider, tmp_path: Path
) -> None:
    out = tmp_path / "setup-out"
    setup = (
        "exit 4",
        'tmux -f /dev/null -L "$GC_TMUX_SOCKET" set-option -t "=$GC_SESSION_NAME:" @extra yes',
        f'echo "$GC_TMUX_SOCKET" > {shlex.quote(str(out))}',
    )
    script = tmp_path / "setup.sh"
    script.write_text(f"echo script-ran >> {shlex.quote(str(out))}\n")
    live = (f"echo live-ran >> {shlex.quote(str(out))}",)
    provider.start(
        "setup", cfg("sleep 300", tmp_path, session_setup=setup, session_setup_script=str(script),
                     session_live=live)
    )
    # session_live is its own StartConfig field: run after the setup script.
    assert out.read_text() == f"{provider.socket}\nscript-ran\nlive-ran\n"
    assert tmux(provider, "show-options", "-v", "-t", "=setup:", "@extra").strip() == "yes"
    assert listed(provider, "setup") is not None


def test_initial_nudge_is_typed(provider: TmuxProvider, tmp_path: Path) -> None:
    provider.start("nudged", cfg("cat", tmp_path, nudge="first prompt; -x C-c;"))
    out = wait_output(provider, "nudged", "first prompt; -x C-c;")
    # The terminal echoes the paste, and cat prints the line once Enter arrives.
    wait_for(
        lambda: provider.peek("nudged", 20).count("first prompt; -x C-c;") == 2,
        10,
        what="cat echoing the nudge",
    )
    assert "C-c" in out


def test_nudges_to_one_session_never_interleave(provider: TmuxProvider, tmp_path: Path) -> None:
    received = tmp_path / "received"
    provider.start("serial", cfg(f"cat > {shlex.quote(str(received))}", tmp_path))
    texts = [f"message-{i}-" + "x" * 40 for i in range(4)]
    threads = [threading.Thread(target=provider.nudge, args=("serial", t)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Each text arrives whole, followed by its own Enter: no interleaving.
    lines = wait_for(
        lambda: ls if len(ls := received.read_text().splitlines()) >= 4 else None,
        10,
        what="four lines received",
    )
    assert sorted(lines) == texts


# ------------------------------------------------------------------ stop


def test_stop_kills_children_that_ignore_sighup_or_left_the_group(
    make_provider: MakeProvider, tmp_path: Path
) -> None:
    provider = make_provider(stop_grace="300ms")
    d = shlex.quote(str(tmp_path))
    stubborn = "trap '' HUP TERM; echo $$ > {f}; exec sleep 1000"
    script = (
        f"trap '' HUP; cd {d}; "
        # a child that ignores SIGHUP and SIGTERM
        f"sh -c {shlex.quote(stubborn.format(f='p1'))} & "
        # one in its own session and process group
        f"setsid sh -c {shlex.quote(stubborn.format(f='p2'))} & "
        # a daemon: double fork, reparented away from the pane's tree
        f"(setsid sh -c {shlex.quote(stubborn.format(f='p3'))} &) ; "
        "sleep 1000"
    )
    provider.start("tree", cfg(script, tmp_path))
    files = [tmp_path / f for f in ("p1", "p2", "p3")]
    wait_for(lambda: all(f.exists() and f.read_text().strip() for f in files), 10)
    pids = [int(f.read_text()) for f in files]
    assert all(alive(p) for p in pids)
    t0 = time.monotonic()
    assert provider.stop("tree") is True
    assert time.monotonic() - t0 < 8
    assert [p for p in pids if alive(p)] == []
    assert listed(provider, "tree") is None
    marker = f"{MARKER_VAR}={provider.socket}:tree:"
    assert with_marker(marker, process_table(), prefix=True) == set()


def test_stop_of_a_quick_exit_is_quick(make_provider: MakeProvider, tmp_path: Path) -> None:
    provider = make_provider(stop_grace="60s")
    provider.start("fast", cfg("sleep 300", tmp_path))
    t0 = time.monotonic()
    assert provider.stop("fast") is True
    # Polling, not a fixed sleep: a session that dies on TERM never waits out the grace.
    assert time.monotonic() - t0 < 20


# ------------------------------------------------------------------ metadata


def test_listing_carries_meta_liveness_and_start_time(
    provider: TmuxProvider, tmp_path: Path
) -> None:
    provider.start(
        "m", cfg("sleep 300", tmp_path, meta={META_FINGERPRINT: "f1", META_AGENT: "mayor"})
    )
    provider.set_meta("m", META_DRAIN, "1")
    provider.set_meta("m", META_DRAIN_ACK, "")
    provider.set_meta("m", "custom.key", "not listed")
    record = listed(provider, "m")
    assert record is not None
    assert record.meta == {
        META_FINGERPRINT: "f1",
        META_AGENT: "mayor",
        META_DRAIN: "1",
        META_DRAIN_ACK: "",
    }
    assert record.liveness is Liveness.ALIVE
    assert record.started_at is not None
    assert abs(record.started_at - datetime.now(UTC)) < timedelta(seconds=30)
    provider.remove_meta("m", META_DRAIN)
    record = listed(provider, "m")
    assert record is not None and record.meta is not None
    assert META_DRAIN not in record.meta


def test_meta_keys_and_values_round_trip(provider: TmuxProvider, tmp_path: Path) -> None:
    provider.start("odd", cfg("sleep 300", tmp_path))
    for key, value in [
        ("weird key/ü_x", "tab\there\nnewline ünï %41 ;"),
        ("gc.a_2e", "-starts-with-dash"),
        ("gc.a.", "#{session_name}"),
        ("gc.empty", ""),
    ]:
        provider.set_meta("odd", key, value)
        assert provider.get_meta("odd", key) == value
    assert provider.get_meta("odd", "gc.a") is None


def test_operations_on_missing_session(provider: TmuxProvider, tmp_path: Path) -> None:
    # No server at all yet.
    assert provider.list_running("") == []
    assert provider.stop("ghost") is False
    with pytest.raises(SessionNotFound):
        provider.get_meta("ghost", "k")
    provider.start("present", cfg("sleep 300", tmp_path))
    for call in (
        lambda: provider.get_meta("ghost", "k"),
        lambda: provider.remove_meta("ghost", "k"),
        lambda: provider.interrupt("ghost"),
        lambda: provider.last_activity("ghost"),
        lambda: provider.process_alive("ghost", ["sleep"]),
        lambda: provider.attach("ghost"),
        # An exact target: a prefix of a real session is still missing.
        lambda: provider.peek("pres", 5),
    ):
        with pytest.raises(SessionNotFound):
            call()


@pytest.mark.parametrize("bad", ["", "a\nb", "a\0b"])
def test_names_tmux_cannot_hold_are_refused(
    provider: TmuxProvider, tmp_path: Path, bad: str
) -> None:
    with pytest.raises(SessionError, match="invalid session name"):
        provider.start(bad, cfg("sleep 1", tmp_path))
    with pytest.raises(SessionError, match="invalid session name"):
        provider.stop(bad)


@pytest.mark.parametrize("odd", ["a.b", "a:b", "a b", "-x", "ü", "a;", "#{pane_id}"])
def test_odd_names_are_encoded_and_listed_as_given(
    provider: TmuxProvider, tmp_path: Path, odd: str
) -> None:
    provider.start(odd, cfg("sleep 300", tmp_path))
    assert [s.name for s in provider.list_running("")] == [odd]
    assert provider.stop(odd) is True
    assert provider.list_running("") == []


def test_last_activity_and_interrupt(provider: TmuxProvider, tmp_path: Path) -> None:
    script = "trap 'echo got-int' INT; echo ready; while :; do sleep 0.1; done"
    provider.start("act", cfg(script, tmp_path))
    wait_output(provider, "act", "ready")
    when = provider.last_activity("act")
    assert when is not None
    assert abs(when - datetime.now(UTC)) < timedelta(seconds=30)
    provider.interrupt("act")
    wait_output(provider, "act", "got-int")


def test_cities_never_see_each_other(make_provider: MakeProvider, tmp_path: Path) -> None:
    from .conftest import reap_server

    other = make_provider(socket=f"{make_provider().socket}-other")
    try:
        mine = make_provider()
        mine.start("shared-name", cfg("sleep 300", tmp_path))
        assert listed(other, "shared-name") is None
        other.start("shared-name", cfg("sleep 300", tmp_path))
        assert len(mine.list_running("")) == 1
        other.stop("shared-name")
        assert listed(mine, "shared-name") is not None
    finally:
        reap_server(other.socket)


def test_a_name_that_prefixes_another_never_touches_it(
    provider: TmuxProvider, tmp_path: Path
) -> None:
    # tmux resolves `list-panes -s -t =a1` to `a10` by prefix: stop("a1") must not
    # kill a10, and a1 must start beside it.
    provider.start("a10", cfg("sleep 300", tmp_path))
    assert provider.stop("a1") is False
    record = listed(provider, "a10")
    assert record is not None and record.liveness is Liveness.ALIVE
    with pytest.raises(SessionNotFound):
        provider.peek("a1", 5)
    provider.start("a1", cfg("sleep 300", tmp_path))
    assert provider.stop("a1") is True
    assert listed(provider, "a10") is not None


def test_idle_timeout_on_every_agent_keeps_the_one_call_steady_tick(
        make_provider: MakeProvider, tmp_path: Path) -> None:
    from gascity.controller import Controller
    from gascity.testing import HookCallCounter, MemoryEvents, open_test_city

    (tmp_path / "city.toml").write_text("".join(
        f'[[agent]]\nname = "a{i}"\ncommand = "sleep 300"\nidle_timeout = "1h"\n'
        for i in range(5)))
    provider = make_provider()
    counter = HookCallCounter()
    with open_test_city(tmp_path, session=provider, events=MemoryEvents(),
                        observers=[counter]) as city:
        ctl = Controller(city)
        assert len(ctl.tick().started) == 5
        for _ in range(2):
            counter.reset()
            report = ctl.tick()
            assert report.started == [] and report.stopped == []
            assert counter.snapshot() == {"list_running": 1}
        records = provider.list_running("")
        assert len(records) == 5 and all(r.last_activity is not None for r in records)


def test_concurrent_starts_each_get_their_own_options(provider: TmuxProvider,
                                                      tmp_path: Path) -> None:
    # The start sets its options without -t (the new session is their target): two
    # starts racing must never write into each other's session.
    from concurrent.futures import ThreadPoolExecutor

    from gascity.types import META_AGENT, META_FINGERPRINT, StartConfig

    def start(i: int) -> None:
        provider.start(f"race-{i}", StartConfig(
            command="sleep 300", work_dir=str(tmp_path), startup_timeout=30,
            meta={META_FINGERPRINT: f"fp{i}", META_AGENT: f"agent{i}"}))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(start, range(24)))
    records = {r.name: r for r in provider.list_running("race-")}
    assert len(records) == 24
    for i in range(24):
        meta = records[f"race-{i}"].meta or {}
        assert meta.get(META_FINGERPRINT) == f"fp{i}"
        assert meta.get(META_AGENT) == f"agent{i}"
        assert provider.get_meta(f"race-{i}", META_FINGERPRINT) == f"fp{i}"


def test_nudge_larger_than_a_tmux_command(provider: TmuxProvider, tmp_path: Path) -> None:
    """Issue 12, defect 11: 40 KiB used to fail with tmux's "command too long"."""
    out = tmp_path / "got.txt"
    provider.start("big", cfg(f"stty -echo; exec cat > {out}", tmp_path))
    wait_for(lambda: listed(provider, "big"), 10, what="big")
    time.sleep(0.3)  # let stty run before the paste arrives
    lines = [f"{i:05d} " + "x" * 93 for i in range(400)]  # 40 KiB, short tty lines
    text = "\n".join(lines)
    assert provider.nudge("big", text) is True
    wait_for(lambda: out.exists() and out.read_text().count("\n") >= 400, 20,
             what="the whole nudge")
    assert out.read_text().splitlines() == lines


def test_a_repeated_listing_reparses_only_the_sessions_that_changed(
    provider: TmuxProvider, tmp_path: Path
) -> None:
    for name in ("keep", "meta", "quit", "gone"):
        provider.start(name, cfg("sleep 300", tmp_path))
    provider.start("chatty", cfg("while :; do echo tick; sleep 0.2; done", tmp_path))
    first = {r.name: r for r in provider.list_running("")}
    provider.set_meta("meta", META_DRAIN, "1")
    tmux(provider, "send-keys", "-t", "=quit:", "C-c")
    wait_for(lambda: (r := listed(provider, "quit")) and r.liveness is Liveness.DEAD, 10,
             what="quit dead")
    provider.stop("gone")
    time.sleep(1.2)  # tmux stamps window_activity in whole seconds
    second = {r.name: r for r in provider.list_running("")}
    assert sorted(second) == ["chatty", "keep", "meta", "quit"]
    # Unchanged lines give the very same record; every change is read afresh.
    assert second["keep"] is first["keep"]
    assert second["meta"].meta is not None and second["meta"].meta[META_DRAIN] == "1"
    assert second["quit"].liveness is Liveness.DEAD
    assert second["chatty"] is not first["chatty"]
    assert second["chatty"].last_activity is not None
    assert second["chatty"].last_activity > first["chatty"].last_activity  # type: ignore[operator]
    # A prefix listing is filtered from the same records and forgets none of them.
    assert [r.name for r in provider.list_running("me")] == ["meta"]
    assert {r.name: r for r in provider.list_running("")}["keep"] is first["keep"]


def test_two_tmux_names_that_decode_alike_are_one_session(
    provider: TmuxProvider, tmp_path: Path
) -> None:
    provider.start("A", cfg("sleep 300", tmp_path))
    tmux(provider, "new-session", "-d", "-s", "%41", "sleep 300")  # made outside gascity
    for _ in range(2):  # parsed, then from the listing cache
        records = provider.list_running("")
        assert [r.name for r in records] == ["A"]
        assert records[0].liveness is Liveness.ALIVE
