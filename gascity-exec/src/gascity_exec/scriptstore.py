"""The plumbing the ``exec:`` events and mail backends share with the reference.

One script answers every op: ``script <op> [args]``, values on stdin, the result on
stdout (trailing newlines trimmed), exit 0 success, exit 2 "unknown operation" (a
no-op success, so a script implements only what it supports), anything else a
failure whose stderr is the message. ``ensure-running`` is called once per process
before the first op; whatever it answers, the op goes on (the reference ignores it).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from gascity.errors import StoreUnavailable
from gascity.plugins import PluginContext, load_settings
from gascity.plugins.settings import Seconds

from .protocol import DEFAULT_TIMEOUT, EXIT_UNKNOWN_OP
from .provider import resolve_script
from .runner import ScriptResult, run_script

__all__ = ["ScriptClient", "ScriptStoreSettings", "format_rfc3339", "parse_rfc3339"]

log = logging.getLogger("gascity.exec")
T = TypeVar("T")


@dataclass(frozen=True)
class ScriptStoreSettings:
    """``[events.exec]`` / ``[mail.exec]``; ``GC_EXEC_*`` overrides, durations ``30s``."""

    timeout: Seconds = field(default=DEFAULT_TIMEOUT, metadata={"gt": 0})
    """Limit for every op (the reference's 30 s)."""
    kill_grace: Seconds = 2.0
    wait_delay: Seconds = 2.0


class ScriptClient:
    """Runs one backend script for a role (``events`` or ``mail``)."""

    def __init__(self, ctx: PluginContext, role: str) -> None:
        self.role = role
        self.script = resolve_script(ctx)
        self.settings = load_settings(ctx, ScriptStoreSettings, env_prefix="GC_EXEC_")
        env = {**os.environ, **ctx.env}
        env["GC_CITY"] = str(ctx.city_dir)
        env["GC_CITY_NAME"] = ctx.city_name
        self.env = env
        self._ready = threading.Lock()
        self._ensured = False
        self.calls = 0

    def _invoke(self, args: list[str], stdin: bytes | None) -> ScriptResult:
        self.calls += 1
        try:
            return run_script(
                [self.script, *args],
                stdin=stdin,
                timeout=self.settings.timeout,
                env=self.env,
                kill_grace=self.settings.kill_grace,
                wait_delay=self.settings.wait_delay,
            )
        except OSError as exc:
            raise StoreUnavailable(f"{self._where(args)}: cannot run: {exc}") from exc

    def _where(self, args: list[str]) -> str:
        return f"exec {self.role} provider {self.script} {' '.join(args)}".rstrip()

    def ensure_running(self) -> None:
        with self._ready:
            if self._ensured:
                return
            self._ensured = True
            result = self._invoke(["ensure-running"], None)
            if not result.ok and result.returncode != EXIT_UNKNOWN_OP:
                log.warning("%s", self.describe(["ensure-running"], result))

    def describe(self, args: list[str], result: ScriptResult) -> str:
        if result.timed_out:
            return (
                f"{self._where(args)}: timed out after {result.timeout:g}s "
                "(its process group was killed)"
            )
        message = result.stderr.strip()
        if not message:
            code = result.returncode
            message = f"signal: {-code}" if code is not None and code < 0 else f"exit status {code}"
        return f"{self._where(args)}: {message}"

    def run(self, args: list[str], stdin: bytes | None = None) -> str | None:
        """stdout of the op, or ``None`` when the script answered exit 2 (unsupported)."""
        self.ensure_running()
        result = self._invoke(args, stdin)
        if result.ok:
            return result.stdout
        if result.returncode == EXIT_UNKNOWN_OP and not result.timed_out:
            return None
        raise StoreUnavailable(self.describe(args, result))

    def parse_array(
        self, args: list[str], out: str, item: Callable[[Any], T], what: str
    ) -> list[T]:
        """stdout holding a JSON array (``null`` or nothing: empty), each item parsed."""
        if not out:
            return []
        try:
            data = json.loads(out)
            if data is None:
                return []
            if not isinstance(data, list):
                raise ValueError(f"a JSON array, not {type(data).__name__}")
            return [item(entry) for entry in data]
        except ValueError as exc:
            raise self.garbage(args, out, f"a JSON array of {what}", exc) from exc

    def garbage(
        self, args: list[str], output: str, expected: str, exc: Exception
    ) -> StoreUnavailable:
        shown = output if len(output) <= 200 else output[:200] + "..."
        return StoreUnavailable(
            f"{self._where(args)}: expected {expected} on stdout, got {shown!r} ({exc})"
        )


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|z|[+-]\d{2}:\d{2})$"
)


def format_rfc3339(when: datetime) -> str:
    """Go's ``time.RFC3339Nano`` of a UTC time: fraction without trailing zeros."""
    when = when.astimezone(UTC)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    if when.microsecond:
        text += "." + f"{when.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 time (any fraction length; Go writes up to 9 digits) in UTC."""
    match = _RFC3339.match(text.strip())
    if not match:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    y, mo, d, h, mi, s, frac, zone = match.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    offset = "+00:00" if zone in ("Z", "z") else zone
    parsed = datetime.fromisoformat(f"{y}-{mo}-{d}T{h}:{mi}:{s}.{micro:06d}{offset}")
    return parsed.astimezone(UTC)
