"""Release hygiene that a wheel build would only show later: one version source,
ranges on core in the plugins, classifiers and license files everywhere.

``nox -s build`` checks the same on the built wheels' metadata."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VERSION_FILE = ROOT / "gascity-core/src/gascity/_version.py"
FIRST_PARTY = [p.parent for p in sorted(ROOT.glob("gascity-*/pyproject.toml"))]


def _project(dist: Path) -> dict[str, object]:
    return tomllib.loads((dist / "pyproject.toml").read_text())


@pytest.mark.parametrize("dist", [*FIRST_PARTY, ROOT], ids=lambda p: p.name)
def test_the_version_comes_from_the_one_source(dist: Path) -> None:
    data = _project(dist)
    project = data["project"]
    assert isinstance(project, dict)
    assert "version" not in project, f"{dist.name}: a literal version; read it from _version.py"
    assert "version" in project["dynamic"]
    hatch = data["tool"]["hatch"]  # type: ignore[index]
    assert (dist / hatch["version"]["path"]).resolve() == VERSION_FILE


@pytest.mark.parametrize("dist", FIRST_PARTY, ids=lambda p: p.name)
def test_plugins_take_a_range_of_core_and_carry_metadata(dist: Path) -> None:
    project = _project(dist)["project"]
    assert isinstance(project, dict)
    pins = [d for d in project.get("dependencies", []) if d.startswith("gascity")]
    assert not [d for d in pins if "==" in d], f"{dist.name}: exact pins belong in the meta"
    if dist.name != "gascity-core":
        assert any(re.fullmatch(r"gascity-core>=[\d.]+,<[\d.]+", d) for d in pins)
    assert "Typing :: Typed" in project["classifiers"]
    assert project["license"] == "MIT"
    assert (dist / "LICENSE").is_file()
    assert list((dist / "src").glob("*/py.typed")), f"{dist.name}: no py.typed marker"


def test_no_second_version_literal_in_the_sources() -> None:
    literal = re.compile(r"^__version__\s*=\s*['\"]", re.M)
    offenders = [
        str(path.relative_to(ROOT))
        for path in ROOT.glob("gascity-*/src/**/*.py")
        if path != VERSION_FILE and literal.search(path.read_text())
    ]
    assert offenders == []


def test_plain_pip_install_gascity_brings_the_dashboard() -> None:
    # README and docs/dashboard.md promise the [api] server in the default install:
    # hatch_build.py's DEFAULT pins are the meta-distribution's plain dependencies.
    tree = ast.parse((ROOT / "hatch_build.py").read_text())
    default = next(ast.literal_eval(node.value) for node in tree.body
                   if isinstance(node, ast.Assign)
                   and any(getattr(t, "id", None) == "DEFAULT" for t in node.targets))
    assert "gascity-dashboard" in default
    pyproject = _project(ROOT / "gascity-dashboard")
    assert pyproject["project"]["entry-points"]["gascity.observers"] == {  # type: ignore[index]
        "dashboard": "gascity_dashboard.plugin:DashboardPlugin"}
