"""How gascity spells a city's sessions inside tmux: the one convention both tmux
implementations (the ``tmux`` provider of gascity-tmux and gascity-exec's
``gc-session-tmux`` script) follow, so either reads and stops the other's sessions and
a city can move between them without a restart.

Standard library only: ``gc-session-tmux`` imports it once per protocol operation.

* **Socket.** One tmux server per city, named from the city's name *and* its real
  path, so two cities that share a name never share a server. ``[session.tmux]
  socket`` (or ``GC_TMUX_SOCKET``) still wins.
* **Session names.** Letters, digits, ``_`` and ``-`` reach tmux as they are; every
  other character is percent-encoded (tmux turns ``.`` and ``:`` into ``_``, expands
  ``#{..}`` and reads ``$`` or a leading ``@`` as ids), and decoded again on listing.
  Targets always use ``=`` (exact match; a bare name is a prefix match).
* **Metadata.** Key ``k`` lives in the session user option ``@gc_`` + :func:`encode_key`,
  values percent-encoded so one ``list-panes`` line can never be split by a value.
  Options of our own bookkeeping hold an unescaped ``_`` after the prefix, which
  :func:`encode_key` never produces, so they cannot collide with a metadata key.
* **A start sets one option.** tmux walks every session and window after each
  ``set-option``, so a start stores its start id, work dir and metadata in a single
  pane option, :data:`AGENT_PANE_OPTION` on the agent's pane (its *start bundle*, see
  :func:`encode_bundle`), and later ``set_meta`` calls write the per-key session
  options, which win over the bundle. A key removed after the start holds
  :data:`REMOVED`, so the bundle's value no longer shows through. Sessions whose agent
  pane holds ``1`` (started before bundles) keep everything in per-key options; both
  are read alike (:func:`resolve`).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import quote, unquote

__all__ = [
    "AGENT_PANE_OPTION",
    "MARKER_VAR",
    "MAX_SOCKET",
    "NOT_FOUND",
    "NO_SERVER",
    "OPTION_PREFIX",
    "REMAIN_ON_EXIT",
    "REMOVED",
    "SOCKET_VAR",
    "START_OPTION",
    "WORKDIR_OPTION",
    "city_socket",
    "decode_bundle",
    "decode_key",
    "decode_name",
    "decode_value",
    "encode_bundle",
    "encode_key",
    "encode_name",
    "encode_value",
    "escape_arg",
    "option_for",
    "options_format",
    "read_options",
    "resolve",
    "socket_args",
    "target",
]

MAX_SOCKET = 64
"""tmux puts the socket in ``/tmp/tmux-<uid>/<name>``; ``sun_path`` holds 108 bytes."""

OPTION_PREFIX = "@gc_"
AGENT_PANE_OPTION = "@gc_agent_pane"
"""Pane option marking the pane that runs the agent (a user may split the window); it
holds the start bundle (:func:`encode_bundle`), or ``1`` on sessions started before."""
START_OPTION = "@gc_start_id"
"""The start id of this incarnation of the session (also in :data:`MARKER_VAR`)."""
WORKDIR_OPTION = "@gc_work_dir"
"""The session's work_dir, value-encoded (``copy-to`` copies into it)."""
MARKER_VAR = "GC_TMUX_SESSION"
"""Set in every session's environment to ``<socket>:<name>:<start id>``; a stop finds
processes that escaped the pane's process tree by it."""
SOCKET_VAR = "GC_TMUX_SOCKET"
"""Set in every session's environment so agents can reach the city's tmux server."""

REMAIN_ON_EXIT = ("if-shell", "-F", "#{!=:#{remain-on-exit},on}",
                  "set-option -g remain-on-exit on")
"""Turns ``remain-on-exit`` on for the server only where it is not on yet: a start
sends it after ``new-session`` in the same invocation (tmux runs the whole sequence
before it reaps any child, so even a command that exits at once keeps its pane), and a
server that has it already pays no ``set-option``."""

NOT_FOUND = (
    "can't find session",
    "no such session",
    "can't find window",
    "no such window",
    "can't find pane",
    "no such pane",
    "session not found",
)
"""tmux's messages for a target that does not exist."""
NO_SERVER = ("no server running", "error connecting to", "server exited unexpectedly")
"""tmux's messages for a server that is not running (so nothing runs on it)."""

_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_PERCENT = re.compile("(?:%[0-9A-F]{2})+")
_ESCAPE = re.compile(r"_([0-9a-f]{2})")
# Printable ASCII except '%', which is the escape character itself.
_SAFE_VALUE_CHARS = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")
# quote() never produces a lone '%', so it can stand for "set, but empty" (tmux
# formats print an unset option and an empty one alike).
_EMPTY = "%"
REMOVED = "%-"
"""The per-key option of a key removed after the start (quote() never writes it)."""


# ------------------------------------------------------------------- socket


def city_socket(city_name: str, city_dir: str | os.PathLike[str] | None) -> str:
    """``gc-<name>-<8 hex>``: the hash covers the name and the city's real path, so
    two cities called ``twin`` in different directories get different servers while
    one city always gets the same one (whatever relative path or symlink it is opened
    through). Characters outside ``[A-Za-z0-9_-]`` become ``_`` in the readable part.
    """
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", city_name) or "city"
    where = os.path.realpath(city_dir) if city_dir is not None else ""
    digest = hashlib.sha256(f"{city_name}\0{where}".encode("utf-8", "surrogateescape"))
    tail = digest.hexdigest()[:8]
    return f"gc-{safe[: MAX_SOCKET - 12]}-{tail}"


def socket_args(socket: str) -> list[str]:
    """tmux's server selection for ``socket``: a path (holding ``/``) is ``-S``."""
    if not socket:
        return []
    return ["-S", socket] if "/" in socket else ["-L", socket]


# ------------------------------------------------------------ session names


def encode_name(name: str) -> str:
    """The tmux session name for a gascity session name (identity on ``[A-Za-z0-9_-]``)."""
    return "".join(
        c if c in _SAFE else "".join(f"%{b:02X}" for b in c.encode("utf-8")) for c in name
    )


def decode_name(encoded: str) -> str:
    return _PERCENT.sub(
        lambda m: bytes.fromhex(m.group(0).replace("%", "")).decode("utf-8", "replace"), encoded
    )


def target(name: str, *, pane: bool = False) -> str:
    """An exact-match target for the session ``name``; ``pane=True`` gives the form
    pane and option commands need (``=name:``; ``list-panes -t =name`` falls back to a
    prefix match in tmux 3.3)."""
    return f"={encode_name(name)}:" if pane else f"={encode_name(name)}"


def escape_arg(arg: str) -> str:
    """tmux ends a command at any argument that *ends* with ``;`` (and turns a final
    ``\\;`` back into ``;``). Escaping that last ``;`` keeps user text one argument."""
    return arg[:-1] + "\\;" if arg.endswith(";") else arg


# ----------------------------------------------------------------- metadata


def encode_key(key: str) -> str:
    """``gc.fingerprint`` -> ``gc_2efingerprint``: ASCII letters and digits stay,
    every other byte (``_`` included, so decoding is unambiguous) becomes ``_hh``."""
    if not key:
        raise ValueError("metadata keys may not be empty")
    out: list[str] = []
    for char in key:
        if char.isascii() and char.isalnum():
            out.append(char)
        else:
            out.extend(f"_{byte:02x}" for byte in char.encode())
    return "".join(out)


def decode_key(encoded: str) -> str:
    raw = bytearray()
    pos = 0
    while pos < len(encoded):
        match = _ESCAPE.match(encoded, pos)
        if match:
            raw.append(int(match.group(1), 16))
            pos = match.end()
        else:
            raw.extend(encoded[pos].encode())
            pos += 1
    return raw.decode("utf-8", "replace")


def option_for(key: str) -> str:
    return OPTION_PREFIX + encode_key(key)


def encode_value(value: str) -> str:
    if value == "":
        return _EMPTY
    return quote(value, safe=_SAFE_VALUE_CHARS)


def decode_value(raw: str) -> str:
    if raw == _EMPTY:
        return ""
    return unquote(raw)


def encode_bundle(options: Mapping[str, str]) -> str:
    """The start bundle: option name -> its value as :func:`encode_value` gives it,
    written ``@gc_a=v1 @gc_b=v2`` (no value holds a space once encoded here)."""
    return " ".join(f"{option}={value.replace(' ', '%20')}" for option, value in options.items())


def decode_bundle(raw: str) -> dict[str, str]:
    """Option name -> encoded value; ``1`` (a session started before bundles) and
    anything else without ``=`` give nothing."""
    out: dict[str, str] = {}
    for entry in raw.split(" "):
        option, sep, value = entry.partition("=")
        if sep:
            out[option] = value
    return out


def resolve(own: str, bundle: Mapping[str, str], option: str) -> str | None:
    """The decoded value of ``option``: ``own`` (the per-key option as a format prints
    it, "" when unset) wins over the start bundle; None when neither holds it."""
    raw = own or bundle.get(option, "")
    if not raw or raw == REMOVED:
        return None
    return decode_value(raw)


def options_format(options: Sequence[str]) -> str:
    """A ``list-panes -s`` format giving, per pane, these options and the pane's start
    bundle, tab-separated (encoded values hold no tab); :func:`read_options` reads it."""
    return "\t".join("#{" + option + "}" for option in (*options, AGENT_PANE_OPTION))


def read_options(lines: Iterable[str], options: Sequence[str]) -> list[str | None]:
    """The decoded values of ``options`` from the lines of :func:`options_format`:
    the session's own options print alike on every pane, the bundle on the agent's."""
    own: Sequence[str] = ()
    bundle: dict[str, str] = {}
    for line in lines:
        parts = line.split("\t")
        if len(parts) != len(options) + 1:
            continue
        own = parts[:-1]
        if parts[-1]:
            bundle = decode_bundle(parts[-1])
    return [resolve(own[i] if own else "", bundle, option) for i, option in enumerate(options)]
