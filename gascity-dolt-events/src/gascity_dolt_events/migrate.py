"""Copy a city's existing event log (the ``file`` backend's ``.gc/events.jsonl``) into
the Dolt table, keeping every seq so cursors held by followers stay valid."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gascity.config import load_city
from gascity.errors import PluginError
from gascity.plugins import Hooks, PluginContext, PluginManager
from gascity.types import EventFilter

from .store import DoltEvents

__all__ = ["MigrateResult", "migrate_city", "migrate_events"]


@dataclass(frozen=True)
class MigrateResult:
    copied: int
    skipped: int
    """Events whose seq was already in the table (a migration run again)."""
    latest_seq: int


def migrate_events(
    source: Hooks,
    target: DoltEvents,
    batch: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> MigrateResult:
    """Page through ``source`` by keyset and insert into ``target`` with the same seqs.

    Re-running is safe: seqs already present are skipped. The target's high water
    mark is raised to the source's latest seq, so seqs issued after the switch keep
    rising even when the source had pruned its newest events.
    """
    copied = skipped = 0
    cursor = 0
    while page := source.list_events(EventFilter(after_seq=cursor, limit=batch)):
        done, dup = target.import_events(page, batch=batch)
        copied += done
        skipped += dup
        cursor = page[-1].seq
        if progress is not None:
            progress(copied + skipped)
    latest = max(source.latest_event_seq(), cursor)
    target.raise_high_water(latest)
    return MigrateResult(copied=copied, skipped=skipped, latest_seq=latest)


def _source_hooks(pm: PluginManager, name: str, ctx: PluginContext) -> Hooks:
    matches = [r for r in pm.records_for("events") if r.name == name]
    if not matches:
        installed = ", ".join(pm.installed_names("events")) or "none"
        raise PluginError(f"unknown events backend '{name}'; installed: {installed}")
    plugin = matches[0].load_factory()(ctx)
    pm.register("events", plugin)
    return pm.hooks


def migrate_city(
    city_dir: Path,
    source: str = "file",
    env: Mapping[str, str] | None = None,
    batch: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> MigrateResult:
    """``gc events migrate --from SOURCE --to dolt`` for the city in ``city_dir``.

    Both backends read their settings from the city's ``[events.<name>]`` tables, so
    the migration can run before ``[events] provider`` is switched to ``dolt``.
    """
    import os

    loaded = load_city(city_dir)
    env = dict(os.environ) if env is None else dict(env)
    section = loaded.config.section("events")

    def context(name: str) -> PluginContext:
        settings: dict[str, Any] = dict(section.plugin_settings(name))
        return PluginContext(
            role="events",
            name=name,
            settings=settings,
            city_name=loaded.city_name,
            city_dir=loaded.city_dir,
            config_path=loaded.path,
            env=env,
        )

    pm = PluginManager(env=env)
    target = DoltEvents(context("dolt"))
    try:
        hooks = _source_hooks(pm, source, context(source))
        return migrate_events(hooks, target, batch=batch, progress=progress)
    finally:
        pm.close()
        target.shutdown()
