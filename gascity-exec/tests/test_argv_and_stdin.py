"""What a script receives: argv intact, stdin exactly as documented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gascity.types import StartConfig
from gascity_exec.protocol import OPS

from .conftest import MakeProvider, WriteScript

ODD_NAMES = [
    "plain-1",
    "with space",
    "it's \"quoted\"",
    "semi;colon; rm -rf /tmp/x;",
    "$(touch pwned) `id` $HOME",
    "-looks-like-an-option",
    "ünïcødé ✓",
]


@pytest.fixture
def recorder(write_script: WriteScript, tmp_path: Path) -> tuple[Path, Path]:
    """A Python script that logs argv and stdin of every call as one JSON line."""
    log = tmp_path / "calls.jsonl"
    script = write_script(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        "data = sys.stdin.buffer.read().decode('utf-8', 'surrogateescape')\n"
        f"with open({str(log)!r}, 'a', encoding='utf-8', errors='surrogateescape') as f:\n"
        "    f.write(json.dumps({'argv': sys.argv[1:], 'stdin': data}) + '\\n')\n"
        "if sys.argv[1] in ('is-running', 'process-alive'):\n"
        "    print('true')\n"
    )
    return script, log


def calls(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_names_and_values_pass_through_argv_intact(
    make_provider: MakeProvider, recorder: tuple[Path, Path], tmp_path: Path
) -> None:
    script, log = recorder
    provider = make_provider(script)
    for name in ODD_NAMES:
        log.unlink(missing_ok=True)
        provider.start(name, StartConfig(command="c", work_dir="/w"))
        provider.list_running(name)
        provider.interrupt(name)
        provider.nudge(name, "n")
        provider.peek(name, 7)
        provider.set_meta(name, "gc.key; x", "v")
        provider.get_meta(name, "gc.key; x")
        provider.remove_meta(name, "gc.key; x")
        provider.process_alive(name, ["p"])
        provider.last_activity(name)
        provider.send_keys(name, ["Enter", "C-c"])
        provider.clear_scrollback(name)
        provider.copy_to(name, "/src dir/a;b", "rel dst")
        provider.stop(name)
        argvs = [c["argv"] for c in calls(log)]
        assert argvs == [
            ["start", name],
            ["list-running", name],
            ["interrupt", name],
            ["nudge", name],
            ["peek", name, "7"],
            ["set-meta", name, "gc.key; x"],
            ["get-meta", name, "gc.key; x"],
            ["remove-meta", name, "gc.key; x"],
            ["process-alive", name],
            ["get-last-activity", name],
            ["send-keys", name, "Enter", "C-c"],
            ["clear-scrollback", name],
            ["copy-to", name, "/src dir/a;b", "rel dst"],
            ["is-running", name],
            ["stop", name],
        ]
        for argv in argvs:
            op = OPS[str(argv[0])]
            if not op.variadic:
                assert len(argv) == 1 + len(op.args), f"{argv} vs {op.invocation}"
    assert not (tmp_path / "pwned").exists()


def test_empty_prefix_is_a_real_empty_argument(
    make_provider: MakeProvider, recorder: tuple[Path, Path]
) -> None:
    script, log = recorder
    make_provider(script).list_running("")
    assert calls(log) == [{"argv": ["list-running", ""], "stdin": ""}]


def test_stdin_carries_values_exactly(
    make_provider: MakeProvider, recorder: tuple[Path, Path]
) -> None:
    script, log = recorder
    provider = make_provider(script)
    text = "line one\nit's \"two\"; $HOME\n\n"
    provider.nudge("w", text)
    provider.set_meta("w", "k", "value\twith\nnewline")
    provider.process_alive("w", ["claude", "node js"])
    provider.peek("w", 3)
    stdins = [c["stdin"] for c in calls(log)]
    assert stdins == [text, "value\twith\nnewline", "claude\nnode js", ""]


def test_empty_nudge_makes_no_call(
    make_provider: MakeProvider, recorder: tuple[Path, Path]
) -> None:
    script, log = recorder
    make_provider(script).nudge("w", "")
    assert not log.exists()


def test_initial_meta_follows_start_as_set_meta(
    make_provider: MakeProvider, recorder: tuple[Path, Path]
) -> None:
    script, log = recorder
    provider = make_provider(script)
    meta = {"gc.fingerprint": "abc", "gc.agent": "mayor"}
    provider.start("w", StartConfig(command="c", work_dir="/w", meta=meta))
    got = [(c["argv"], c["stdin"]) for c in calls(log)][1:]
    assert got == [
        (["set-meta", "w", "gc.fingerprint"], "abc"),
        (["set-meta", "w", "gc.agent"], "mayor"),
    ]


def test_start_json_on_stdin_is_byte_exact(
    make_provider: MakeProvider, write_script: WriteScript, tmp_path: Path
) -> None:
    out = tmp_path / "stdin.bin"
    script = write_script(f'#!/bin/sh\n[ "$1" = start ] && cat > "{out}"\nexit 0\n')
    provider = make_provider(script)

    def sent(config: StartConfig) -> bytes:
        provider.start("w", config)
        return out.read_bytes()

    full = StartConfig(
        command="claude --x 'a <b> & c'",
        work_dir="/home/me/city/mayor",
        agent="mayor",
        env={"Z_LAST": "z", "A_FIRST": "ünï \"q\"", "UNSET_ME": ""},
        process_names=("claude", "node"),
        nudge="go\nnow\u2028",
        pre_start=("mkdir -p /w",),
        session_setup=("git fetch", "echo ok"),
        session_setup_script="/city/setup.sh",
        meta={"gc.fingerprint": "never in the JSON"},
        startup_timeout=30,
    )
    assert sent(full) == (
        '{"work_dir":"/home/me/city/mayor",'
        '"command":"claude --x \'a \\u003cb\\u003e \\u0026 c\'",'
        '"env":{"A_FIRST":"ünï \\"q\\"","UNSET_ME":"","Z_LAST":"z"},'
        '"process_names":["claude","node"],'
        '"nudge":"go\\nnow\\u2028",'
        '"pre_start":["mkdir -p /w"],'
        '"session_setup":["git fetch","echo ok"],'
        '"session_setup_script":"/city/setup.sh"}'
    ).encode()
    # Empty values are omitted, not sent as "", [] or {}.
    assert sent(StartConfig(command="sleep 1", work_dir="/w")) == (
        b'{"work_dir":"/w","command":"sleep 1"}'
    )
    assert sent(StartConfig(command="", work_dir="")) == b"{}"
