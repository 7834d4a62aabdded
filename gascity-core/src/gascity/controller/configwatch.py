"""What a controller watches to reload its config, and when a change has settled.

Watched: every file and directory the composed city was read from (city.toml,
``include`` fragments, each pack's ``pack.toml`` and ``agents/`` directory, each
``agents/<name>/`` and its ``agent.toml``), every prompt template the agents name and
the fragment directories their prompts are rendered with. A steady tick only stats
them, a handful; nothing is read until one of them changed and every changed one has
stayed unchanged for :data:`RELOAD_DEBOUNCE` (an editor or a script writing in steps
is never caught half-way). Then their content is compared with what was loaded, as
Gas City compares its config revision: a touch, or an editor's swap file appearing in
a watched directory, reloads nothing.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..config import LoadedConfig
from ..prompt.render import fragment_files, is_template_path, pack_fragment_dirs

__all__ = ["RELOAD_DEBOUNCE", "RELOAD_MAX_WAIT", "ConfigWatch", "watched_paths"]

RELOAD_DEBOUNCE = 0.2
"""Seconds a changed file must stay unchanged before a reload reads it (as the reference)."""
RELOAD_MAX_WAIT = 2.0
"""How long one tick waits for a file still being written before trying next tick."""

_Stamp = tuple[int, int, int, int] | None
"""(inode, size or 0 for a directory, mtime, is-directory); ``None``: missing."""
_STALE: _Stamp = (-1, -1, -1, -1)
"""Never equal to a real stamp: the path changed while it was being loaded."""


def _stamp(path: str) -> _Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return None
    is_dir = stat.S_ISDIR(st.st_mode)
    return st.st_ino, 0 if is_dir else st.st_size, st.st_mtime_ns, int(is_dir)


def _ignored(name: str) -> bool:
    """Editors' swap, backup and temporary files: not part of the config."""
    return name.startswith((".", "#")) or name.endswith(("~", ".swp", ".swx", ".tmp"))


def _content(path: str, stamp: _Stamp) -> bytes:
    """What counts of the path: a file's bytes, a directory's entry names."""
    try:
        if stamp is not None and stamp[3]:
            names = sorted(n for n in os.listdir(path) if not _ignored(n))
            return "\0".join(names).encode()
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        return f"unreadable: {exc.strerror}".encode()


def watched_paths(loaded: LoadedConfig, also: Iterable[str] = ()) -> tuple[str, ...]:
    """The paths to watch for ``loaded`` (city.toml first), and ``also``."""
    paths = [str(loaded.path), *loaded.sources, *also]
    dirs = pack_fragment_dirs(loaded.composition.packs)
    for agent in loaded.config.agent:
        if agent.prompt_template:
            template = Path(agent.prompt_template)
            template = template if template.is_absolute() else loaded.city_dir / template
            paths.append(str(template))
            if is_template_path(agent.prompt_template):  # others are used as written
                dirs += [template.parent / "shared", template.parent / "template-fragments"]
    # A missing directory is watched too: creating it is a change.
    for directory in dict.fromkeys(dirs):
        paths.append(str(directory))
        paths += [str(f) for f in fragment_files(directory)]
    return tuple(dict.fromkeys(paths))


@dataclass
class ConfigWatch:
    """The watched paths' stamps and content digest as of one load (or rejection)."""

    paths: tuple[str, ...]
    stamps: list[_Stamp]
    revision: str

    @classmethod
    def of(cls, loaded: LoadedConfig) -> ConfigWatch:
        """The snapshot for a config just loaded."""
        return cls.snapshot(watched_paths(loaded), loaded.read_at_ns,
                            {str(loaded.path): loaded.mtime_ns})

    @classmethod
    def snapshot(
        cls, paths: tuple[str, ...], since_ns: int | None = None,
        read_mtimes: Mapping[str, int] | None = None,
    ) -> ConfigWatch:
        """Stamps and digest now. A path changed at or after ``since_ns`` (when the
        load began), whose mtime is not the one in ``read_mtimes`` (as it was read),
        or changed while it is read here, is recorded stale: the next tick reloads it
        rather than miss a change the load did not see."""
        stamps: list[_Stamp] = []
        digest = hashlib.sha256()
        for path in paths:
            before = _stamp(path)
            read = (read_mtimes or {}).get(path)
            if before is not None and (
                    (since_ns is not None and before[2] >= since_ns)
                    or (read is not None and before[2] != read)):
                stamps.append(_STALE)
                digest.update(b"stale\0")
                continue
            content = b"missing" if before is None else _content(path, before)
            stamps.append(before if _stamp(path) == before else _STALE)
            digest.update(path.encode() + b"\0" + hashlib.sha256(content).digest())
        return cls(paths, stamps, digest.hexdigest())

    def settled_change(self, max_wait: float = RELOAD_MAX_WAIT) -> bool | None:
        """Whether a watched path changed since the snapshot, once every changed one
        has settled; ``None`` when they kept changing for ``max_wait`` seconds (0: do
        not wait)."""
        deadline = time.monotonic() + max_wait
        debounce_ns = int(RELOAD_DEBOUNCE * 1e9)
        while True:
            changed = [now for path, seen in zip(self.paths, self.stamps, strict=True)
                       if (now := _stamp(path)) != seen]
            if not changed:
                return False
            newest = max((s[2] for s in changed if s is not None), default=None)
            if newest is None:
                return True  # only removals: nothing is being written
            age = time.time_ns() - newest
            if age >= debounce_ns or age < -debounce_ns:  # settled, or a clock step
                return True
            wait = (debounce_ns - age) / 1e9
            if time.monotonic() + wait > deadline:
                return None
            time.sleep(wait)
