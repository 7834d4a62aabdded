"""The exec session protocol as data: the one table that both the provider and
``docs/exec-protocol.md`` are built from.

The provider builds every argv through :func:`argv_for`, so an op can only be called
the way this table documents it, and ``tests/test_protocol_doc.py`` fails when the
generated blocks of the doc differ from what :func:`sync_doc` renders from here.
Regenerate the doc with ``python -m gascity_exec.protocol docs/exec-protocol.md``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_START_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "EXIT_CODES",
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_UNKNOWN_OP",
    "OPS",
    "START_KEYS",
    "Op",
    "StartKey",
    "argv_for",
    "render_block",
    "sync_doc",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_UNKNOWN_OP = 2

DEFAULT_TIMEOUT = 30.0
"""Seconds an op may take (the reference's default)."""
DEFAULT_START_TIMEOUT = 120.0
"""Seconds ``start`` may take: it includes the script's own readiness polling."""

EXIT_CODES: tuple[tuple[str, str], ...] = (
    ("0", "Success. Stdout is the result, with trailing newlines trimmed."),
    (
        "1 (any code but 0 and 2)",
        "Failure. Stderr (trimmed) becomes the error message. A `start` whose stderr "
        "says `already exists` or `already running` is a name collision "
        "(`SessionExists`); stderr containing `no such session` marks the session as "
        "missing (`SessionNotFound`).",
    ),
    (
        "2",
        "Unknown operation: a no-op success, so scripts only implement what they "
        "support. The provider gives some ops a deliberate meaning for it (see the "
        "\"Exit 2 means\" column).",
    ),
)


@dataclass(frozen=True)
class Op:
    """One operation: how it is called, what goes in and what comes out."""

    name: str
    args: tuple[str, ...]
    """Placeholders after the op name; a final ``<x>...`` takes any number of values."""
    stdin: str
    stdout: str
    exit2: str
    """What the Python provider makes of exit 2 for this op."""
    timeout: str
    """``op`` (the per-op timeout), ``start`` (the start timeout) or ``none``."""
    used_by: str

    @property
    def invocation(self) -> str:
        return " ".join(["script", self.name, *self.args])

    @property
    def variadic(self) -> bool:
        return bool(self.args) and self.args[-1].endswith("...")


OPS: dict[str, Op] = {
    op.name: op
    for op in (
        Op(
            "start",
            ("<name>",),
            "start config JSON (see below)",
            "—",
            "no-op success",
            "start",
            "hook `start`",
        ),
        Op(
            "stop",
            ("<name>",),
            "—",
            "—",
            "no-op success",
            "op",
            "hook `stop`; must exit 0 when the session does not exist",
        ),
        Op(
            "interrupt",
            ("<name>",),
            "—",
            "—",
            "no-op success",
            "op",
            "hook `interrupt`",
        ),
        Op(
            "is-running",
            ("<name>",),
            "—",
            "`true` or `false`",
            "derived from `list-running <name>`",
            "op",
            "`stop`'s return value; fallback when `list-running` is unsupported",
        ),
        Op(
            "process-alive",
            ("<name>",),
            "process names, one per line (no trailing newline)",
            "`true` or `false`",
            "unknown (`None`), never dead",
            "op",
            "hook `process_alive`; not called for an empty list (answer: true)",
        ),
        Op(
            "nudge",
            ("<name>",),
            "message text (no trailing newline)",
            "—",
            "no-op success",
            "op",
            "hook `nudge`; not called for an empty message",
        ),
        Op(
            "send-keys",
            ("<name>", "<key>..."),
            "—",
            "—",
            "no-op success",
            "op",
            "`ExecProvider.send_keys` (tmux key names such as `Enter`, `Down`)",
        ),
        Op(
            "set-meta",
            ("<name>", "<key>"),
            "value (no trailing newline)",
            "—",
            "`Unsupported`: the controller keeps the value in its own state",
            "op",
            "hook `set_meta`; also once per initial meta key after `start`",
        ),
        Op(
            "get-meta",
            ("<name>", "<key>"),
            "—",
            "value (empty = not set)",
            "`Unsupported`: the controller keeps the value in its own state",
            "op",
            "hook `get_meta`",
        ),
        Op(
            "remove-meta",
            ("<name>", "<key>"),
            "—",
            "—",
            "no-op success",
            "op",
            "hook `remove_meta`",
        ),
        Op(
            "peek",
            ("<name>", "<lines>"),
            "—",
            "captured text",
            "empty output",
            "op",
            "hook `peek`",
        ),
        Op(
            "list-running",
            ("<prefix>",),
            "—",
            "one session name per line",
            "the sessions this provider started, each checked with `is-running`",
            "op",
            "hook `list_running`: the only call of a steady tick",
        ),
        Op(
            "get-last-activity",
            ("<name>",),
            "—",
            "RFC 3339 time, or empty when unknown",
            "unknown (`None`)",
            "op",
            "hook `last_activity`; a malformed time also reads as unknown",
        ),
        Op(
            "clear-scrollback",
            ("<name>",),
            "—",
            "—",
            "no-op success",
            "op",
            "`ExecProvider.clear_scrollback`",
        ),
        Op(
            "copy-to",
            ("<name>", "<src>", "<rel-dst>"),
            "—",
            "—",
            "no-op success",
            "op",
            "`ExecProvider.copy_to`",
        ),
        Op(
            "attach",
            ("<name>",),
            "the caller's terminal",
            "the caller's terminal",
            "returned as the exit status, like any other",
            "none",
            "hook `attach`",
        ),
    )
}


@dataclass(frozen=True)
class StartKey:
    """One key of the ``start`` JSON; every key is omitted when its value is empty."""

    key: str
    json_type: str
    source: str
    meaning: str


START_KEYS: tuple[StartKey, ...] = (
    StartKey("work_dir", "string", "`StartConfig.work_dir`", "directory the agent runs in"),
    StartKey("command", "string", "`StartConfig.command`", "shell text run under `sh -c`"),
    StartKey(
        "env",
        "object of strings, keys sorted",
        "`StartConfig.env`",
        "environment for the agent; an empty value means unset the variable",
    ),
    StartKey(
        "process_names",
        "array of strings",
        "`StartConfig.process_names`",
        "command names that show the agent is alive",
    ),
    StartKey("nudge", "string", "`StartConfig.nudge`", "text to type once the agent is up"),
    StartKey(
        "ready_prompt_prefix",
        "string",
        "`StartConfig.ready_prompt_prefix`",
        "the prompt that shows the agent is ready (a hint: the caller polls `peek` for it)",
    ),
    StartKey(
        "ready_delay_ms",
        "integer",
        "`StartConfig.ready_delay_ms`",
        "a fixed wait after start when there is no prompt to look for (a hint)",
    ),
    StartKey(
        "pre_start",
        "array of strings",
        "`StartConfig.pre_start`",
        "shell commands run before the session; failures only warn, the start goes on",
    ),
    StartKey(
        "session_setup",
        "array of strings",
        "`StartConfig.session_setup`",
        "shell commands run after the session is up; failures only warn",
    ),
    StartKey(
        "session_setup_script",
        "string",
        "`StartConfig.session_setup_script`",
        "path of a script run after `session_setup`; failures only warn",
    ),
    StartKey(
        "session_live",
        "array of strings",
        "`StartConfig.session_live`",
        "idempotent shell commands run after `session_setup_script`; the controller "
        "re-runs them itself when they change, without a restart",
    ),
    StartKey(
        "pack_overlay_dirs",
        "array of strings",
        "`StartConfig.pack_overlay_dirs`",
        "absolute `overlay/` directories of the agent's packs, lowest priority first; "
        "already copied into a local `work_dir`, a remote script stages them",
    ),
    StartKey(
        "overlay_dir",
        "string",
        "`StartConfig.overlay_dir`",
        "the agent's own overlay, absolute, staged after the packs' (it wins); "
        "already copied into a local `work_dir`",
    ),
    StartKey(
        "copy_files",
        "array of `{src, rel_dst}`",
        "`StartConfig.copy_files`",
        "files to stage, `rel_dst` relative to the session's root (omitted: the root): "
        "the city's `scripts/` to `.gc/scripts`, `.claude/skills` of the work dir, "
        "the city's Claude settings, each when it exists",
    ),
)


def argv_for(script: str, op: str, *values: str) -> list[str]:
    """The argv for ``op``, checked against the table (never passed to a shell)."""
    spec = OPS[op]
    fixed = len(spec.args) - 1 if spec.variadic else len(spec.args)
    if len(values) < fixed or (not spec.variadic and len(values) != fixed):
        raise TypeError(f"{spec.invocation}: got {len(values)} values")
    return [script, op, *values]


# ---------------------------------------------------------------- doc rendering

_BLOCK = re.compile(
    r"(<!-- BEGIN GENERATED: (?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- END GENERATED -->)",
    re.DOTALL,
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _table(columns: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


_TIMEOUT_LABELS = {
    "op": f"per-op ({DEFAULT_TIMEOUT:g} s)",
    "start": f"start ({DEFAULT_START_TIMEOUT:g} s)",
    "none": "none",
}


def render_block(name: str) -> str:
    """The text of one generated block of the doc."""
    if name == "exit-codes":
        return _table(["Exit code", "Meaning"], [list(row) for row in EXIT_CODES])
    if name == "ops":
        rows = [
            [
                f"`{op.name}`",
                f"`{op.invocation}`",
                op.stdin,
                op.stdout,
                op.exit2,
                _TIMEOUT_LABELS[op.timeout],
                op.used_by,
            ]
            for op in OPS.values()
        ]
        columns = ["Op", "Argv", "Stdin", "Stdout", "Exit 2 means", "Timeout", "Used by"]
        return _table(columns, rows)
    if name == "start-keys":
        rows = [[f"`{k.key}`", k.json_type, k.source, k.meaning] for k in START_KEYS]
        return _table(["Key", "JSON type", "From", "Meaning"], rows)
    raise KeyError(f"no generated block named {name!r}")


def sync_doc(text: str) -> str:
    """``text`` with every generated block replaced by its current rendering."""

    def replace(match: re.Match[str]) -> str:
        return match.group(1) + render_block(match.group("name")) + match.group(4)

    return _BLOCK.sub(replace, text)


def block_names(text: str) -> list[str]:
    return [m.group("name") for m in _BLOCK.finditer(text)]


def main(argv: list[str] | None = None) -> int:
    """``python -m gascity_exec.protocol [--check] DOC``: rewrite or check the doc."""
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    paths = [a for a in args if a != "--check"]
    if len(paths) != 1:
        print("usage: python -m gascity_exec.protocol [--check] docs/exec-protocol.md")
        return 2
    path = Path(paths[0])
    text = path.read_text(encoding="utf-8")
    fresh = sync_doc(text)
    if check:
        if fresh != text:
            print(f"{path} is out of date; run: python -m gascity_exec.protocol {path}")
            return 1
        return 0
    if fresh != text:
        path.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
