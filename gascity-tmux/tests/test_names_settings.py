"""Name mapping, settings validation and plugin discovery."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest

from gascity.errors import ConfigError, PluginError
from gascity.plugins import PluginContext
from gascity.tmuxconv import (
    city_socket,
    decode_key,
    decode_name,
    decode_value,
    encode_key,
    encode_name,
    encode_value,
    escape_arg,
)
from gascity_tmux import TmuxProvider

KEYS = ["gc.fingerprint", "gc.drain_ack", "a_2e", "_", "ünï code/ key", "x-y.z"]
VALUES = ["", "%", "%41", "plain", "tab\tnl\n", "ünï", "a;", "#{session_name}", " lead"]


@pytest.mark.parametrize("key", KEYS)
def test_keys_map_reversibly_to_option_safe_names(key: str) -> None:
    encoded = encode_key(key)
    assert encoded.replace("_", "").isalnum()
    assert encoded.isascii()
    assert decode_key(encoded) == key


def test_distinct_keys_never_collide() -> None:
    assert len({encode_key(k) for k in KEYS}) == len(KEYS)
    assert encode_key("gc.fingerprint") == "gc_2efingerprint"


@pytest.mark.parametrize("value", VALUES)
def test_values_round_trip_and_stay_on_one_line(value: str) -> None:
    encoded = encode_value(value)
    assert "\t" not in encoded and "\n" not in encoded and encoded.isascii()
    assert encoded != ""  # an empty value must not read as unset
    assert decode_value(encoded) == value


def test_trailing_semicolon_is_escaped_for_tmux() -> None:
    assert escape_arg("a;") == "a\\;"
    assert escape_arg("a\\;") == "a\\\\;"
    assert escape_arg("a;b") == "a;b"


def test_socket_names(tmp_path: Path) -> None:
    mine = city_socket("mycity", tmp_path)
    assert mine.startswith("gc-mycity-") and len(mine) == len("gc-mycity-") + 8
    odd = city_socket("my city", tmp_path)
    assert odd.startswith("gc-my_city-") and odd != city_socket("my_city", tmp_path)
    assert len(city_socket("x" * 300, tmp_path)) <= 64
    # City identity: the same name elsewhere is another server; the same directory
    # reached through a symlink is the same one.
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "a")
    assert city_socket("twin", tmp_path / "a") != city_socket("twin", tmp_path / "b")
    assert city_socket("twin", tmp_path / "link") == city_socket("twin", tmp_path / "a")


@pytest.mark.parametrize("name", ["plain-1_x", "a.b:c", "#{session_name}", "$1", "@x", "ü/ö"])
def test_session_names_round_trip_through_tmux_spelling(name: str) -> None:
    encoded = encode_name(name)
    assert all(c.isalnum() or c in "_-%" for c in encoded) and encoded.isascii()
    assert decode_name(encoded) == name


def ctx(tmp_path: Path, settings: dict[str, object], env: dict[str, str]) -> PluginContext:
    return PluginContext(
        role="session", name="tmux", settings=settings, city_name="Town", city_dir=tmp_path,
        config_path=tmp_path / "city.toml", env=env,
    )  # fmt: skip


def test_socket_defaults_to_the_city_and_env_overrides(tmp_path: Path) -> None:
    assert TmuxProvider(ctx(tmp_path, {}, {})).socket == city_socket("Town", tmp_path)
    assert TmuxProvider(ctx(tmp_path, {"socket": "a"}, {})).socket == "a"
    env = {"GC_TMUX_SOCKET": "from-env", "GC_TMUX_STOP_GRACE": "250ms"}
    provider = TmuxProvider(ctx(tmp_path, {"socket": "a"}, env))
    assert provider.socket == "from-env"
    assert provider.settings.stop_grace == 0.25


@pytest.mark.parametrize(
    ("settings", "env", "where"),
    [
        ({"socket": "bad/name"}, {}, "session.tmux.socket"),
        ({"sockett": "x"}, {}, "session.tmux.sockett"),
        ({}, {"GC_TMUX_STOP_GRACE": "soon"}, "GC_TMUX_STOP_GRACE"),
    ],
)
def test_bad_settings_name_the_key(
    tmp_path: Path, settings: dict[str, object], env: dict[str, str], where: str
) -> None:
    with pytest.raises(ConfigError) as info:
        TmuxProvider(ctx(tmp_path, settings, env))
    assert where in str(info.value)
    assert "city.toml" in str(info.value)


def test_missing_tmux_binary_is_a_plugin_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    with pytest.raises(PluginError, match="tmux was not found"):
        TmuxProvider(ctx(tmp_path, {}, {"PATH": str(empty)}))


def test_entry_point_names_the_provider() -> None:
    (ep,) = [e for e in entry_points(group="gascity.session") if e.name == "tmux"]
    assert ep.load() is TmuxProvider


def test_reference_session_socket_overrides_the_default(tmp_path: Path) -> None:
    (tmp_path / "city.toml").write_text(
        '[workspace]\nname = "Town"\n\n[session]\nsocket = "shared"\n'
    )
    assert TmuxProvider(ctx(tmp_path, {}, {})).socket == "shared"
    assert TmuxProvider(ctx(tmp_path, {"socket": "mine"}, {})).socket == "mine"
