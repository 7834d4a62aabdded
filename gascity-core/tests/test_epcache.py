"""The entry-point cache: reused while sys.path is unchanged, rebuilt when it changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gascity.plugins import epcache

_PROBE = """
import json, sys
from gascity.plugins.epcache import entry_points_of
found = entry_points_of("gascity.")
print(json.dumps({"names": sorted(f"{e.group}:{e.name}" for e in found),
                  "metadata": "importlib.metadata" in sys.modules}))
"""


def _run(env: dict[str, str], extra_path: Path | None = None) -> dict[str, object]:
    full = {**os.environ, **env}
    if extra_path is not None:
        full["PYTHONPATH"] = str(extra_path)
    out = subprocess.run([sys.executable, "-c", _PROBE], env=full, capture_output=True,
                         text=True, check=True, timeout=60).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def _dist(site: Path, name: str) -> None:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[gascity.session]\n{name} = {name}_mod:P\n")


def test_second_call_skips_the_metadata_scan(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    first = _run(env)
    assert first["metadata"] is True
    assert "gascity.session:subprocess" in first["names"]  # type: ignore[operator]
    files = list((tmp_path / "cache" / "gascity").iterdir())
    assert len(files) == 1 and files[0].stat().st_mode & 0o077 == 0
    second = _run(env)
    assert second == {"names": first["names"], "metadata": False}


def test_installing_a_distribution_is_seen_at_once(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    site = tmp_path / "site"
    site.mkdir()
    before = _run(env, site)
    assert "gascity.session:gcx_new" not in before["names"]  # type: ignore[operator]
    time.sleep(0.01)
    _dist(site, "gcx_new")
    after = _run(env, site)
    assert after["metadata"] is True
    assert "gascity.session:gcx_new" in after["names"]  # type: ignore[operator]


def test_a_torn_cache_file_is_rebuilt(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    _run(env)
    for f in (tmp_path / "cache" / "gascity").iterdir():
        f.write_text('{"format": 1, "key": [')
    again = _run(env)
    assert again["metadata"] is True and again["names"]
    assert _run(env)["metadata"] is False


def test_the_cache_can_be_turned_off(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "GC_ENTRY_POINT_CACHE": "0"}
    assert _run(env)["metadata"] is True
    assert _run(env)["metadata"] is True
    assert not (tmp_path / "cache").exists()


def test_a_cached_entry_point_loads_like_the_standard_one() -> None:
    ep = epcache.FoundEntryPoint("x", "gascity.builtin.file_events:FileEvents", "g", None)
    from gascity.builtin.file_events import FileEvents

    assert ep.load() is FileEvents
    nested = epcache.FoundEntryPoint("x", "gascity.plugins.epcache:FoundEntryPoint.load "
                                          "[extra]", "g", None)
    assert nested.load() is epcache.FoundEntryPoint.load
    with pytest.raises(ModuleNotFoundError):
        epcache.FoundEntryPoint("x", "no_such_mod_gc:X", "g", None).load()
