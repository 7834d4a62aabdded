"""A city opened for work: its config plus the plugins it selects.

:class:`City` validates the whole city.toml (the controller, ``gc config validate``,
``gc status``). :class:`LightCity` reads only what selecting and building plugins
needs (:mod:`gascity.config.light`): it is what the commands agents run many times a
minute open, so they never import the pydantic models or the reconciler.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config.light import CityFile, read_city_file
from .errors import ConfigError
from .plugins.manager import SELECTABLE, PluginManager, Selector, context_factory

if TYPE_CHECKING:
    from .config.load import LoadedConfig
    from .plugins.context import PluginContext
    from .plugins.facade import Hooks

__all__ = ["City", "LightCity"]


class _OpenCity:
    """Owns one :class:`PluginManager` and the plugins selected for one city."""

    def __init__(self, pm: PluginManager) -> None:
        self.pm = pm

    # What a subclass knows about its config.
    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def config_path(self) -> Path:
        raise NotImplementedError

    def plugin_settings(self, role: str, name: str) -> Mapping[str, Any]:
        raise NotImplementedError

    @property
    def dir(self) -> Path:
        return self.config_path.parent

    def context_factory(self) -> Callable[[str, str, str | None], PluginContext]:
        def settings(role: str, name: str) -> Mapping[str, Any]:
            return self.plugin_settings(role, name) if role in SELECTABLE else {}

        return context_factory(
            city_name=self.name,
            city_dir=self.dir,
            config_path=self.config_path,
            settings=settings,
            env=self.pm.env,
        )

    def _activate(
        self, roles: Iterable[str], provider: Callable[[str], str | None], observers: bool
    ) -> None:
        try:
            make_context = self.context_factory()
            for role in roles:
                self.pm.activate(role, self.pm.resolve(role, provider(role)), make_context)
            if observers:
                self.pm.load_always_on(make_context, ["observers"])
        except BaseException:
            self.pm.close()
            raise

    @property
    def hooks(self) -> Hooks:
        return self.pm.hooks

    @property
    def state_dir(self) -> Path:
        path = self.dir / ".gc"
        path.mkdir(mode=0o700, exist_ok=True)
        return path

    def selected(self, role: str) -> Selector | None:
        return self.pm.selected.get(role)

    def close(self) -> None:
        self.pm.close()

    def __enter__(self) -> _OpenCity:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class City(_OpenCity):
    """A city with its fully validated config.

    Open only the roles a command needs (``gc mail send`` never imports the
    Kubernetes client): ``City.open(path, roles=("mail",))``.
    """

    def __init__(self, loaded: LoadedConfig, pm: PluginManager) -> None:
        super().__init__(pm)
        self.loaded = loaded

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        roles: Iterable[str] = SELECTABLE,
        env: Mapping[str, str] | None = None,
        observers: bool = True,
        fallback: bool = False,
    ) -> City:
        """``fallback``: on a broken city.toml, run on the controller's last good
        config with one warning (:mod:`gascity.config.lastgood`) instead of failing."""
        from .config.load import load_city

        try:
            loaded = load_city(path)
        except ConfigError as exc:
            if not fallback:
                raise
            from .config.lastgood import last_good_loaded

            loaded = last_good_loaded(path, exc)
        pm = PluginManager(env=dict(os.environ) if env is None else env,
                           disabled=loaded.config.plugins.disabled)
        city = cls(loaded, pm)
        city._activate(roles, lambda role: loaded.config.section(role).provider, observers)
        return city

    @property
    def name(self) -> str:
        return self.loaded.city_name

    @property
    def config_path(self) -> Path:
        return self.loaded.path

    def plugin_settings(self, role: str, name: str) -> Mapping[str, Any]:
        return self.loaded.config.section(role).plugin_settings(name)

    def __enter__(self) -> City:
        return self


class LightCity(_OpenCity):
    """A city opened from :class:`~gascity.config.light.CityFile`: no pydantic."""

    def __init__(self, file: CityFile, pm: PluginManager) -> None:
        super().__init__(pm)
        self.file = file

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        roles: Iterable[str],
        env: Mapping[str, str] | None = None,
        observers: bool = False,
        fallback: bool = False,
    ) -> LightCity:
        try:
            file = read_city_file(path)
        except ConfigError as exc:
            if not fallback:
                raise
            from .config.lastgood import last_good_file

            file = last_good_file(path, exc)
        pm = PluginManager(env=dict(os.environ) if env is None else env, disabled=file.disabled)
        city = cls(file, pm)
        city._activate(roles, file.provider, observers)
        return city

    @property
    def name(self) -> str:
        return self.file.city_name

    @property
    def config_path(self) -> Path:
        return self.file.path

    def plugin_settings(self, role: str, name: str) -> Mapping[str, Any]:
        return self.file.plugin_settings(role, name)

    def __enter__(self) -> LightCity:
        return self
