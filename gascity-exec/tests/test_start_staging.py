"""The start JSON a script gets from a real controller carries what the reference's
does: ``session_live`` apart from ``session_setup``, the packs' overlay dirs, the
agent's overlay as an absolute path and the files to copy; the local work dir already
has the overlays; agents that use none of it keep their fingerprint."""

from __future__ import annotations

import json
from pathlib import Path

from gascity.city import City
from gascity.config import load_city
from gascity.controller import Controller
from gascity.reconcile.desired import build_desired
from gascity.testing import write_tree

from .conftest import WriteScript

CITY = {
    "city.toml": (
        '[workspace]\nname = "stage"\n'
        '[imports.base]\nsource = "packs/base"\n'
        '[[rigs]]\nname = "web"\npath = "projects/web"\nincludes = ["packs/rigpack"]\n'
        '[[agent]]\nname = "mayor"\nstart_command = "sleep 1000"\n'
        'overlay_dir = "agents/../overlays/mayor"\n'
        'session_setup = ["echo setup"]\nsession_live = ["echo live {{.Session}}"]\n'
        '[[agent]]\nname = "plain"\nstart_command = "sleep 1000"\nwork_dir = "plain"\n'
        'session_setup_script = "setup/plain.sh"\n'
    ),
    "packs/base/pack.toml": '[pack]\nname = "base"\nschema = 2\n',
    "packs/base/overlay/shared.txt": "from the base pack\n",
    "packs/base/overlay/both.txt": "base pack loses\n",
    "packs/rigpack/pack.toml": (
        '[pack]\nname = "rigpack"\nschema = 2\n'
        '[[agent]]\nname = "worker"\nstart_command = "sleep 1000"\n'
    ),
    "packs/rigpack/overlay/rig.txt": "from the rig pack\n",
    "overlays/mayor/both.txt": "the agent's overlay wins\n",
    "scripts/helper.sh": "echo help\n",
    ".gc/settings.json": "{}\n",
    "projects/web/README": "",
}


def recording_script(write_script: WriteScript, state: Path) -> Path:
    """Saves each start's stdin as ``<state>/<name>.json``; lists what it started."""
    return write_script(
        "#!/bin/sh\n"
        f'state="{state}"\n'
        'case "$1" in\n'
        '  start) cat > "$state/$2.json"; echo "$2" >> "$state/names" ;;\n'
        '  list-running) [ -f "$state/names" ] && cat "$state/names"; exit 0 ;;\n'
        "  *) cat >/dev/null; exit 2 ;;\n"
        "esac\n"
    )


def test_the_start_json_carries_overlays_copy_files_and_session_live(
    write_script: WriteScript, tmp_path: Path
) -> None:
    city_dir = tmp_path / "city"
    write_tree(city_dir, CITY)
    state = tmp_path / "state"
    state.mkdir()
    script = recording_script(write_script, state)
    with City.open(city_dir, env={"GC_SESSION": f"exec:{script}"}) as city:
        report = Controller(city).tick()
    assert sorted(report.started) == ["mayor", "plain", "web--worker"], report.summary()
    city_path = str(city_dir)
    base = str((city_dir / "packs/base/overlay").resolve())
    rigpack = str((city_dir / "packs/rigpack/overlay").resolve())
    scripts = {"src": f"{city_path}/scripts", "rel_dst": ".gc/scripts"}
    settings = {"src": f"{city_path}/.gc/settings.json", "rel_dst": ".gc/settings.json"}

    raw = (state / "mayor.json").read_bytes()
    mayor = json.loads(raw)
    keys = list(mayor)
    assert keys[keys.index("session_setup"):] == [
        "session_setup", "session_live", "pack_overlay_dirs", "overlay_dir", "copy_files"]
    assert mayor["session_setup"] == ["echo setup"]  # session_live no longer folded in
    assert mayor["session_live"] == ["echo live mayor"]
    assert mayor["pack_overlay_dirs"] == [base]
    assert mayor["overlay_dir"] == f"{city_path}/overlays/mayor"  # absolute, cleaned
    assert mayor["copy_files"] == [scripts, settings]

    worker = json.loads((state / "web--worker.json").read_bytes())
    assert worker["pack_overlay_dirs"] == [base, rigpack]  # the city's, then the rig's
    assert "overlay_dir" not in worker and "session_live" not in worker
    # The work dir is the rig's, outside the city's root: the settings still go to
    # the session's root, as the reference stages them.
    assert worker["copy_files"] == [scripts, settings]

    plain = json.loads((state / "plain.json").read_bytes())
    assert plain["pack_overlay_dirs"] == [base]
    assert "overlay_dir" not in plain and "session_live" not in plain
    # Relative to the city, not to the work dir it runs in (the reference's rule).
    assert plain["session_setup_script"] == f"{city_path}/setup/plain.sh"

    # The local work dirs already hold the overlays: the agent's wins a clash, and a
    # rig agent has its rig pack's too.
    mayor_dir = Path(mayor["work_dir"])
    assert (mayor_dir / "both.txt").read_text() == "the agent's overlay wins\n"
    assert (mayor_dir / "shared.txt").read_text() == "from the base pack\n"
    web = city_dir / "projects/web"
    assert (web / "rig.txt").read_text() == "from the rig pack\n"
    assert (web / "shared.txt").read_text() == "from the base pack\n"
    assert (city_dir / "plain" / "shared.txt").read_text() == "from the base pack\n"


def test_claude_skills_of_the_work_dir_are_copied_under_its_place_in_the_city(
    tmp_path: Path,
) -> None:
    write_tree(tmp_path, {
        "city.toml": ('[workspace]\nname = "s"\n'
                      '[[agent]]\nname = "a"\nstart_command = "x"\nwork_dir = "w/a"\n'),
        "w/a/.claude/skills/review/SKILL.md": "skill\n",
        "hooks/claude.json": "{}\n",
    })
    config = load_city(tmp_path).config
    made = build_desired(config, {}, city_name="s", city_dir=tmp_path)["a"].config
    assert [(e.src, e.rel_dst) for e in made.copy_files] == [
        (f"{tmp_path}/w/a/.claude/skills", "w/a/.claude/skills"),
        (f"{tmp_path}/hooks/claude.json", "hooks/claude.json"),
    ]
    assert made.pack_overlay_dirs == () and made.overlay_dir == ""


def test_the_fingerprint_ignores_staging(tmp_path: Path) -> None:
    """Pack overlays, copy files and the overlay's absolute spelling add nothing to the
    drift fingerprint: an upgrade restarts no session, and a city that gains a pack
    overlay or a scripts dir restarts none either."""
    agents = ('[[agent]]\nname = "a"\nstart_command = "run"\n'
              '[[agent]]\nname = "b"\nstart_command = "run"\noverlay_dir = "ov"\n')
    write_tree(tmp_path, {"city.toml": f'[workspace]\nname = "f"\n{agents}', "ov/x": ""})

    def fingerprints() -> dict[str, str]:
        loaded = load_city(tmp_path)
        desired = build_desired(
            loaded.config, {}, city_name="f", city_dir=tmp_path,
            pack_overlay_dirs=loaded.composition.pack_overlay_dirs)
        return {n: d.fingerprint for n, d in desired.items()}

    bare = fingerprints()
    write_tree(tmp_path, {
        "city.toml": f'[workspace]\nname = "f"\n[imports.p]\nsource = "p"\n{agents}',
        "p/pack.toml": '[pack]\nname = "p"\nschema = 2\n', "p/overlay/o": "",
        "scripts/s": "",
    })
    loaded = load_city(tmp_path)
    made = build_desired(loaded.config, {}, city_name="f", city_dir=tmp_path,
                         pack_overlay_dirs=loaded.composition.pack_overlay_dirs)["b"].config
    assert made.pack_overlay_dirs and made.copy_files and made.overlay_dir  # all in use
    assert fingerprints() == bare
