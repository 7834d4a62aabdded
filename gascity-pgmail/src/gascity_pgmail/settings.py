"""The ``[mail.postgres]`` settings table and the DSN it resolves to.

The DSN is a secret (it usually carries a password), so it never appears in an
error, a log line or ``gc status``: :func:`mask_dsn` and :func:`scrub` are the only
ways it is ever shown.
"""

from __future__ import annotations

import re

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from gascity.errors import ConfigError
from gascity.plugins import PluginContext, load_settings

__all__ = ["ENV_PREFIX", "PgMailSettings", "mask_dsn", "resolve", "scrub"]

ENV_PREFIX = "GC_MAIL_PG_"
"""``GC_MAIL_PG_DSN``, ``GC_MAIL_PG_POOL_MAX``... override the table's keys."""

_IDENT = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"


class PgMailSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dsn: str | None = Field(
        default=None, description="libpq DSN or URI; prefer dsn_env so it stays out of files."
    )
    dsn_env: str | None = Field(
        default=None, description="Name of an environment variable holding the DSN."
    )
    schema_: str = Field(
        default="gascity",
        alias="schema",
        pattern=_IDENT,
        description="Schema holding the mail tables; created on first use.",
    )
    pool_min: int = Field(default=1, ge=0, le=1000)
    pool_max: int = Field(default=20, ge=1, le=1000)
    pool_timeout: float = Field(
        default=30.0, gt=0, description="Seconds to wait for a free pooled connection."
    )
    connect_timeout: int = Field(default=10, ge=1)
    notify: bool = Field(
        default=True,
        description="Send a NOTIFY with every message so 'gc mail inbox --follow' wakes.",
    )
    retry_window: float = Field(
        default=15.0,
        ge=0,
        description="How long an operation keeps retrying while the server restarts.",
    )

    @pydantic.model_validator(mode="after")
    def _pool_bounds(self) -> PgMailSettings:
        if self.pool_min > self.pool_max:
            raise ValueError("pool_min must not exceed pool_max")
        return self


def resolve(ctx: PluginContext) -> tuple[PgMailSettings, str]:
    """Validate the settings and return them with the DSN to connect with.

    ``GC_MAIL_PG_DSN`` (or ``dsn``) wins over ``dsn_env``; having neither is a
    configuration error that names both ways to fix it.
    """
    settings = load_settings(ctx, PgMailSettings, env_prefix=ENV_PREFIX)
    where = str(ctx.config_path or "city.toml")
    if settings.dsn:
        return settings, settings.dsn
    if settings.dsn_env:
        value = ctx.env.get(settings.dsn_env, "")
        if value:
            return settings, value
        raise ConfigError(
            where,
            [
                f"{ctx.settings_key}.dsn_env: environment variable {settings.dsn_env} "
                "is not set or empty"
            ],
        )
    raise ConfigError(
        where,
        [
            f'{ctx.settings_key}: no DSN: set dsn_env = "VAR" (a variable holding the DSN), '
            f'dsn = "...", or {ENV_PREFIX}DSN'
        ],
    )


_URI_PASSWORD = re.compile(r"(?P<head>[a-z]+://[^:/@\s]*:)(?P<pw>[^@\s]*)(?P<tail>@)", re.I)
_KW_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.I)
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<pw>[^&\s]*)", re.I)


def mask_dsn(dsn: str) -> str:
    """``dsn`` with any password replaced by ``***`` (keyword and URI forms)."""
    out = _URI_PASSWORD.sub(lambda m: f"{m['head']}***{m['tail']}", dsn)
    out = _KW_PASSWORD.sub(lambda m: f"{m['head']}***", out)
    return _QUERY_PASSWORD.sub(lambda m: f"{m['head']}***", out)


def _passwords(dsn: str) -> list[str]:
    found: list[str] = []
    for rx in (_URI_PASSWORD, _KW_PASSWORD, _QUERY_PASSWORD):
        for m in rx.finditer(dsn):
            pw = m["pw"].strip("'")
            if pw:
                found.append(pw)
    try:
        from psycopg.conninfo import conninfo_to_dict

        parsed = conninfo_to_dict(dsn).get("password")
        if parsed:
            found.append(str(parsed))
    except Exception:
        pass  # unparseable: the regexes above are all we have
    return sorted(set(found), key=len, reverse=True)


def scrub(text: str, dsn: str) -> str:
    """Remove the DSN and its password from ``text`` (a driver error message)."""
    out = text.replace(dsn, mask_dsn(dsn)) if dsn else text
    for pw in _passwords(dsn):
        out = out.replace(pw, "***")
    return out
