"""docs/exec-protocol.md and the op table in code cannot drift apart."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from gascity_exec import protocol, provider, tmux_script
from gascity_exec.protocol import OPS, block_names, render_block, sync_doc

DOC = Path(__file__).resolve().parents[2] / "docs" / "exec-protocol.md"


def test_doc_matches_the_op_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert block_names(text) == ["exit-codes", "ops", "start-keys"]
    assert sync_doc(text) == text, (
        "docs/exec-protocol.md is out of date: "
        "python -m gascity_exec.protocol docs/exec-protocol.md"
    )


def test_every_op_is_documented_with_its_argv() -> None:
    text = DOC.read_text(encoding="utf-8")
    for op in OPS.values():
        assert f"| `{op.name}` | `{op.invocation}` |" in text


def test_a_changed_table_makes_the_check_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    text = DOC.read_text(encoding="utf-8")
    changed = dict(OPS)
    peek = OPS["peek"]
    changed["peek"] = type(peek)(**{**peek.__dict__, "stdout": "something else"})
    monkeypatch.setattr(protocol, "OPS", changed)
    assert sync_doc(text) != text
    assert protocol.main(["--check", str(DOC)]) == 1


def test_code_calls_only_documented_ops() -> None:
    called = set(re.findall(r'_(?:run|check)\(\s*"([a-z-]+)"', inspect.getsource(provider)))
    called |= set(re.findall(r'argv_for\(self\.script, "([a-z-]+)"', inspect.getsource(provider)))
    assert called == set(OPS)


def test_gc_session_tmux_implements_every_op() -> None:
    source = inspect.getsource(tmux_script.dispatch)
    for name in OPS:
        assert f'"{name}"' in source, name


def test_render_rejects_unknown_blocks() -> None:
    with pytest.raises(KeyError):
        render_block("nope")
