"""Exceptions a user or a plugin can act on.

Plugins raise these (or subclasses) from hook implementations; the controller and the
CLI know how to report each one without a traceback.
"""

from __future__ import annotations

__all__ = [
    "AlreadyArchived",
    "ConfigError",
    "GasCityError",
    "MailNotFound",
    "NotLeader",
    "NotThisCity",
    "PluginError",
    "SessionError",
    "SessionExists",
    "SessionNotFound",
    "StoreUnavailable",
    "Unsupported",
]


class GasCityError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(GasCityError):
    """A city.toml (or a plugin's settings table) is invalid.

    ``problems`` holds one line per problem, each naming the key path and what was
    expected; ``path`` is the file.
    """

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{path}: invalid configuration\n{lines}")


class PluginError(GasCityError):
    """A plugin cannot be found, imported or instantiated."""


class SessionError(GasCityError):
    """A session operation failed."""


class SessionExists(SessionError):
    """``start`` was asked for a name that is already running."""


class SessionNotFound(SessionError):
    """The operation needs a running session and there is none by that name."""


class NotLeader(SessionError):
    """This controller does not hold the leadership (or held it too long ago to be
    sure): it must not write. Raised before a write, it stops the tick at once."""


class NotThisCity(SessionError):
    """The backend belongs to another city of the same name (a Kubernetes namespace
    claimed from another path): nothing was listed, started or stopped, and going on
    by name would act on that other city's sessions."""


class Unsupported(SessionError):
    """The selected provider does not implement this operation."""


class StoreUnavailable(GasCityError):
    """An events or mail store cannot be reached right now."""


class MailNotFound(GasCityError):
    """No message with that id."""


class AlreadyArchived(GasCityError):
    """The message was archived already (by this caller or a racing one)."""
