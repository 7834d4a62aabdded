"""Plugin settings as dataclasses: validated without pydantic, worded like the core."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gascity.builtin.file_events import FileEventsSettings
from gascity.errors import ConfigError
from gascity.plugins import PluginContext, load_settings
from gascity.plugins.settings import Seconds


@dataclass(frozen=True)
class Knobs:
    namespace: str = "default"
    replicas: int = field(default=1, metadata={"ge": 1})
    prebaked: bool = False
    poll: Seconds = field(default=5.0, metadata={"gt": 0})
    socket: str | None = field(default=None, metadata={"pattern": r"[a-z]+", "max_length": 8})
    tags: list[str] = field(default_factory=list)


def _ctx(tmp_path: Path, settings: dict[str, object], env: dict[str, str]) -> PluginContext:
    return PluginContext(role="session", name="k8s", settings=settings, city_dir=tmp_path,
                         config_path=tmp_path / "city.toml", env=env)


def test_values_and_environment_overrides(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, {"namespace": "agents", "replicas": 2, "tags": ["a"]},
               {"GC_K8S_NAMESPACE": "prod", "GC_K8S_PREBAKED": "true", "GC_K8S_POLL": "1m",
                "GC_K8S_TAGS": "x, y", "GC_K8S_SOCKET": ""})
    assert load_settings(ctx, Knobs, env_prefix="GC_K8S_") == Knobs(
        namespace="prod", replicas=2, prebaked=True, poll=60.0, tags=["x", "y"])
    assert load_settings(ctx, Knobs).namespace == "agents"


def test_every_problem_is_named_with_key_and_toml_type(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, {"namespce": "a", "poll": "often", "replicas": 0, "prebaked": 1,
                          "socket": "UPPER"}, {"GC_K8S_TAGS": "ok"})
    with pytest.raises(ConfigError) as info:
        load_settings(ctx, Knobs, env_prefix="GC_K8S_")
    assert info.value.path == str(tmp_path / "city.toml")
    assert info.value.problems == [
        "session.k8s.namespce: unknown key in [session.k8s]; expected one of: namespace, "
        "poll, prebaked, replicas, socket, tags (did you mean 'namespace'?)",
        "session.k8s.poll: expected a duration such as 500ms, 30s, 5m, 1h30m "
        "(or a number of seconds), got 'often' (a string)",
        "session.k8s.replicas: expected a number >= 1, got 0",
        "session.k8s.prebaked: expected true or false, got 1 (an integer)",
        "session.k8s.socket: expected text matching [a-z]+, got 'UPPER' (a string)",
    ]


def test_an_environment_value_is_named_as_such(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, {"replicas": 2}, {"GC_K8S_REPLICAS": "lots"})
    with pytest.raises(ConfigError) as info:
        load_settings(ctx, Knobs, env_prefix="GC_K8S_")
    assert info.value.problems == [
        "session.k8s.replicas (from environment GC_K8S_REPLICAS): expected an integer, "
        "got 'lots' (a string)"
    ]


def test_file_events_accepts_a_poll_interval(tmp_path: Path) -> None:
    ctx = PluginContext(role="events", name="file", settings={"poll_interval": "50ms"},
                        city_dir=tmp_path, env={})
    assert load_settings(ctx, FileEventsSettings).poll_interval == pytest.approx(0.05)
    bad = PluginContext(role="events", name="file", settings={"poll_interval": 0},
                        city_dir=tmp_path, env={})
    with pytest.raises(ConfigError, match=r"events.file.poll_interval: expected a duration > "):
        load_settings(bad, FileEventsSettings)
