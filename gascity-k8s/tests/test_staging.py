"""A pod gets what the start config names, as the reference's k8s staging stages it:
pack overlays (even from outside the city; later packs winning), then the agent's
overlay (it wins a conflict), then each ``copy_files`` entry at its ``rel_dst`` under
``/workspace``; a missing source is a warning and the start goes on. Both the native
provider and ``gc-session-k8s`` stage the same tree; ``prebaked`` stages nothing."""

from __future__ import annotations

import io
import json
import logging
import tarfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from gascity.types import CopyEntry, StartConfig
from gascity_k8s.naming import pod_name
from gascity_k8s.staging import stage_tar
from gascity_k8s.testing import KubeEmulator

from .conftest import ProviderFactory
from .test_script import Run, script  # noqa: F401  (the fixture)

# What the pod's /workspace holds after staging the layout below (.gc-ready is the
# init container's release file).
EXPECTED_FILES = [
    "./.gc-ready",
    "./.gc/scripts/hello.sh",
    "./.gc/settings.json",
    "./CLAUDE.md",
    "./agents/mayor/overlay/CLAUDE.md",
    "./agents/mayor/overlay/prompts/mayor.md",
    "./city.toml",
    "./crew.txt",
    "./notes/shared.md",
    "./prompts/mayor.md",
    "./scripts/hello.sh",
    "./tools/base.sh",
]


def _layout(city_dir: Path, tmp_path: Path) -> dict[str, Any]:
    """Two packs outside the city, the agent's overlay inside it, three copy_files
    (a file, a directory, one that does not exist)."""
    base = tmp_path / "packs" / "base" / "overlay"
    (base / "tools").mkdir(parents=True)
    (base / "CLAUDE.md").write_text("base pack\n")
    (base / "tools" / "base.sh").write_text("echo base\n")
    crew = tmp_path / "packs" / "crew" / "overlay"
    crew.mkdir(parents=True)
    (crew / "CLAUDE.md").write_text("crew pack\n")
    (crew / "crew.txt").write_text("crew only\n")
    own = city_dir / "agents" / "mayor" / "overlay"
    (own / "prompts").mkdir(parents=True)
    (own / "CLAUDE.md").write_text("the mayor's own\n")
    (own / "prompts" / "mayor.md").write_text("prompt from the overlay\n")
    scripts = city_dir / "scripts"
    scripts.mkdir()
    (scripts / "hello.sh").write_text("#!/bin/sh\necho hello\n")
    (scripts / "hello.sh").chmod(0o755)
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "settings.json").write_text('{"from": "controller"}\n')
    (shared / "notes.md").write_text("shared notes\n")
    return {
        "pack_overlay_dirs": (str(base), str(crew)),
        "overlay_dir": str(own),
        "copy_files": (
            CopyEntry(str(shared / "settings.json"), ".gc/settings.json"),
            CopyEntry(str(scripts), ".gc/scripts"),
            CopyEntry(str(tmp_path / "missing.md"), "gone.md"),
            CopyEntry(str(shared / "notes.md"), "notes/shared.md"),
        ),
    }


def _workspace(exec_in_pod: Any, pod: str) -> tuple[list[str], dict[str, str]]:
    code, out, err = exec_in_pod(pod, ["sh", "-c", "cd /workspace && find . -type f | sort"])
    assert code == 0, err
    contents = {}
    for rel in ("CLAUDE.md", "prompts/mayor.md", ".gc/settings.json", "notes/shared.md",
                "crew.txt", "tools/base.sh"):
        code, text, err = exec_in_pod(pod, ["cat", f"/workspace/{rel}"])
        assert code == 0, err
        contents[rel] = text
    code, _, _ = exec_in_pod(pod, ["test", "-x", "/workspace/.gc/scripts/hello.sh"])
    contents["hello.sh executable"] = str(code == 0)
    return out.split(), contents


EXPECTED_CONTENTS = {
    "CLAUDE.md": "the mayor's own\n",  # agent overlay > crew pack > base pack
    "prompts/mayor.md": "prompt from the overlay\n",  # an overlay replaces a city file
    ".gc/settings.json": '{"from": "controller"}\n',  # copy_files into .gc/
    "notes/shared.md": "shared notes\n",
    "crew.txt": "crew only\n",
    "tools/base.sh": "echo base\n",
    "hello.sh executable": "True",
}


def test_native_start_stages_overlays_and_copy_files(
    make_provider: ProviderFactory,
    city_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    layers = _layout(city_dir, tmp_path)
    provider = make_provider(city="stagecity")
    with caplog.at_level(logging.WARNING, logger="gascity.k8s"):
        provider.start(
            "mayor",
            StartConfig(command="sleep 300", work_dir=str(city_dir), agent="mayor",
                        startup_timeout=30.0, **layers),
        )
    pod = provider._pod("mayor")["metadata"]["name"]
    files, contents = _workspace(provider.exec, pod)
    assert files == EXPECTED_FILES  # no gone.md, no .env, no .gc/controller.lock
    assert contents == EXPECTED_CONTENTS
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("missing.md" in w and "no such file" in w for w in warnings), warnings
    provider.stop("mayor")


def test_script_start_stages_the_same_tree(
    script: Run,  # noqa: F811
    make_provider: ProviderFactory,
    city_dir: Path,
    tmp_path: Path,
) -> None:
    layers = _layout(city_dir, tmp_path)
    start = {
        "command": "sleep 300",
        "work_dir": str(city_dir),
        "env": {"GC_AGENT": "mayor"},
        "pack_overlay_dirs": list(layers["pack_overlay_dirs"]),
        "overlay_dir": layers["overlay_dir"],
        "copy_files": [asdict(e) for e in layers["copy_files"]],
    }
    done = script("start", "mayor", stdin=json.dumps(start))
    assert done.returncode == 0, done.stderr
    assert "missing.md" in done.stderr and "warning" in done.stderr
    native = make_provider(city="mixed", namespace="mixed")
    files, contents = _workspace(native.exec, pod_name("mixed", "mayor"))
    assert files == EXPECTED_FILES
    assert contents == EXPECTED_CONTENTS
    assert script("stop", "mayor").returncode == 0


def test_prebaked_stages_nothing(
    make_provider: ProviderFactory,
    emulator: KubeEmulator,
    city_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """As the reference: a prebaked image holds its files, so the start execs nothing
    (not the overlays, not copy_files) and warns of nothing it did not try."""
    layers = _layout(city_dir, tmp_path)
    provider = make_provider(city="bakedcity", prebaked=True)
    emulator.reset_counts()
    with caplog.at_level(logging.WARNING, logger="gascity.k8s"):
        provider.start(
            "mayor",
            StartConfig(command="sleep 300", work_dir=str(city_dir), agent="mayor",
                        startup_timeout=30.0, **layers),
        )
    assert not [k for k in emulator.requests if "exec" in k], emulator.requests
    assert not [r for r in caplog.records if "missing.md" in r.getMessage()]
    provider.stop("mayor")


def _members(payload: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(payload)) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_a_later_layer_replaces_a_path_whatever_its_kind(tmp_path: Path) -> None:
    """A file over a directory (and the reverse) leaves one entry per path, so the
    stream unpacks without tar having to replace a directory by a file."""
    low, high = tmp_path / "low", tmp_path / "high"
    (low / "x").mkdir(parents=True)
    (low / "x" / "inner.txt").write_text("under a dir\n")
    (low / "y").write_text("a file\n")
    (high / "y").mkdir(parents=True)
    (high / "y" / "deep.txt").write_text("now a dir\n")
    (high / "x").write_text("now a file\n")
    (high / "link.txt").symlink_to(low / "y")  # followed: its content is staged
    (high / "broken").symlink_to(tmp_path / "nowhere")  # skipped
    members = _members(stage_tar(None, (str(low),), str(high)))
    assert sorted(members) == ["link.txt", "x", "y", "y/deep.txt"]
    assert members["x"].isfile() and members["y"].isdir() and members["link.txt"].isfile()


def test_copy_files_never_leave_the_workspace(tmp_path: Path) -> None:
    src = tmp_path / "f.txt"
    src.write_text("x\n")
    warned: list[str] = []
    entries = (CopyEntry(str(src), "../etc/f.txt"), CopyEntry(str(src), "/abs/f.txt"),
               CopyEntry(str(src), ""), CopyEntry(str(src), "./a/../b.txt"))
    members = _members(stage_tar(None, copy_files=entries, warn=warned.append))
    assert sorted(members) == ["b.txt", "f.txt"]
    assert len(warned) == 2 and all("leaves /workspace" in w for w in warned)


def test_an_unreadable_overlay_is_a_warning(tmp_path: Path) -> None:
    warned: list[str] = []
    (tmp_path / "file-not-dir").write_text("x\n")
    payload = stage_tar(None, (str(tmp_path / "nope"), str(tmp_path / "file-not-dir")),
                        str(tmp_path / "gone"), warn=warned.append)
    assert _members(payload) == {}
    assert [w.split(":")[0] for w in warned] == [
        f"staging pack overlay {tmp_path / 'nope'}",
        f"staging pack overlay {tmp_path / 'file-not-dir'}",
        f"staging overlay {tmp_path / 'gone'}",
    ]


def test_a_tick_stages_an_outside_packs_overlay(
    make_provider: ProviderFactory, emulator: KubeEmulator, tmp_path: Path
) -> None:
    """End to end: core composes a pack imported from outside the city, the
    controller's tick starts its agent, and the pack's ``overlay/`` and the agent's
    own overlay reach the pod (the agent's winning), with the city's ``scripts/``
    at ``.gc/scripts``."""
    from gascity.controller import Controller
    from gascity.testing import MemoryEvents, open_test_city

    pack = tmp_path / "elsewhere" / "crewpack"
    (pack / "overlay").mkdir(parents=True)
    (pack / "pack.toml").write_text('[pack]\nname = "crewpack"\nschema = 2\n')
    (pack / "overlay" / "CLAUDE.md").write_text("from the pack\n")
    (pack / "overlay" / "pack-only.md").write_text("pack only\n")
    agent = pack / "agents" / "keeper"
    (agent / "overlay").mkdir(parents=True)
    (agent / "agent.toml").write_text('scope = "city"\nstart_command = "sleep 300"\n')
    (agent / "overlay" / "CLAUDE.md").write_text("the keeper's own\n")
    city_dir = tmp_path / "tickcity"
    (city_dir / "scripts").mkdir(parents=True)
    (city_dir / "scripts" / "go.sh").write_text("echo go\n")
    (city_dir / "city.toml").write_text(
        f'[workspace]\nname = "tickcity"\n\n[imports.crew]\nsource = {json.dumps(str(pack))}\n'
    )
    provider = make_provider(city="tickcity", namespace="tickcity", where=city_dir,
                             leader_election=False)
    opened = open_test_city(city_dir, session=provider, events=MemoryEvents())
    try:
        (started,) = Controller(opened).tick().started
        pod = provider._pod(started)["metadata"]["name"]
        seen = {}
        for rel in ("CLAUDE.md", "pack-only.md", ".gc/scripts/go.sh"):
            code, text, err = provider.exec(pod, ["cat", f"/workspace/{rel}"])
            assert code == 0, f"{rel}: {err}"
            seen[rel] = text
        assert seen == {
            "CLAUDE.md": "the keeper's own\n",
            "pack-only.md": "pack only\n",
            ".gc/scripts/go.sh": "echo go\n",
        }
    finally:
        for record in provider.list_running(""):
            provider.stop(record.name)
        opened.close()
