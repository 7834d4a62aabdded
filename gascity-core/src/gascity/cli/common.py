"""What every ``gc`` command shares: finding the city, opening it, printing, errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

from ..config.durations import parse_duration
from ..config.light import find_city_dir
from ..errors import ConfigError, GasCityError
from .identity import caller, notify_controller

if TYPE_CHECKING:
    from ..city import City, LightCity

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "CliState",
    "caller",
    "echo_json",
    "format_table",
    "guard",
    "notify_controller",
    "parse_when",
    "pass_state",
]

EXIT_OK = 0
EXIT_FAILED = 1
"""The operation failed (nothing or not all of it happened for a reason we report)."""
EXIT_USAGE = 2
"""A usage error (arguments, options) or a configuration error (city.toml, settings)."""
EXIT_PARTIAL = 3
"""Part of the operation succeeded and part failed (some sessions, some recipients)."""

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class CliState:
    city_option: Path | None

    def city_dir(self, path: Path | None = None) -> Path:
        """The city a command is about: a PATH argument, else ``--city``, else the
        nearest parent of the working directory holding city.toml."""
        given = path if path is not None else self.city_option
        if given is not None:
            if not (given / "city.toml").is_file():
                raise click.ClickException(
                    f"no city.toml in {given} (create one with: gc init {given})"
                )
            return given.resolve()
        found = find_city_dir(Path.cwd())
        if found is None:
            raise click.ClickException(
                f"no city.toml in {Path.cwd()} or any parent directory; pass --city DIR "
                "or create one with: gc init DIR"
            )
        return found

    @contextmanager
    def open(self, *roles: str, observers: bool = False) -> Iterator[City]:
        """The city with its whole config validated (what most commands need). On a
        broken city.toml this runs on the controller's last good config, warning once."""
        from ..city import City

        city = City.open(self.city_dir(), roles=roles, observers=observers, fallback=True)
        try:
            yield city
        finally:
            city.close()

    @contextmanager
    def open_light(self, *roles: str) -> Iterator[LightCity]:
        """The city's plugins for ``roles`` without validating the rest of city.toml.

        For the commands agents run in their loops (``gc event emit``, ``gc mail
        send``, ``gc runtime drain-ack``...): no pydantic, no reconciler, only the
        selected plugins. ``tests/test_cli_lazy.py`` pins what they import.
        """
        from ..city import LightCity

        city = LightCity.open(self.city_dir(), roles=roles, fallback=True)
        try:
            yield city
        finally:
            city.close()


pass_state = click.make_pass_decorator(CliState)


def guard(fn: Callable[P, R]) -> Callable[P, R]:
    """Report Gas City's own errors as one clear message, not a traceback."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            click.echo(f"gc: {exc}", err=True)
            sys.exit(2)
        except GasCityError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in headers], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    return "\n".join(lines)


def parse_when(text: str) -> datetime:
    """``--since`` accepts a duration back from now (``10m``) or an ISO timestamp."""
    try:
        return datetime.now(UTC) - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: expected a duration such as 10m or an ISO time such as "
            "2026-01-02T03:04:05Z"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


