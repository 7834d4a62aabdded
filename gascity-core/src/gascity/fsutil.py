"""Small file primitives the core's stores share: atomic replace (and, re-exported from
:mod:`gascity.osutil.flock`, the lock helper)."""

from __future__ import annotations

import contextlib
import os

from .osutil.flock import locked

TYPE_CHECKING = False  # atomic_write is on the agents' fast path: no pathlib there
if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["atomic_write", "copy_into", "copy_missing", "locked"]


def atomic_write(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the new one, never half.

    The temporary file lives in the same directory (``os.replace`` is atomic only within
    one filesystem) and is removed if anything fails.
    """
    folder, name = os.path.split(os.fspath(path))
    os.makedirs(folder or ".", exist_ok=True)
    # What tempfile.mkstemp does (O_EXCL, 0600, a random name), without importing
    # tempfile on every agent's `gc runtime drain-ack`.
    while True:
        tmp = os.path.join(folder, f".{name}.{os.urandom(6).hex()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def copy_missing(source: Path, dest: Path) -> list[str]:
    """Copy the tree ``source`` into ``dest`` without replacing anything there (Gas
    City's ``overlay_dir``). Returns the relative paths copied."""
    import shutil
    from pathlib import Path

    copied: list[str] = []
    for folder, dirs, files in os.walk(source):
        rel = Path(folder).relative_to(source)
        target = dest / rel
        target.mkdir(parents=True, exist_ok=True)
        dirs.sort()
        for name in sorted(files):
            out = target / name
            if out.exists() or out.is_symlink():
                continue
            shutil.copy2(Path(folder) / name, out, follow_symlinks=False)
            copied.append(str(rel / name))
    return copied


def copy_into(src: str, work_dir: Path, rel_dst: str) -> bool:
    """The session hook ``copy_to``: copy the file or tree ``src`` to ``rel_dst`` under
    ``work_dir`` (a file into the directory itself when ``rel_dst`` is empty).

    Best-effort as in the reference: a missing ``src`` copies nothing (``False``). A
    ``rel_dst`` that would leave ``work_dir`` is refused.
    """
    import shutil
    from pathlib import Path

    source = Path(src)
    root = work_dir.resolve()
    dst = (root / rel_dst).resolve() if rel_dst else root
    if dst != root and root not in dst.parents:
        raise ValueError(f"copy_to: {rel_dst!r} is outside the session's work dir {root}")
    if source.is_dir():
        shutil.copytree(source, dst, dirs_exist_ok=True)
    elif source.is_file():
        target = dst if rel_dst else dst / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    else:
        return False
    return True

