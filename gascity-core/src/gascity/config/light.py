"""The few keys of city.toml that the commands agents run need, read without pydantic.

``gc event emit``, ``gc mail send`` and ``gc runtime drain-ack`` run inside every
agent's loop; they need the city's name, which plugin each role selects and that
plugin's settings table, nothing else. :func:`read_city_file` reads exactly those
with :mod:`tomllib` and checks their types, so a broken file still gets an error
naming the file and key. Everything else is validated strictly by
:func:`gascity.config.load_city` (``gc config validate``, controller start, reload).
"""

from __future__ import annotations

import os
import re
import tomllib

from ..errors import ConfigError
from .wording import show_value

# The agents' fast path (gascity.cli.fast) reads city.toml through the ``*_str``
# functions: no pathlib, no dataclasses, no typing at runtime.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

__all__ = [
    "CITY_FILE",
    "CityFile",
    "city_file_path",
    "find_city_dir",
    "find_city_dir_str",
    "read_city_file",
    "read_city_file_str",
    "read_text",
    "sanitize_city_name",
    "syntax_problem",
]

CITY_FILE = "city.toml"
_ROLES = ("session", "events", "mail")


class CityFile:
    """city.toml as read by :func:`read_city_file`: the raw tables, lightly checked."""

    __slots__ = ("city_name", "data", "file")

    def __init__(self, path: str | os.PathLike[str], data: Mapping[str, Any],
                 city_name: str) -> None:
        self.file = os.fspath(path)
        """The file's path as text."""
        self.data = data
        self.city_name = city_name

    def __repr__(self) -> str:
        return f"CityFile(path={self.file!r}, city_name={self.city_name!r})"

    @property
    def path(self) -> Path:
        from pathlib import Path

        return Path(self.file)

    @property
    def city_dir(self) -> Path:
        return self.path.parent

    @property
    def city_dir_str(self) -> str:
        return os.path.dirname(self.file)

    def provider(self, role: str) -> str | None:
        value = self._table(role).get("provider")
        return value if isinstance(value, str) and value else None

    def plugin_settings(self, role: str, name: str) -> dict[str, Any]:
        value = self._table(role).get(name)
        return dict(value) if isinstance(value, dict) else {}

    @property
    def disabled(self) -> tuple[str, ...]:
        return tuple(self._table("plugins").get("disabled", ()))

    def agent_names(self) -> list[str]:
        agents = self.data.get("agent", [])
        return [a["name"] for a in agents if isinstance(a, dict) and isinstance(a.get("name"), str)]

    def _table(self, key: str) -> Mapping[str, Any]:
        value = self.data.get(key, {})
        return value if isinstance(value, dict) else {}


def city_file_path(path: Path) -> Path:
    """``path`` itself if it names the file, else ``path/city.toml``."""
    return path if path.name == CITY_FILE or path.is_file() else path / CITY_FILE


def _city_file_path_str(path: str) -> str:
    return path if os.path.basename(path) == CITY_FILE or os.path.isfile(path) else (
        os.path.join(path, CITY_FILE))


def read_text(path: str | os.PathLike[str]) -> tuple[str, int]:
    """The file's text and mtime; errors name the file and say what to do."""
    try:
        with open(path, encoding="utf-8") as f:
            stat = os.fstat(f.fileno())
            text = f.read()
    except FileNotFoundError:
        raise ConfigError(
            str(path), ["file not found (run 'gc init DIR' to create a city)"]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"cannot read: {exc}"]) from None
    return text, stat.st_mtime_ns


def read_city_file(path: Path) -> CityFile:
    return read_city_file_str(os.fspath(path))


def read_city_file_str(path: str) -> CityFile:
    """:func:`read_city_file` for a path given as text."""
    path = _city_file_path_str(path)
    text, _ = read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [syntax_problem(text, exc)]) from None
    problems = _check(data)
    if problems:
        raise ConfigError(path, problems)
    workspace = data.get("workspace", {})
    name = workspace.get("name") or sanitize_city_name(
        os.path.basename(os.path.dirname(os.path.realpath(path))))
    return CityFile(path, data, name)


def _check(data: Mapping[str, Any]) -> list[str]:
    """Type errors in the keys this module reads (the rest is load_city's job)."""
    problems: list[str] = []

    def expect(key: str, value: Any, kind: type | tuple[type, ...], what: str) -> bool:
        if isinstance(value, kind):
            return True
        problems.append(f"{key}: expected {what}, got {show_value(value)}")
        return False

    for section in (*_ROLES, "workspace", "plugins"):
        if section in data and expect(section, data[section], dict, "a table"):
            table = data[section]
            if section in _ROLES and "provider" in table:
                expect(f"{section}.provider", table["provider"], str, "a string")
    workspace = data.get("workspace")
    if isinstance(workspace, dict) and "name" in workspace:
        expect("workspace.name", workspace["name"], str, "a string")
    plugins = data.get("plugins")
    if isinstance(plugins, dict) and "disabled" in plugins:
        disabled = plugins["disabled"]
        if expect("plugins.disabled", disabled, list, "a list of strings"):
            for i, item in enumerate(disabled):
                expect(f"plugins.disabled[{i}]", item, str, "a string")
    return problems


def syntax_problem(text: str, exc: tomllib.TOMLDecodeError) -> str:
    """``line 6, column 11: not valid TOML (Invalid value): command = claude``."""
    match = re.search(r"^(.*?) \(at line (\d+), column (\d+)\)$", str(exc))
    if not match:
        return f"not valid TOML: {exc}"
    reason, line, column = match.group(1), int(match.group(2)), int(match.group(3))
    lines = text.splitlines()
    source = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    problem = f"line {line}, column {column}: not valid TOML ({reason})"
    if source:
        problem += f": {source}"
    if reason == "Invalid value":
        problem += ' (strings need quotes, e.g. command = "claude")'
    return problem


def sanitize_city_name(name: str) -> str:
    out = "".join(c if c.isalnum() or c in "_-" else "-" for c in name).strip("-_")
    return out or "city"


def find_city_dir(start: Path) -> Path | None:
    """Walk up from ``start`` to the first directory holding a city.toml."""
    found = find_city_dir_str(os.fspath(start))
    if found is None:
        return None
    from pathlib import Path

    return Path(found)


def find_city_dir_str(start: str) -> str | None:
    """:func:`find_city_dir` for a path given as text (``Path.resolve`` is realpath)."""
    here = os.path.realpath(start)
    while True:
        if os.path.isfile(os.path.join(here, CITY_FILE)):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent
