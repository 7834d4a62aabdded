"""What a pod gets in ``/workspace`` before its agent starts, as one tar stream.

The city's files come first, without secrets or runtime state. Then, as the
reference's k8s staging orders them, what the start config names: each pack's
``overlay/`` (lowest priority first, each adding to and replacing what is there),
the agent's own ``overlay_dir`` (it wins a conflict), and each ``copy_files`` entry at
its ``rel_dst`` under ``/workspace``. A later layer replaces an earlier one's entry
at the same path, so the stream holds each path once and any ``tar`` unpacks it the
same way. A source that is missing or unreadable is a warning, never a failed start.
What the start config names explicitly is staged as it is (no secret filter: the
author chose it, and core's Claude settings live under ``.gc/``); symlinks in it are
followed, broken ones skipped, as the reference's ``tarDir`` does.
"""

from __future__ import annotations

import fnmatch
import io
import os
import posixpath
import tarfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath

from gascity.types import CopyEntry

__all__ = ["SECRET_PATTERNS", "city_files", "stage_tar"]

SECRET_PATTERNS = (
    ".gc",
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "id_rsa*",
    "id_ed25519*",
    "*.kubeconfig",
    "kubeconfig",
    ".netrc",
    ".git-credentials",
    "credentials*",
    "__pycache__",
)
"""Never staged or baked from the city: runtime state (``.gc/``) and anything that
looks like a secret."""

Warn = Callable[[str], None]


def _skipped(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in SECRET_PATTERNS)


def city_files(city_dir: Path) -> list[Path]:
    """Every file to ship, relative to ``city_dir``, pruning skipped directories whole."""
    found: list[Path] = []
    stack = [city_dir]
    while stack:
        current = stack.pop()
        for entry in sorted(current.iterdir()):
            if _skipped(entry.name) or (entry.is_symlink() and not entry.exists()):
                continue
            if entry.is_dir():
                stack.append(entry)
            elif entry.is_file():
                found.append(entry.relative_to(city_dir))
    return sorted(found)


class _Layers:
    """Path under ``/workspace`` -> (source, follow symlinks), the last layer winning.
    A file replacing a directory drops the directory's entries, and an entry under a
    path an earlier layer made a file drops that file, as ``tar`` would have to."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[Path, bool]] = {}

    def put(self, arc: str, source: Path, *, follow: bool) -> None:
        parts = PurePosixPath(arc).parts
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            held = self.entries.get(parent)
            if held is not None and not _is_dir(*held):
                del self.entries[parent]
        if not _is_dir(source, follow):
            prefix = arc + "/"
            for key in [k for k in self.entries if k.startswith(prefix)]:
                del self.entries[key]
        self.entries[arc] = (source, follow)

    def tree(self, root: Path, under: str, warn: Warn, what: str) -> None:
        """Every directory and file below ``root`` (symlinks followed), at ``under``."""
        def failed(exc: OSError) -> None:
            warn(f"staging {what}: {exc}")

        for current, dirs, files in os.walk(root, followlinks=True, onerror=failed):
            base = Path(current)
            rel = base.relative_to(root).as_posix()
            prefix = posixpath.normpath(posixpath.join(under, rel)) if under else rel
            for name in sorted(dirs) + sorted(files):
                path = base / name
                if not path.exists():
                    continue  # a broken symlink
                arc = name if prefix in ("", ".") else f"{prefix}/{name}"
                self.put(arc, path, follow=True)
            dirs.sort()


def _is_dir(path: Path, follow: bool) -> bool:
    return path.is_dir() if follow else (path.is_dir() and not path.is_symlink())


def _rel_dst(rel_dst: str) -> str | None:
    """``rel_dst`` as a clean path under ``/workspace`` ("" is ``/workspace``), or
    None when it would leave it."""
    if not rel_dst:
        return ""
    clean = posixpath.normpath(rel_dst.replace("\\", "/"))
    if clean == ".":
        return ""
    if clean.startswith("/") or clean == ".." or clean.startswith("../"):
        return None
    return clean


def stage_tar(
    city_dir: Path | None,
    pack_overlay_dirs: Sequence[str] = (),
    overlay_dir: str = "",
    copy_files: Iterable[CopyEntry] = (),
    warn: Warn = lambda _text: None,
) -> bytes:
    """The tar stream for ``/workspace``: the city, then the start config's layers."""
    layers = _Layers()
    if city_dir is not None:
        for rel in city_files(city_dir):
            layers.put(rel.as_posix(), city_dir / rel, follow=False)
    for source in pack_overlay_dirs:
        if source:
            _overlay(layers, source, "pack overlay", warn)
    if overlay_dir:
        _overlay(layers, overlay_dir, "overlay", warn)
    for entry in copy_files:
        _copy_entry(layers, entry, warn)
    return _write(layers, warn)


def _overlay(layers: _Layers, source: str, what: str, warn: Warn) -> None:
    root = Path(source)
    if not root.is_dir():
        warn(f"staging {what} {source}: not a directory (skipped)")
        return
    layers.tree(root, "", warn, f"{what} {source}")


def _copy_entry(layers: _Layers, entry: CopyEntry, warn: Warn) -> None:
    what = f"copy_file {entry.src} -> /workspace/{entry.rel_dst}".rstrip("/")
    dst = _rel_dst(entry.rel_dst)
    if dst is None:
        warn(f"staging {what}: rel_dst leaves /workspace (skipped)")
        return
    source = Path(entry.src)
    if not source.exists():
        warn(f"staging {what}: no such file or directory (skipped)")
        return
    if source.is_dir():
        if dst:
            layers.put(dst, source, follow=True)
        layers.tree(source, dst, warn, what)
    else:
        # An empty rel_dst puts a file in /workspace under its own name.
        layers.put(dst or source.name, source, follow=True)


def _write(layers: _Layers, warn: Warn) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        # Parents before children, whatever order the layers came in.
        for arc in sorted(layers.entries, key=lambda a: PurePosixPath(a).parts):
            source, follow = layers.entries[arc]
            try:
                _add(tar, source, arc, follow)
            except OSError as exc:
                warn(f"staging {source}: {exc} (skipped)")
    return buffer.getvalue()


def _add(tar: tarfile.TarFile, source: Path, arc: str, follow: bool) -> None:
    target = Path(os.path.realpath(source)) if follow else source
    info = tar.gettarinfo(str(target), arcname=arc)
    if info.isdir() or info.issym():
        tar.addfile(info)
    elif info.isfile():
        with open(target, "rb") as handle:
            tar.addfile(info, handle)
    # sockets, fifos and devices are left out, as the reference's tarDir leaves them
