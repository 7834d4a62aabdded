"""The event types Gas City records: the reference's vocabulary plus our own few.

The names a Gas City user already filters on (``gc events --type session.woke``,
``gc events --watch --type mail.sent``) are the reference's. Decisions the reference
has no name for (a start that failed, a pool resized, a config rejected) keep ours,
in the same ``noun.verb`` style. Old names of ours that now have a reference name are
listed in :data:`RENAMED` so a filter written for them still matches.

Plain string constants, no imports: agent-facing commands import this module.
"""

from __future__ import annotations

__all__ = [
    "CITY_RESUMED",
    "CITY_SUSPENDED",
    "CONFIG_REJECTED",
    "CONFIG_RELOADED",
    "CONTROLLER_STARTED",
    "CONTROLLER_STOPPED",
    "MAIL_ARCHIVED",
    "MAIL_DELETED",
    "MAIL_MARKED_READ",
    "MAIL_MARKED_UNREAD",
    "MAIL_READ",
    "MAIL_REPLIED",
    "MAIL_SENT",
    "POOL_CAPPED",
    "POOL_CHECK_FAILED",
    "POOL_SCALED",
    "RENAMED",
    "SESSION_BLOCKED",
    "SESSION_CRASHED",
    "SESSION_DRAINED",
    "SESSION_DRAINING",
    "SESSION_IDLE_KILLED",
    "SESSION_QUARANTINED",
    "SESSION_START_FAILED",
    "SESSION_STOPPED",
    "SESSION_STOP_FAILED",
    "SESSION_SUSPENDED",
    "SESSION_UNDRAINED",
    "SESSION_UPDATED",
    "SESSION_WOKE",
    "canonical",
]

# --- the reference's names
SESSION_WOKE = "session.woke"
SESSION_STOPPED = "session.stopped"
SESSION_CRASHED = "session.crashed"
SESSION_DRAINING = "session.draining"
SESSION_UNDRAINED = "session.undrained"
SESSION_QUARANTINED = "session.quarantined"
SESSION_IDLE_KILLED = "session.idle_killed"
SESSION_SUSPENDED = "session.suspended"
SESSION_UPDATED = "session.updated"
MAIL_SENT = "mail.sent"
MAIL_READ = "mail.read"
MAIL_ARCHIVED = "mail.archived"
MAIL_MARKED_READ = "mail.marked_read"
MAIL_MARKED_UNREAD = "mail.marked_unread"
MAIL_REPLIED = "mail.replied"
MAIL_DELETED = "mail.deleted"
CONTROLLER_STARTED = "controller.started"
CONTROLLER_STOPPED = "controller.stopped"
CITY_SUSPENDED = "city.suspended"
CITY_RESUMED = "city.resumed"

# --- ours: decisions the reference records no event for
SESSION_DRAINED = "session.drained"
SESSION_BLOCKED = "session.blocked"
SESSION_START_FAILED = "session.start_failed"
SESSION_STOP_FAILED = "session.stop_failed"
SESSION_LIST_FAILED = "session.list_failed"
POOL_SCALED = "pool.scaled"
POOL_CHECK_FAILED = "pool.check_failed"
POOL_CAPPED = "pool.capped"
"""A pool without max_active_sessions hit ``[daemon] max_pool_sessions``."""
CONFIG_RELOADED = "config.reloaded"
CONFIG_REJECTED = "config.rejected"

RENAMED: dict[str, str] = {
    "session.started": SESSION_WOKE,
    "session.idle": SESSION_IDLE_KILLED,
}
"""Names we used to record -> the name recorded now."""


def canonical(type_: str) -> str:
    """The name recorded today for ``type_`` (a filter may still use an old one)."""
    return RENAMED.get(type_, type_)
