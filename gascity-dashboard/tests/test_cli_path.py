"""The commands agents run load nothing of the API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gascity_dashboard.testing import CITY, gc_env

PROBE = """
import sys
sys.argv[0] = "gc"
from gascity.cli.main import main
try:
    main()
except SystemExit:
    pass
heavy = ("prometheus_client", "http.server")
print("LOADED", sorted(m for m in sys.modules
                       if m in heavy or m.split(".")[0] == "gascity_dashboard"),
      file=sys.stderr)
"""


def loaded_after(city: Path, *args: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, "--city", str(city), *args],
                          env=gc_env(), capture_output=True, text=True, timeout=60,
                          check=False)
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("LOADED"))
    loaded: list[str] = json.loads(line.removeprefix("LOADED ").replace("'", '"'))
    return loaded


def test_agent_commands_import_no_api(tmp_path: Path) -> None:
    (tmp_path / "city.toml").write_text(
        CITY.format(port=9, api_extra="", scale_check="cat want"))
    (tmp_path / "want").write_text("1")
    # What agents run in their hot loops loads no part of the dashboard at all.
    assert loaded_after(tmp_path, "event", "emit", "agent.note", "--actor", "mayor") == []
    assert loaded_after(tmp_path, "mail", "send", "--from", "mayor", "--to", "mayor",
                        "--body", "hi") == []
    assert loaded_after(tmp_path, "mail", "check", "mayor") == []
    assert loaded_after(tmp_path, "runtime", "drain-ack", "--session", "mayor") == []
    assert loaded_after(tmp_path, "status") == []
    # A controller that is not the foreground one builds the plugin class, nothing more.
    assert loaded_after(tmp_path, "start", "--once") == ["gascity_dashboard",
                                                         "gascity_dashboard.plugin"]
