"""The ``[events.dolt]`` settings table, with ``GC_EVENTS_DOLT_*`` overrides."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from gascity.config.durations import Duration
from gascity.errors import ConfigError
from gascity.plugins import PluginContext, load_settings

__all__ = ["ENV_PREFIX", "DoltSettings", "load_dolt_settings"]

ENV_PREFIX = "GC_EVENTS_DOLT_"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def _identifier(value: str) -> str:
    # Database and table names are interpolated into DDL (they cannot be bound
    # parameters), so only plain identifiers are accepted.
    if not _IDENT.match(value):
        raise ValueError("expected a plain SQL identifier: letters, digits and '_', at most 64")
    return value


class DoltSettings(BaseModel):
    """Where the event table lives and how the store behaves.

    ``password`` is a :class:`~pydantic.SecretStr`: it never appears in a repr, a log
    line or an error. Prefer ``password_env``, the *name* of an environment variable
    holding the password, so city.toml can be committed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=3307, ge=1, le=65535)
    user: str = "root"
    password: SecretStr | None = None
    password_env: str | None = None
    database: str = "gc_events"
    table: str = "events"
    retention: Duration = 24 * 3600.0
    """Events older than this are pruned by long-running processes; 0 keeps all."""
    poll_interval: Duration = 1.0
    """How often ``gc events --follow`` polls."""
    follow_grace: Duration = 2.0
    """How long a follower waits for a seq committed late before moving past it."""
    pool_size: int = Field(default=8, ge=1, le=256)
    connect_timeout: Duration = 3.0
    io_timeout: Duration = 30.0
    retry_backoff: Duration = 1.0
    """After a failed connection, spool without retrying the server for this long."""

    _check_database = field_validator("database")(_identifier)
    _check_table = field_validator("table")(_identifier)

    def resolve_password(self, env: Mapping[str, str]) -> str:
        if self.password_env:
            return env.get(self.password_env, "")
        return self.password.get_secret_value() if self.password is not None else ""

    def describe(self) -> str:
        """Where the store points, for messages; never includes the password."""
        return f"{self.user}@{self.host}:{self.port}/{self.database}.{self.table}"


def load_dolt_settings(ctx: PluginContext) -> DoltSettings:
    raw = ctx.settings.get("password")
    if raw is not None and not isinstance(raw, str):
        # The generic validation error quotes the bad value; for a password it must not.
        raise ConfigError(
            str(ctx.config_path or "city.toml"),
            [f"{ctx.settings_key}.password: expected a string (value not shown)"],
        )
    settings = load_settings(ctx, DoltSettings, ENV_PREFIX)
    if settings.password_env and settings.password_env not in ctx.env:
        raise ConfigError(
            str(ctx.config_path or "city.toml"),
            [
                f"{ctx.settings_key}.password_env: environment variable "
                f"{settings.password_env!r} is not set"
            ],
        )
    return settings
