"""Small helpers shared by the kits and the project's tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from ..city import City
from ..config import load_city
from ..plugins import Hooks, PluginManager

__all__ = ["free_port", "hooks_for", "open_test_city", "wait_for"]

T = TypeVar("T")


def hooks_for(*plugins: object, role: str = "session") -> Hooks:
    """A facade over a fresh plugin manager with exactly these plugins registered.

    No entry points are consulted, so a test sees only what it registered.
    """
    pm = PluginManager(env={}, source=lambda group: [])
    for plugin in plugins:
        pm.register(role, plugin)
    return pm.hooks


def wait_for(
    probe: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` otherwise.

    Tests of real systems (tmux, a pod) wait for a condition instead of sleeping a
    fixed time, which is both faster and less flaky.
    """
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or probe}")
        time.sleep(interval)


def open_test_city(
    city_dir: Path,
    *,
    session: object | None = None,
    events: object | None = None,
    mail: object | None = None,
    observers: Sequence[object] = (),
) -> City:
    """A :class:`City` over ``city_dir/city.toml`` with these plugin objects registered
    directly (no entry points), for controller tests and benchmarks."""
    loaded = load_city(city_dir)
    pm = PluginManager(env={}, source=lambda group: [])
    for role, plugin in (("session", session), ("events", events), ("mail", mail)):
        if plugin is not None:
            pm.register(role, plugin)
    for plugin in observers:
        pm.register("observers", plugin)
    return City(loaded, pm)


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``root`` (a test city, its packs), making
    directories as needed; returns ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def free_port() -> int:
    """A loopback TCP port nobody listens on right now, for servers tests start."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
