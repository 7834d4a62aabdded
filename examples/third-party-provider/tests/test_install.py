"""A plain ``pip install`` of this folder into a fresh virtual environment is enough for
Gas City to find the ``nohup`` provider through its entry point, list it and select it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parents[1]
REPO = EXAMPLE.parents[1]
CORE = REPO / "gascity-core"


def run(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 300) -> str:
    result = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("fresh-venv")
    run([sys.executable, "-m", "venv", str(root / "venv")], dict(os.environ), root)
    bin_dir = root / "venv" / "bin"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not k.startswith("GC_")
    }
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(root / "venv")
    # Plain, non-editable installs from the source folders, as a user would.
    run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", str(CORE), str(EXAMPLE)],
        env,
        root,
        timeout=600,
    )
    return bin_dir, env


def plugins_json(bin_dir: Path, env: dict[str, str], cwd: Path, *args: str) -> list[Any]:
    out = run([str(bin_dir / "gc"), *args, "plugins", "--json"], env, cwd)
    rows = json.loads(out)
    assert isinstance(rows, list)
    return rows


def nohup_row(rows: list[Any]) -> dict[str, Any]:
    [row] = [r for r in rows if r["role"] == "session" and r["name"] == "nohup"]
    assert isinstance(row, dict)
    return row


def test_installed_into_a_fresh_venv_not_from_the_source_tree(
    venv: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    bin_dir, env = venv
    code = (
        "import gascity, gascity_example_provider as m; print(m.__file__); print(gascity.__file__)"
    )
    out = run([str(bin_dir / "python"), "-c", code], env, tmp_path).splitlines()
    assert all("site-packages" in line for line in out), out
    assert not any(line.startswith(str(REPO)) for line in out), out


def test_gc_plugins_lists_the_example(venv: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    bin_dir, env = venv
    rows = plugins_json(bin_dir, env, tmp_path)
    row = nohup_row(rows)
    assert row == {
        "role": "session",
        "name": "nohup",
        "distribution": "gascity-example-provider",
        "version": "0.1.0",
        "value": "gascity_example_provider:NohupProvider",
        "status": "loaded",
        "error": "",
        "selected": False,
    }
    core = {(r["role"], r["name"]) for r in rows if r["distribution"] == "gascity-core"}
    assert ("session", "subprocess") in core


def test_environment_and_city_toml_select_it(
    venv: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    bin_dir, env = venv
    city = tmp_path / "city"
    city.mkdir()
    (city / "city.toml").write_text('[workspace]\nname = "demo"\n', encoding="utf-8")

    by_env = plugins_json(bin_dir, {**env, "GC_SESSION": "nohup"}, tmp_path, "--city", str(city))
    assert nohup_row(by_env)["selected"] is True
    assert [r["name"] for r in by_env if r["role"] == "session" and r["selected"]] == ["nohup"]

    default = plugins_json(bin_dir, env, tmp_path, "--city", str(city))
    assert nohup_row(default)["selected"] is False

    (city / "city.toml").write_text('[session]\nprovider = "nohup"\n', encoding="utf-8")
    by_file = plugins_json(bin_dir, env, tmp_path, "--city", str(city))
    assert nohup_row(by_file)["selected"] is True


def test_selected_provider_runs_a_session_from_the_installed_wheel(
    venv: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    bin_dir, env = venv
    city = tmp_path / "city"
    city.mkdir()
    (city / "city.toml").write_text(
        '[session]\nprovider = "nohup"\n[session.nohup]\nstop_grace = "1s"\n', encoding="utf-8"
    )
    script = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from gascity.city import City
        from gascity.types import StartConfig

        city_dir = Path(sys.argv[1])
        with City.open(city_dir, roles=("session",), observers=False) as city:
            print(type(city.pm.instances["session"]).__module__)
            cfg = StartConfig(command="echo hello-from-nohup; sleep 300", work_dir=str(city_dir))
            city.hooks.start("mayor", cfg)
            for _ in range(200):
                if "hello-from-nohup" in city.hooks.peek("mayor", 5):
                    break
                time.sleep(0.05)
            print(city.hooks.peek("mayor", 5).strip())
            print([(r.name, r.liveness.value) for r in city.hooks.list_running("")])
            print(city.hooks.stop("mayor"))
        """
    )
    out = run([str(bin_dir / "python"), "-c", script, str(city)], env, tmp_path).splitlines()
    assert out == [
        "gascity_example_provider.provider",
        "hello-from-nohup",
        "[('mayor', 'alive')]",
        "True",
    ]
