"""gc-session-tmux beyond the kit: odd names and texts, process trees, extra ops."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gascity.errors import SessionExists, SessionNotFound
from gascity.testing import wait_for
from gascity.types import StartConfig
from gascity_exec.provider import ExecProvider

from .conftest import MakeProvider, pid_gone, read_pid

ODD = [
    "with space",
    "it's \"quoted\"",
    "semi;colon;",
    "dots.and:colons",
    "per%2Ecent",
    "$x #{host} @at ünï",
    "$(touch pwned)",
]


@pytest.fixture
def tmux_provider(make_provider: MakeProvider, tmux_socket: str) -> Iterator[ExecProvider]:
    provider = make_provider("gc-session-tmux", env={"GC_TMUX_SOCKET": tmux_socket})
    yield provider
    for session in provider.list_running(""):
        provider.stop(session.name)


def output(provider: ExecProvider, name: str, text: str) -> str:
    return wait_for(
        lambda: (out if text in (out := provider.peek(name, 50)) else None), 15,
        what=f"{text!r} in {name}",
    )


def test_odd_names_round_trip(tmux_provider: ExecProvider, tmp_path: Path) -> None:
    for name in ODD:
        tmux_provider.start(name, StartConfig(command="sleep 300", work_dir=str(tmp_path)))
    listed = {s.name for s in tmux_provider.list_running("")}
    assert set(ODD) <= listed
    assert {s.name for s in tmux_provider.list_running("semi;")} == {"semi;colon;"}
    for name in ODD:
        assert tmux_provider.is_running(name) is True
        tmux_provider.set_meta(name, "gc.k;", f"v {name}")
        assert tmux_provider.get_meta(name, "gc.k;") == f"v {name}"
        with pytest.raises(SessionExists):
            tmux_provider.start(name, StartConfig(command="sleep 1", work_dir=str(tmp_path)))
        assert tmux_provider.stop(name) is True
        assert tmux_provider.is_running(name) is False
    assert not (tmp_path / "pwned").exists()


def test_odd_texts_reach_the_agent_literally(
    tmux_provider: ExecProvider, tmp_path: Path
) -> None:
    tmux_provider.start("texts", StartConfig(command="cat", work_dir=str(tmp_path),
                                             nudge="first; nudge $HOME"))
    output(tmux_provider, "texts", "first; nudge $HOME")
    for text in ["ends with semicolon;", "Enter C-c 'q' \"dq\" `x`", "#{session_name} ~"]:
        tmux_provider.nudge("texts", text)
        output(tmux_provider, "texts", text)


def test_env_unset_and_odd_values(tmux_provider: ExecProvider, tmp_path: Path) -> None:
    tmux_provider.start(
        "envs",
        StartConfig(
            command='echo "A=[$A] B=[${B-unset}]"; sleep 300',
            work_dir=str(tmp_path),
            env={"A": "x;", "B": ""},
        ),
    )
    output(tmux_provider, "envs", "A=[x;] B=[unset]")


def test_stop_kills_children_that_ignore_sighup(
    tmux_provider: ExecProvider, tmp_path: Path
) -> None:
    pid_file = tmp_path / "child.pid"
    tmux_provider.start(
        "tree",
        StartConfig(
            command=f"trap '' HUP; sleep 300 & echo $! > {pid_file}; wait",
            work_dir=str(tmp_path),
        ),
    )
    pid = read_pid(pid_file)
    assert tmux_provider.stop("tree") is True
    wait_for(lambda: pid_gone(pid), 10, what=f"child {pid} gone")
    assert tmux_provider.stop("tree") is False


def test_pre_start_failure_warns_names_the_command_and_starts(
    tmux_provider: ExecProvider, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The reference: "Non-fatal: warn on stderr if a command fails, but don't abort start."
    with caplog.at_level("WARNING", logger="gascity.exec"):
        tmux_provider.start(
            "pre", StartConfig(command="sleep 300", work_dir=str(tmp_path),
                               pre_start=("true", "echo nope >&2; exit 4")),
        )
    assert "pre_start command 2 failed (exit status 4: nope)" in caplog.text
    assert tmux_provider.is_running("pre") is True
    tmux_provider.stop("pre")


def test_session_setup_runs_after_start(tmux_provider: ExecProvider, tmp_path: Path) -> None:
    marker = tmp_path / "setup"
    script = tmp_path / "setup.sh"
    script.write_text(f'echo "script $GC_SESSION_NAME" >> {marker}\n')
    tmux_provider.start(
        "setup",
        StartConfig(
            command="sleep 300", work_dir=str(tmp_path),
            session_setup=(f'echo "cmd $GC_SESSION_NAME" >> {marker}', "exit 9"),
            session_setup_script=str(script),
            session_live=("exit 3", f'echo "live $GC_SESSION_NAME" >> {marker}'),
        ),
    )
    # A failing step only warns; session_live (its own key now) runs after the script.
    assert marker.read_text() == "cmd setup\nscript setup\nlive setup\n"


def test_process_alive_activity_and_extra_ops(
    tmux_provider: ExecProvider, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    tmux_provider.start(
        "ops", StartConfig(command="seq 1 300; echo ready; sleep 300", work_dir=str(work))
    )
    output(tmux_provider, "ops", "ready")
    assert tmux_provider.process_alive("ops", ["sleep"]) is True
    assert tmux_provider.process_alive("ops", ["claude"]) is False
    when = tmux_provider.last_activity("ops")
    assert when is not None and abs(when - datetime.now(UTC)) < timedelta(minutes=5)

    src = tmp_path / "file.txt"
    src.write_text("copied")
    tmux_provider.copy_to("ops", str(src), "sub/dest.txt")
    assert (work / "sub" / "dest.txt").read_text() == "copied"

    lines = tmux_provider.peek("ops", 1000).split("\n")
    assert "10" in lines  # scrolled out of the 50-row pane, kept in the history
    tmux_provider.clear_scrollback("ops")
    assert "10" not in tmux_provider.peek("ops", 1000).split("\n")
    assert "ready" in tmux_provider.peek("ops", 1000)


def test_send_keys_sends_key_names(tmux_provider: ExecProvider, tmp_path: Path) -> None:
    tmux_provider.start("keys", StartConfig(command="cat", work_dir=str(tmp_path)))
    wait_for(lambda: tmux_provider.process_alive("keys", ["cat"]), 15, what="cat up")
    tmux_provider.send_keys("keys", ["h", "i", "Space", "x", "Enter"])
    output(tmux_provider, "keys", "hi x\nhi x")  # typed, then echoed by cat


def test_missing_session_errors(tmux_provider: ExecProvider) -> None:
    for call in (
        lambda: tmux_provider.interrupt("ghost"),
        lambda: tmux_provider.nudge("ghost", "x"),
        lambda: tmux_provider.peek("ghost", 5),
        lambda: tmux_provider.set_meta("ghost", "k", "v"),
        lambda: tmux_provider.get_meta("ghost", "k"),
    ):
        with pytest.raises(SessionNotFound, match="no such session: ghost"):
            call()
    assert tmux_provider.process_alive("ghost", ["sleep"]) is False


def test_dead_panes_are_not_listed_and_are_replaced(
    tmux_provider: ExecProvider, tmux_socket: str, tmp_path: Path
) -> None:
    # A user's tmux.conf may keep exited panes (remain-on-exit); such a corpse is
    # neither listed as running nor in the way of a new start.
    tmux = ["tmux", "-L", tmux_socket]
    subprocess.run([*tmux, "new-session", "-d", "-s", "keeper", "sleep", "300"], check=True)
    subprocess.run([*tmux, "set-option", "-g", "remain-on-exit", "on"], check=True)
    try:
        tmux_provider.start("corpse", StartConfig(command="echo bye", work_dir=str(tmp_path)))
        wait_for(lambda: "corpse" not in {s.name for s in tmux_provider.list_running("")},
                 15, what="dead pane unlisted")
        tmux_provider.start("corpse", StartConfig(command="sleep 300", work_dir=str(tmp_path)))
        assert tmux_provider.is_running("corpse") is True
    finally:
        subprocess.run([*tmux, "set-option", "-g", "remain-on-exit", "off"], check=True)
        subprocess.run([*tmux, "kill-session", "-t", "=keeper"], check=False)


def test_default_socket_is_the_citys(make_provider: MakeProvider, tmp_path: Path) -> None:
    import uuid

    city = f"exec test {uuid.uuid4().hex[:6]}"  # odd characters get a hashed suffix
    provider = make_provider("gc-session-tmux", env={"GC_TMUX_SOCKET": ""})
    provider.env["GC_CITY_NAME"] = city
    from gascity.tmuxconv import city_socket

    socket = city_socket(city, provider.env["GC_CITY"])
    assert socket.startswith("gc-exec_test_") and socket != f"gc-{city}"
    try:
        provider.start("s1", StartConfig(command="sleep 300", work_dir=str(tmp_path)))
        probe = subprocess.run(["tmux", "-L", socket, "has-session", "-t", "=s1"], check=False)
        assert probe.returncode == 0
        assert [s.name for s in provider.list_running("")] == ["s1"]
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, check=False)


def test_a_name_that_prefixes_another_is_its_own_session(
    tmux_provider: ExecProvider, tmp_path: Path
) -> None:
    # tmux resolves `list-panes -s -t =p0-1` to `p0-10` by prefix; starts must not.
    tmux_provider.start("p0-10", StartConfig(command="sleep 300", work_dir=str(tmp_path)))
    assert tmux_provider.is_running("p0-1") is False
    tmux_provider.start("p0-1", StartConfig(command="sleep 300", work_dir=str(tmp_path)))
    assert {"p0-1", "p0-10"} <= {s.name for s in tmux_provider.list_running("")}
    assert tmux_provider.stop("p0-1") is True
    assert tmux_provider.is_running("p0-10") is True


def test_a_start_sets_one_option_and_meta_round_trips(
    make_provider: MakeProvider, tmux_socket: str, tmp_path: Path
) -> None:
    import shutil

    real = shutil.which("tmux")
    assert real, "tmux must be installed"
    log = tmp_path / "tmux.log"
    wrapper = tmp_path / "tmux-logged"
    wrapper.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" >> '{log}'\nexec '{real}' \"$@\"\n")
    wrapper.chmod(0o755)
    provider = make_provider("gc-session-tmux",
                             env={"GC_TMUX_SOCKET": tmux_socket, "GC_TMUX_BIN": str(wrapper)})
    try:
        # Initial metadata follows as set-meta operations (the exec protocol); the
        # start's own bookkeeping is one set-option (tmux walks every session and
        # window after each).
        provider.start("one", StartConfig(command="sleep 300", work_dir=str(tmp_path)))
        assert log.read_text().splitlines().count("set-option") == 1
        provider.set_meta("one", "k", "v w")
        provider.set_meta("one", "gc.fp", "f1")
        assert provider.get_meta("one", "k") == "v w"
        provider.remove_meta("one", "gc.fp")
        assert provider.get_meta("one", "gc.fp") is None
        provider.set_meta("one", "gc.agent", "b")
        assert provider.get_meta("one", "gc.agent") == "b"
        (tmp_path / "src.txt").write_text("z")
        provider.copy_to("one", str(tmp_path / "src.txt"), "copied.txt")
        assert (tmp_path / "copied.txt").read_text() == "z"
    finally:
        provider.stop("one")


def test_start_stages_overlays_and_copy_files_itself(
    tmux_provider: ExecProvider, tmp_path: Path
) -> None:
    """As the reference's screen script does from the start JSON: a caller that has
    not copied the overlays (the reference's controller never does for exec) still
    gets them, and the copy_files land at rel_dst under the work dir."""
    from gascity.testing import write_tree
    from gascity.types import CopyEntry

    write_tree(tmp_path, {
        "pack1/overlay/a.txt": "pack1\n", "pack1/overlay/deep/b.txt": "pack1 b\n",
        "pack2/overlay/a.txt": "pack2 wins over pack1\n",
        "agent/overlay/c.txt": "agent\n", "agent/overlay/deep/b.txt": "agent wins\n",
        "city/scripts/run.sh": "echo run\n", "city/.gc/settings.json": "{}\n",
        "city/loose.md": "loose\n",
        "work/kept.txt": "mine\n",
    })
    (tmp_path / "agent/overlay/kept.txt").write_text("never over a file already there\n")
    work = tmp_path / "work"
    tmux_provider.start("staged", StartConfig(
        command="sleep 300", work_dir=str(work),
        pack_overlay_dirs=(str(tmp_path / "pack1/overlay"), str(tmp_path / "pack2/overlay")),
        overlay_dir=str(tmp_path / "agent/overlay"),
        copy_files=(CopyEntry(str(tmp_path / "city/scripts"), ".gc/scripts"),
                    CopyEntry(str(tmp_path / "city/.gc/settings.json"), ".gc/settings.json"),
                    CopyEntry(str(tmp_path / "city/loose.md")),
                    CopyEntry(str(tmp_path / "nowhere"), "x")),
    ))
    assert tmux_provider.is_running("staged") is True
    assert (work / "a.txt").read_text() == "pack2 wins over pack1\n"
    assert (work / "deep/b.txt").read_text() == "agent wins\n"
    assert (work / "c.txt").read_text() == "agent\n"
    assert (work / "kept.txt").read_text() == "mine\n"
    assert (work / ".gc/scripts/run.sh").read_text() == "echo run\n"
    assert (work / ".gc/settings.json").read_text() == "{}\n"
    assert (work / "loose.md").read_text() == "loose\n"
    assert not (work / "x").exists()  # a missing source copies nothing, start goes on
