"""The registry of cities the supervisor runs: ``cities.toml`` in the supervisor's home.

The same shape as the reference's (``[[cities]]`` with ``path`` and ``name``), so a
registry written by either tool reads in the other. Cities are keyed by their real path:
``~/city``, ``./city`` and a symlink to it are one city.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import GasCityError
from ..fsutil import atomic_write, locked

__all__ = ["CityEntry", "Registry", "RegistryError"]

# A name appears in URLs of the city API and in unit names: keep it plain.
_VALID_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class RegistryError(GasCityError):
    pass


@dataclass(frozen=True)
class CityEntry:
    path: Path
    name: str


class Registry:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise RegistryError(f"{self.path}: cannot read: {exc}") from None
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RegistryError(f"{self.path}: not valid TOML: {exc}") from None

    def entries(self) -> list[CityEntry]:
        """Every registered city. A missing file is an empty registry.

        :raises RegistryError: the file is not valid TOML or an entry is malformed; the
            message names the file and the entry.
        """
        raw = self._load().get("cities", [])
        if not isinstance(raw, list):
            raise RegistryError(f"{self.path}: cities: expected an array of tables")
        entries = []
        for i, item in enumerate(raw):
            if not isinstance(item, dict) or not isinstance(item.get("path"), str):
                raise RegistryError(f"{self.path}: cities[{i}].path: expected a string")
            path = Path(item["path"])
            name = item.get("name")
            entries.append(CityEntry(path, name if isinstance(name, str) and name
                                     else path.name))
        return entries

    def find(self, city_dir: Path) -> CityEntry | None:
        real = city_dir.resolve()
        return next((e for e in self.entries() if e.path == real), None)

    def register(self, city_dir: Path, name: str, *, rename: bool = True) -> bool:
        """Add a city; ``False`` if it was already registered under that name.

        With ``rename=False`` a city registered already keeps the name it has (``gc
        start`` of a city ``gc register --name`` put in under another name than its
        workspace.name), and ``False`` is returned.

        :raises RegistryError: the name is not usable or another city has it.
        """
        real = city_dir.resolve()
        if not _VALID_NAME.fullmatch(name):
            raise RegistryError(
                f"city name {name!r}: expected letters, digits, '.', '_' or '-', "
                "starting with a letter or digit (set workspace.name, or register it "
                f"with: gc register --name NAME {real})")
        with self._locked():
            entries = self.entries()
            if not rename and any(e.path == real for e in entries):
                return False
            for entry in entries:
                if entry.name == name and entry.path != real:
                    raise RegistryError(
                        f"city name {name!r} is already registered for {entry.path}; "
                        f"register this one under another name with: gc register "
                        f"--name NAME {real}")
            if CityEntry(real, name) in entries:
                return False
            entries = [e for e in entries if e.path != real] + [CityEntry(real, name)]
            self._write(entries)
        return True

    def unregister(self, city_dir: Path) -> bool:
        real = city_dir.resolve()
        with self._locked():
            entries = self.entries()
            kept = [e for e in entries if e.path != real]
            if len(kept) == len(entries):
                return False
            self._write(kept)
        return True

    def _locked(self) -> AbstractContextManager[int]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return locked(self.path.with_name(self.path.name + ".lock"))

    def _write(self, entries: list[CityEntry]) -> None:
        lines = ["# Cities run by `gc supervisor`; edit with gc register / gc unregister.", ""]
        for entry in entries:
            # A JSON string is a valid TOML basic string (same escapes).
            lines += ["[[cities]]", f"path = {json.dumps(str(entry.path))}",
                      f"name = {json.dumps(entry.name)}", ""]
        # The reference keeps its rig index in the same file: carry it over untouched.
        for rig in self._load().get("rigs", []):
            if isinstance(rig, dict):
                lines.append("[[rigs]]")
                lines += [f"{key} = {json.dumps(value)}" for key, value in rig.items()
                          if isinstance(value, str) and key.replace("_", "").isalnum()]
                lines.append("")
        atomic_write(self.path, "\n".join(lines))
        os.chmod(self.path, 0o600)
