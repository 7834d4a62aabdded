"""Text from mail and events on its way to a terminal: control characters escaped.

Agents and other users write subjects, bodies and event messages; printed raw, an
escape sequence in them (``\\x1b]0;owned\\x07`` sets the window title, others move the
cursor or rewrite what is on screen) would run in the reader's terminal. ``--json``
output needs none of this: JSON escapes control characters itself.
"""

from __future__ import annotations

import re

__all__ = ["safe_line", "safe_text"]

# C0 controls but tab and newline, DEL, and the C1 range (0x80-0x9f; 0x9b is CSI).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_LINE = re.compile("[\x00-\x1f\x7f-\x9f]")


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(char, f"\\x{ord(char):02x}")


def safe_text(text: str) -> str:
    """Multi-line text (a body): keeps newlines and tabs, escapes other controls."""
    return _CONTROL.sub(_escape, text)


def safe_line(text: str) -> str:
    """One-line text (a subject, a message, a name): every control escaped."""
    return _CONTROL_LINE.sub(_escape, text)
