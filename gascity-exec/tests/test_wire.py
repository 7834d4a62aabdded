"""The JSON encoder matches Go's encoding/json output for awkward strings."""

from __future__ import annotations

import json

from gascity.types import StartConfig
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
    assert set(table) - set(keys) == {"session_live"}
    assert json.loads(encode_start_config(config)) == start_payload(config)
