"""A city opened for work: its validated config plus the plugins it selects."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .config import LoadedConfig, load_city
from .plugins import Hooks, PluginManager
from .plugins.manager import SELECTABLE, Selector, context_factory

__all__ = ["City"]


class City:
    """Owns one :class:`PluginManager` and the plugins selected for one city.

    Open only the roles a command needs (``gc mail send`` never imports the
    Kubernetes client): ``City.open(path, roles=("mail",))``.
    """

    def __init__(self, loaded: LoadedConfig, pm: PluginManager) -> None:
        self.loaded = loaded
        self.pm = pm

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        roles: Iterable[str] = SELECTABLE,
        env: Mapping[str, str] | None = None,
        observers: bool = True,
    ) -> City:
        loaded = load_city(path)
        env = dict(os.environ) if env is None else env
        pm = PluginManager(env=env, disabled=loaded.config.plugins.disabled)
        city = cls(loaded, pm)
        try:
            make_context = city.context_factory()
            for role in roles:
                selector = pm.resolve(role, loaded.config.section(role).provider)
                pm.activate(role, selector, make_context)
            if observers:
                pm.load_always_on(make_context, ["observers"])
        except BaseException:
            pm.close()
            raise
        return city

    def context_factory(self) -> Any:
        config = self.loaded.config

        def settings(role: str, name: str) -> Mapping[str, Any]:
            return config.section(role).plugin_settings(name) if role in SELECTABLE else {}

        return context_factory(
            city_name=self.name,
            city_dir=self.dir,
            config_path=self.loaded.path,
            settings=settings,
            env=self.pm.env,
        )

    @property
    def hooks(self) -> Hooks:
        return self.pm.hooks

    @property
    def name(self) -> str:
        return self.loaded.city_name

    @property
    def dir(self) -> Path:
        return self.loaded.city_dir

    @property
    def state_dir(self) -> Path:
        path = self.dir / ".gc"
        path.mkdir(exist_ok=True)
        return path

    def selected(self, role: str) -> Selector | None:
        return self.pm.selected.get(role)

    def close(self) -> None:
        self.pm.close()

    def __enter__(self) -> City:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
