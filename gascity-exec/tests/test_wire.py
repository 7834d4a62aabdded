"""The JSON encoder matches Go's encoding/json output for awkward strings."""

from __future__ import annotations

import json

from gascity.types import CopyEntry, StartConfig
from gascity_exec.protocol import START_KEYS
from gascity_exec.wire import encode_start_config, go_json, start_payload


def test_go_escapes() -> None:
    # Expected bytes are what Go 1.22+ json.Marshal writes for the same values.
    assert go_json("<a&b>") == b'"\\u003ca\\u0026b\\u003e"'
    assert go_json("\u2028\u2029") == b'"\\u2028\\u2029"'
    assert go_json("\x01\x1f\t\n\r\b\f") == b'"\\u0001\\u001f\\t\\n\\r\\b\\f"'
    assert go_json("\x7f é ✓ 😀") == '"\x7f é ✓ 😀"'.encode()
    assert go_json('q" back\\slash /') == b'"q\\" back\\\\slash /"'
    # Bytes that were not UTF-8 (surrogate escapes) become U+FFFD, as Go does.
    assert go_json("bad\udcffbyte") == '"bad\ufffdbyte"'.encode()


def test_payload_keys_follow_the_table_order() -> None:
    config = StartConfig(
        command="c", work_dir="w", env={"K": "v"}, process_names=("p",), nudge="n",
        pre_start=("a",), session_setup=("b",), session_setup_script="s",
    )
    keys = list(start_payload(config))
    table = [k.key for k in START_KEYS]
    assert keys == [k for k in table if k in keys]
    assert set(table) - set(keys) == {
        "session_live", "ready_prompt_prefix", "ready_delay_ms", "pack_overlay_dirs",
        "overlay_dir", "copy_files",
    }
    full = StartConfig(
        command="c", work_dir="w", env={"K": "v"}, process_names=("p",), nudge="n",
        ready_prompt_prefix="> ", ready_delay_ms=1, pre_start=("a",), session_setup=("b",),
        session_setup_script="s", session_live=("l",), pack_overlay_dirs=("/o",),
        overlay_dir="/a", copy_files=(CopyEntry("/x"),),
    )
    assert list(start_payload(full)) == table
    assert json.loads(encode_start_config(config)) == start_payload(config)


def test_start_json_is_the_references_bytes() -> None:
    # The reference's startConfig (internal/runtime/exec/json.go) in struct order,
    # each key omitempty: what its json.Marshal writes for the same config.
    config = StartConfig(
        command="claude --x", work_dir="/w", env={"B": "2", "A": "<1>"}, process_names=("c",),
        nudge="go", ready_prompt_prefix="\u276f ", ready_delay_ms=500, pre_start=("p",),
        session_setup=("s",), session_setup_script="/s.sh",
    )
    assert encode_start_config(config) == (
        '{"work_dir":"/w","command":"claude --x","env":{"A":"\\u003c1\\u003e","B":"2"},'
        '"process_names":["c"],"nudge":"go","ready_prompt_prefix":"\u276f ",'
        '"ready_delay_ms":500,"pre_start":["p"],"session_setup":["s"],'
        '"session_setup_script":"/s.sh"}'
    ).encode()
    assert encode_start_config(StartConfig(command="", work_dir="")) == b"{}"


def test_every_key_set_is_the_references_bytes() -> None:
    # Every field of the reference's startConfig set, and a copyEntry without rel_dst
    # (omitempty) and one with an empty src (not omitempty: always written). The bytes
    # follow encoding/json by hand: struct order, map keys sorted, no spaces, HTML
    # characters as \u escapes, ints bare.
    config = StartConfig(
        command="run <x>", work_dir="/c/a", env={"Z": "1", "A": "&"}, process_names=("p", "q"),
        nudge="hi", ready_prompt_prefix="> ", ready_delay_ms=250, pre_start=("mk",),
        session_setup=("s1",), session_setup_script="/c/s.sh",
        session_live=("tmux set status on",),
        pack_overlay_dirs=("/p1/overlay", "/p2/overlay"), overlay_dir="/c/agents/a/overlay",
        copy_files=(CopyEntry("/c/scripts", ".gc/scripts"), CopyEntry("/c/hooks/x.json"),
                    CopyEntry("", "d")),
    )
    assert encode_start_config(config) == (
        b'{"work_dir":"/c/a","command":"run \\u003cx\\u003e","env":{"A":"\\u0026","Z":"1"},'
        b'"process_names":["p","q"],"nudge":"hi","ready_prompt_prefix":"\\u003e ",'
        b'"ready_delay_ms":250,"pre_start":["mk"],"session_setup":["s1"],'
        b'"session_setup_script":"/c/s.sh","session_live":["tmux set status on"],'
        b'"pack_overlay_dirs":["/p1/overlay","/p2/overlay"],'
        b'"overlay_dir":"/c/agents/a/overlay",'
        b'"copy_files":[{"src":"/c/scripts","rel_dst":".gc/scripts"},{"src":"/c/hooks/x.json"},'
        b'{"src":"","rel_dst":"d"}]}'
    )


def test_emits_permission_warning_stays_out_of_the_start_json() -> None:
    # The reference keeps it gc-internal: the controller answers the dialogs itself.
    base = StartConfig(command="claude", work_dir="/w", process_names=("claude",))
    warned = StartConfig(command="claude", work_dir="/w", process_names=("claude",),
                         emits_permission_warning=True)
    assert encode_start_config(warned) == encode_start_config(base)
    assert b"permission" not in encode_start_config(warned)
