"""Find plugins through entry points, select one per role, import only what is selected.

Selection order for each single-choice role: the environment (``GC_SESSION``,
``GC_EVENTS``, ``GC_MAIL``), then city.toml (``[session] provider``...), then the
built-in default. A selector is ``name[:argument]`` so ``exec:/path/to/script``
carries its script. Observers (``gascity.observers``) and CLI extensions
(``gascity.cli``) are always loaded; if one is broken it costs a warning, not the run.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy

from .. import hookspecs
from ..errors import ConfigError, PluginError
from .context import PluginContext
from .facade import Hooks
from .registry import (
    FIRST_PARTY_NAMES,
    EntryPointSource,
    PluginRecord,
    PluginStatus,
    _entry_points,
    discover,
    install_hint,
)

__all__ = [
    "DEFAULTS",
    "ENV_VARS",
    "ROLES",
    "TEST_ONLY_PROVIDERS",
    "TEST_PROVIDERS_ENV",
    "PluginManager",
    "Selector",
    "parse_selector",
]

log = logging.getLogger("gascity.plugins")

ROLES: dict[str, str] = {
    "session": "gascity.session",
    "events": "gascity.events",
    "mail": "gascity.mail",
    "observers": "gascity.observers",
    "cli": "gascity.cli",
}
SELECTABLE = ("session", "events", "mail")
DEFAULTS = {"session": "tmux", "events": "file", "mail": "sqlite"}
ENV_VARS = {"session": "GC_SESSION", "events": "GC_EVENTS", "mail": "GC_MAIL"}
TEST_ONLY_PROVIDERS = frozenset({"fake"})
"""Test doubles shipped with the core for the test kits: nothing really runs on them, so
they are refused unless ``TEST_PROVIDERS_ENV`` is on, and listings leave them out."""
TEST_PROVIDERS_ENV = "GC_ALLOW_TEST_PROVIDERS"
"""Set to ``1`` by a test run (the root conftest.py does) to let a city select a test
double. An environment variable, so the controllers and ``gc`` processes a test spawns
inherit it."""
_NOUN = {"session": "session provider", "events": "events backend", "mail": "mail backend"}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

# The hooks a plugin loaded for a role may answer, read from the spec classes.
# Broadcasts are open to every plugin; a plain implementation of another role's
# select-one hook is ignored, so a class serving two roles (or an observer defining
# ``peek``) can never answer for a role it was not selected for. Wrappers may observe
# any hook.
# The controller telling observers about its life; not work asked of a plugin, so
# call budgets (gascity.testing.counter) leave them out.
LIFECYCLE = hookspecs.LIFECYCLE
BROADCASTS = hookspecs.BROADCASTS
ROLE_HOOKS: dict[str, frozenset[str]] = {
    **{role: frozenset(names) for role, names in hookspecs.ROLE_HOOKS.items()},
    "observers": frozenset(),
    "cli": frozenset(),
}
_KNOWN_HOOKS = frozenset(hookspecs.ALL_HOOKS)


class _RolePluggy(pluggy.PluginManager):
    """pluggy, but a plugin loaded for a role only implements that role's hooks."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self._roles: dict[int, str] = {}

    def register_for_role(self, role: str, plugin: object, name: str) -> None:
        self._roles[id(plugin)] = role
        try:
            self.register(plugin, name=name)
        except BaseException:
            del self._roles[id(plugin)]
            raise

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        removed = super().unregister(plugin, name)
        if removed is not None:
            self._roles.pop(id(removed), None)
        return removed

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None:
            return None
        if name not in _KNOWN_HOOKS:
            if getattr(getattr(plugin, name, None), "__name__", name) in _KNOWN_HOOKS:
                return None  # an alias (``close = shutdown``), not a second hookimpl
            # Registered so that _check_pending() names the misspelling.
            return opts
        role = self._roles.get(id(plugin))
        if role is None or name in BROADCASTS:
            return opts
        if name in ROLE_HOOKS.get(role, frozenset()):
            return opts
        if opts.get("wrapper") or opts.get("hookwrapper"):
            return opts
        log.debug("%s plugin %s: ignoring %s (not a %s hook)", role, plugin, name, role)
        return None


@dataclass(frozen=True)
class Selector:
    """A parsed ``name[:argument]`` plus where it came from (for error messages)."""

    name: str
    argument: str | None = None
    source: str = "default"

    def __str__(self) -> str:
        return self.name if self.argument is None else f"{self.name}:{self.argument}"


def parse_selector(text: str, source: str = "default") -> Selector:
    """Parse ``name`` or ``name:argument``; the argument may itself contain ``:``."""
    name, sep, argument = text.strip().partition(":")
    if not _NAME_RE.match(name):
        raise PluginError(
            f"{source}: invalid plugin selector {text!r}: expected name[:argument] "
            "with a name of letters, digits, '_', '-' or '.'"
        )
    if sep and not argument:
        raise PluginError(f"{source}: selector {text!r} has an empty argument after ':'")
    return Selector(name=name, argument=argument if sep else None, source=source)


class PluginManager:
    """The one place that knows about entry points, pluggy and plugin lifecycles."""

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        source: EntryPointSource = _entry_points,
        disabled: Iterable[str] = (),
    ) -> None:
        self.env: Mapping[str, str] = dict(os.environ) if env is None else env
        self.pm = _RolePluggy()
        for spec in hookspecs.SPEC_CLASSES:
            self.pm.add_hookspecs(spec)
        self.records: list[PluginRecord] = discover(ROLES, source)
        self.selected: dict[str, Selector] = {}
        self.instances: dict[str, object] = {}
        blocked = {d.strip() for d in self.env.get("GC_DISABLE_PLUGINS", "").split(",")}
        blocked |= set(disabled)
        blocked.discard("")
        for rec in self.records:
            # 'name', 'role:name' or a whole distribution ('gascity-k8s').
            if blocked & {rec.key, rec.name, rec.distribution}:
                rec.status = PluginStatus.BLOCKED
        self.hooks = Hooks(self.pm)

    # -------------------------------------------------------------- queries

    def records_for(self, role: str) -> list[PluginRecord]:
        return [r for r in self.records if r.role == role]

    @property
    def allows_test_providers(self) -> bool:
        return self.env.get(TEST_PROVIDERS_ENV, "").strip().lower() not in (
            "", "0", "false", "no", "off")

    def installed_names(self, role: str) -> list[str]:
        """What a city may select for ``role`` (test doubles only in a test run)."""
        names = {r.name for r in self.records_for(role)}
        if not self.allows_test_providers:
            names -= TEST_ONLY_PROVIDERS
        return sorted(names)

    def resolve(self, role: str, configured: str | None = None) -> Selector:
        """Apply env > city.toml > default for ``role``; nothing is imported."""
        env_var = ENV_VARS[role]
        if self.env.get(env_var):
            return parse_selector(self.env[env_var], f"environment {env_var}")
        if configured:
            return parse_selector(configured, f"city.toml [{role}] provider")
        default = DEFAULTS[role]
        if role == "session" and not self._tmux_usable():
            # The embedded default must run on a machine without tmux too.
            log.info("tmux is not installed; using the subprocess session provider")
            default = "subprocess"
        return Selector(name=default, source="default")

    def _tmux_usable(self) -> bool:
        has_plugin = any(r.name == "tmux" for r in self.records_for("session"))
        if not has_plugin:
            return False
        import shutil

        return shutil.which("tmux", path=self.env.get("PATH")) is not None

    # -------------------------------------------------------------- loading

    def _record(self, role: str, selector: Selector) -> PluginRecord:
        matches = [r for r in self.records_for(role) if r.name == selector.name]
        noun = _NOUN.get(role, f"{role} plugin")
        if matches and selector.name in TEST_ONLY_PROVIDERS and not self.allows_test_providers:
            raise PluginError(
                f"{noun} '{selector.name}' ({selector.source}) is a test double of Gas City's "
                "own tests: no agent runs on it; choose one of: "
                f"{', '.join(self.installed_names(role)) or 'none'} "
                f"(a test run enables it with {TEST_PROVIDERS_ENV}=1)"
            )
        if not matches:
            installed = ", ".join(self.installed_names(role)) or "none"
            msg = f"unknown {noun} '{selector.name}' ({selector.source}); installed: {installed}"
            dist = FIRST_PARTY_NAMES.get((role, selector.name))
            if dist:
                msg += f"\n  '{selector.name}' is provided by {dist}: {install_hint(dist)}"
            raise PluginError(msg)
        if len(matches) > 1:
            # Several distributions claim the name: the user may settle it by
            # disabling all but one of them instead of uninstalling.
            usable = [r for r in matches if r.status is not PluginStatus.BLOCKED]
            if len(usable) == 1:
                return usable[0]
            dists = ", ".join(f"{r.distribution} {r.version}" for r in matches)
            raise PluginError(
                f"{noun} '{selector.name}' is registered by several distributions: {dists}; "
                "choose one of them: uninstall the others, or disable them with "
                "GC_DISABLE_PLUGINS=<distribution> or [plugins] disabled"
            )
        rec = matches[0]
        if rec.status is PluginStatus.BLOCKED:
            raise PluginError(
                f"{noun} '{selector.name}' ({rec.distribution}) is disabled "
                "(GC_DISABLE_PLUGINS or [plugins] disabled); enable it or select another"
            )
        return rec

    def _instantiate(self, rec: PluginRecord, ctx: PluginContext) -> object:
        where = _where(rec)
        try:
            factory = rec.load_factory()
        except Exception as exc:
            rec.status = PluginStatus.ERROR
            rec.error = _one_line(exc)
            raise PluginError(
                f"{where} failed to import: {rec.error}\n  hint: {install_hint(rec.distribution)}"
            ) from exc
        try:
            plugin = factory(ctx)
        except (ConfigError, PluginError) as exc:
            rec.status = PluginStatus.ERROR
            rec.error = _one_line(exc)
            raise
        except ImportError as exc:
            # Heavy dependencies are imported in the constructor, so a missing one
            # surfaces here rather than at import.
            rec.status = PluginStatus.ERROR
            rec.error = _one_line(exc)
            raise PluginError(
                f"{where} failed to import: {rec.error}\n  hint: {install_hint(rec.distribution)}"
            ) from exc
        except Exception as exc:
            rec.status = PluginStatus.ERROR
            rec.error = _one_line(exc)
            raise PluginError(f"{where} failed to start: {rec.error}") from exc
        rec.status = PluginStatus.LOADED
        return plugin

    def activate(
        self,
        role: str,
        selector: Selector,
        make_context: Callable[[str, str, str | None], PluginContext],
    ) -> object:
        """Import, build and register the selected plugin of ``role``."""
        if role in self.selected:
            raise PluginError(f"a {role} plugin is already active: {self.selected[role]}")
        rec = self._record(role, selector)
        plugin = self._instantiate(rec, make_context(role, selector.name, selector.argument))
        self.pm.register_for_role(role, plugin, name=f"{role}:{selector}")
        self._check_pending(plugin, _where(rec))
        self.selected[role] = selector
        self.instances[role] = plugin
        return plugin

    def register(self, role: str, plugin: object, selector: Selector | None = None) -> None:
        """Register a plugin object directly (tests, embedding).

        Unlike plugins loaded through entry points, every hook the object implements
        is registered, whatever ``role`` says: a test may register one object that
        serves several roles.
        """
        self.pm.register(plugin, name=f"{role}:{selector or type(plugin).__name__}")
        self._check_pending(plugin, f"{role} plugin {type(plugin).__name__}")
        if role in SELECTABLE:
            self.selected[role] = selector or Selector(type(plugin).__name__, source="register")
            self.instances[role] = plugin

    def load_always_on(
        self, make_context: Callable[[str, str, str | None], PluginContext], roles: Iterable[str]
    ) -> None:
        """Load every observer / CLI plugin; a broken one is one warning line."""
        for role in roles:
            for rec in self.records_for(role):
                if rec.status is PluginStatus.BLOCKED:
                    continue
                try:
                    plugin = self._instantiate(rec, make_context(role, rec.name, None))
                except (PluginError, ConfigError):
                    log.warning(
                        "skipping broken %s plugin %s (%s): %s",
                        role,
                        rec.name,
                        rec.distribution,
                        rec.error,
                    )
                    continue
                self.pm.register_for_role(role, plugin, name=f"{role}:{rec.name}")
                try:
                    self._check_pending(plugin, _where(rec))
                except PluginError as exc:
                    rec.status = PluginStatus.ERROR
                    rec.error = str(exc)
                    log.warning("skipping broken %s plugin: %s", role, exc)

    def _check_pending(self, plugin: object, where: str) -> None:
        """Refuse a plugin implementing a hook nobody specified (a misspelling).

        pluggy would keep such an implementation silently: it is never called, and
        the hook the author meant has no implementation.
        """
        unknown = sorted(c.name for c in self.pm.get_hookcallers(plugin) or () if c.spec is None)
        if not unknown:
            return
        self.pm.unregister(plugin)
        parts = []
        for name in unknown:
            close = difflib.get_close_matches(name, hookspecs.ALL_HOOKS, n=1)
            parts.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        raise PluginError(
            f"{where} implements unknown hook {', '.join(parts)}; "
            "the hooks are listed in gascity.hookspecs and docs/plugin-authors.md"
        )

    def check_pending(self) -> None:
        """Every registered implementation has a spec (pluggy's check, our message)."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {exc.plugin!r}: {exc}") from exc

    def check_all(self) -> list[PluginRecord]:
        """Import every plugin's module (not instantiate) to report its status.

        Used by ``gc plugins``: import is cheap by contract, and it is the only way to
        tell a broken distribution from a working one without selecting it.
        """
        for rec in self.records:
            if rec.status is not PluginStatus.AVAILABLE:
                continue
            try:
                rec.load_factory()
            except Exception as exc:
                rec.status = PluginStatus.ERROR
                rec.error = _one_line(exc)
                log.warning("%s plugin %s is broken: %s", rec.role, rec.name, rec.error)
            else:
                rec.status = PluginStatus.LOADED
        return self.records

    def close(self) -> None:
        try:
            self.hooks.shutdown()
        finally:
            for name, _plugin in list(self.pm.list_name_plugin()):
                self.pm.unregister(name=name)


def _where(rec: PluginRecord) -> str:
    noun = _NOUN.get(rec.role, f"{rec.role} plugin")
    return f"{noun} '{rec.name}' from {rec.distribution} {rec.version}"


def _one_line(exc: BaseException) -> str:
    """``Type: message`` on one line, so a broken plugin costs one log line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def context_factory(
    *,
    city_name: str,
    city_dir: Path,
    config_path: Path | None,
    settings: Callable[[str, str], Mapping[str, Any]],
    env: Mapping[str, str],
) -> Callable[[str, str, str | None], PluginContext]:
    def make(role: str, name: str, argument: str | None) -> PluginContext:
        return PluginContext(
            role=role,
            name=name,
            argument=argument,
            settings=settings(role, name),
            city_name=city_name,
            city_dir=city_dir,
            config_path=config_path,
            env=env,
        )

    return make
