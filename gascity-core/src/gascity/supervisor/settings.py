"""``supervisor.toml``: the ``[supervisor]`` table, keys as in the reference.

``patrol_interval`` is how often the supervisor re-reads the registry and restarts city
runtimes whose backoff ran out (each city's own ``[daemon] patrol_interval`` still paces
its reconcile ticks). ``bind``, ``port`` and ``allow_mutations`` are the reference's
keys for its supervisor-wide API: checked and reported (:attr:`SupervisorSettings.api`,
``gc supervisor status --json``), but no supervisor-wide server listens on them; each city
serves its own ``[api]``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config.durations import parse_duration
from ..errors import ConfigError

__all__ = ["SupervisorSettings"]

_KEYS = {"patrol_interval", "port", "bind", "allow_mutations"}


@dataclass(frozen=True)
class SupervisorSettings:
    patrol_interval: float = 10.0
    port: int = 8372
    bind: str = "127.0.0.1"
    allow_mutations: bool = False

    @property
    def api(self) -> dict[str, Any]:
        return {"bind": self.bind, "port": self.port, "allow_mutations": self.allow_mutations}

    @classmethod
    def load(cls, path: Path) -> SupervisorSettings:
        """Defaults when the file is missing.

        :raises ConfigError: naming the file and each bad key.
        """
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(str(path), [str(exc)]) from None
        table = data.get("supervisor", {})
        if not isinstance(table, dict):
            raise ConfigError(str(path), ["supervisor: expected a table"])
        problems = [f"supervisor.{k}: unknown key; expected one of {', '.join(sorted(_KEYS))}"
                    for k in table if k not in _KEYS]
        values: dict[str, Any] = {}
        if "patrol_interval" in table:
            try:
                values["patrol_interval"] = parse_duration(table["patrol_interval"])
                if values["patrol_interval"] <= 0:
                    raise ValueError("expected a duration above zero")
            except ValueError as exc:
                problems.append(f"supervisor.patrol_interval: {exc}")
        port = table.get("port", cls.port)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            problems.append(f"supervisor.port: expected a TCP port 1-65535, got {port!r}")
        else:
            values["port"] = port
        bind = table.get("bind", cls.bind)
        if not isinstance(bind, str) or not bind:
            problems.append(f"supervisor.bind: expected an address such as 127.0.0.1, "
                            f"got {bind!r}")
        else:
            values["bind"] = bind
        mutations = table.get("allow_mutations", cls.allow_mutations)
        if not isinstance(mutations, bool):
            problems.append(f"supervisor.allow_mutations: expected true or false, "
                            f"got {mutations!r}")
        else:
            values["allow_mutations"] = mutations
        if problems:
            raise ConfigError(str(path), problems)
        return cls(**values)
