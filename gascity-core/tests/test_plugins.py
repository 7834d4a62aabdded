"""Plugin discovery, selection and the errors a user sees.

Every plugin here is real: a module written to a throwaway site directory, plus a real
``.dist-info`` with ``METADATA`` and ``entry_points.txt``, read back through
``importlib.metadata`` exactly as an installed distribution is. The manager is pointed
at that site alone (``source=``) so the machine's installed plugins do not interfere.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Iterator
from importlib.metadata import EntryPoint, distributions
from pathlib import Path
from typing import Any, cast

import pytest

import gascity
from gascity.city import City
from gascity.config import parse_city
from gascity.errors import ConfigError, PluginError, Unsupported
from gascity.plugins import (
    PluginContext,
    PluginManager,
    PluginStatus,
    Selector,
    parse_selector,
)
from gascity.plugins.manager import TEST_PROVIDERS_ENV, context_factory
from gascity.types import EventDraft, StartConfig

ROLE_ENV = {"session": "GC_SESSION", "events": "GC_EVENTS", "mail": "GC_MAIL"}
ROLE_DEFAULT = {"session": "tmux", "events": "file", "mail": "sqlite"}
ROLE_GROUP = {
    "session": "gascity.session",
    "events": "gascity.events",
    "mail": "gascity.mail",
    "observers": "gascity.observers",
    "cli": "gascity.cli",
}

# A plugin that answers one select-one hook with its own name, so a test can tell
# which plugin pluggy actually called, and keeps the context it was built with.
PLUGIN_SOURCE = """
from gascity import hookimpl

class Plugin:
    def __init__(self, ctx):
        self.ctx = ctx

    @hookimpl
    def peek(self, name, lines):
        return "{label}"

    @hookimpl
    def latest_event_seq(self):
        return {seq}

    @hookimpl
    def mail_count(self, recipient):
        return "{label}"
"""

OBSERVER_SOURCE = """
from gascity import hookimpl

SEEN = []

class Observer:
    def __init__(self, ctx):
        self.ctx = ctx

    @hookimpl
    def emit_event(self, event):
        SEEN.append(event.type)
        return None
"""


class Site:
    """A directory on ``sys.path`` holding real modules and real distribution metadata."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tag = "gcpt_" + uuid.uuid4().hex[:8]
        self.modules: list[str] = []

    def module(self, name: str, source: str) -> str:
        """Write ``<tag>_<name>.py``; return its import name (unique per test)."""
        mod = f"{self.tag}_{name}"
        (self.root / f"{mod}.py").write_text(source, encoding="utf-8")
        self.modules.append(mod)
        return mod

    def plugin(self, name: str, label: str | None = None, seq: int = 0) -> str:
        return self.module(name, PLUGIN_SOURCE.format(label=label or name, seq=seq))

    def dist(
        self, name: str, entry_points: dict[str, dict[str, str]], version: str = "0.1.0"
    ) -> None:
        """Install the metadata of a distribution: ``{role: {ep_name: "mod:attr"}}``."""
        info = self.root / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
        )
        lines: list[str] = []
        for role, eps in entry_points.items():
            lines.append(f"[{ROLE_GROUP[role]}]")
            lines.extend(f"{ep} = {value}" for ep, value in eps.items())
            lines.append("")
        (info / "entry_points.txt").write_text("\n".join(lines), encoding="utf-8")

    def source(self, group: str) -> list[EntryPoint]:
        return [
            ep
            for dist in distributions(path=[str(self.root)])
            for ep in dist.entry_points
            if ep.group == group
        ]

    def manager(self, env: dict[str, str] | None = None, **kw: Any) -> PluginManager:
        return PluginManager(env={} if env is None else env, source=self.source, **kw)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    s = Site(root)
    yield s
    for mod in s.modules:
        sys.modules.pop(mod, None)


def make_ctx(tmp_path: Path) -> Any:
    return context_factory(
        city_name="test",
        city_dir=tmp_path,
        config_path=tmp_path / "city.toml",
        settings=lambda role, name: {},
        env={},
    )


def three_session_plugins(site: Site) -> None:
    site.dist(
        "acme-sessions",
        {
            "session": {
                "alpha": f"{site.plugin('alpha')}:Plugin",
                "beta": f"{site.plugin('beta')}:Plugin",
                "gamma": f"{site.plugin('gamma')}:Plugin",
            }
        },
    )


# ------------------------------------------------------------------ discovery


def test_discovery_reads_metadata_without_importing(site: Site, tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    mod = site.module("loud", f"open({str(marker)!r}, 'w').close()\nclass Plugin: pass\n")
    site.dist("loud-dist", {"session": {"loud": f"{mod}:Plugin"}}, version="2.3.4")
    pm = site.manager()
    [rec] = pm.records_for("session")
    assert (rec.name, rec.distribution, rec.version, rec.value) == (
        "loud",
        "loud-dist",
        "2.3.4",
        f"{mod}:Plugin",
    )
    assert rec.status is PluginStatus.AVAILABLE
    assert not marker.exists()
    assert mod not in sys.modules


# ------------------------------------------------------------------ selection


@pytest.mark.parametrize("role", ["session", "events", "mail"])
def test_environment_beats_city_toml_beats_default(site: Site, tmp_path: Path, role: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tmux = bin_dir / "tmux"
    tmux.write_text("#!/bin/sh\n", encoding="utf-8")
    tmux.chmod(0o755)
    site.dist(
        "acme",
        {role: {n: f"{site.plugin(n)}:Plugin" for n in ("from-env", "from-file", "tmux")}},
    )
    config = parse_city(f'[{role}]\nprovider = "from-file"\n')
    configured = config.section(role).provider
    var = ROLE_ENV[role]
    path = {"PATH": str(bin_dir)}

    both = site.manager({var: "from-env", **path}).resolve(role, configured)
    assert both == Selector("from-env", None, f"environment {var}")

    file_only = site.manager(path).resolve(role, configured)
    assert file_only == Selector("from-file", None, f"city.toml [{role}] provider")

    neither = site.manager(path).resolve(role, parse_city("").section(role).provider)
    assert neither == Selector(ROLE_DEFAULT[role], None, "default")

    # An empty variable is "not set", not an empty selector.
    assert site.manager({var: "", **path}).resolve(role, configured).name == "from-file"


def test_selected_plugin_is_the_one_that_answers(site: Site, tmp_path: Path) -> None:
    three_session_plugins(site)
    pm = site.manager({"GC_SESSION": "beta"})
    selector = pm.resolve("session", "alpha")
    pm.activate("session", selector, make_ctx(tmp_path))
    assert pm.hooks.peek("any", 5) == "beta"
    assert pm.selected["session"].name == "beta"
    statuses = {r.name: r.status for r in pm.records_for("session")}
    assert statuses == {
        "alpha": PluginStatus.AVAILABLE,
        "beta": PluginStatus.LOADED,
        "gamma": PluginStatus.AVAILABLE,
    }


def test_one_plugin_per_role_and_roles_are_independent(site: Site, tmp_path: Path) -> None:
    """Each test plugin implements a hook of every role; only its own role's count."""
    site.dist(
        "acme",
        {
            "session": {"alpha": f"{site.plugin('s_alpha', 'session-alpha')}:Plugin"},
            "events": {"ev": f"{site.plugin('e_ev', 'x', seq=41)}:Plugin"},
            "mail": {"box": f"{site.plugin('m_box', 'mailbox')}:Plugin"},
        },
    )
    pm = site.manager({"GC_SESSION": "alpha", "GC_EVENTS": "ev", "GC_MAIL": "box"})
    make = make_ctx(tmp_path)
    for role in ("session", "events", "mail"):
        pm.activate(role, pm.resolve(role), make)
    assert pm.hooks.peek("x", 1) == "session-alpha"
    assert pm.hooks.latest_event_seq() == 41
    # The test plugins answer with their label rather than a real MailCount.
    assert cast("object", pm.hooks.mail_count("mayor")) == "mailbox"
    with pytest.raises(PluginError, match="already active"):
        pm.activate("session", pm.resolve("session"), make)


def test_only_the_selected_plugin_module_is_imported(site: Site, tmp_path: Path) -> None:
    marker = tmp_path / "boom-imported"
    boom = site.module(
        "boom",
        f"open({str(marker)!r}, 'w').close()\nraise RuntimeError('must never be imported')\n",
    )
    site.dist(
        "mixed",
        {
            "session": {"good": f"{site.plugin('good')}:Plugin", "boom": f"{boom}:Plugin"},
            "events": {"boom": f"{boom}:Plugin"},
        },
    )
    pm = site.manager({"GC_SESSION": "good"})
    pm.activate("session", pm.resolve("session"), make_ctx(tmp_path))
    assert pm.hooks.peek("s", 1) == "good"
    assert boom not in sys.modules
    assert not marker.exists()
    assert {r.key: r.status for r in pm.records if "boom" in r.key} == {
        "events:boom": PluginStatus.AVAILABLE,
        "session:boom": PluginStatus.AVAILABLE,
    }


def _path_with(tmp_path: Path, tmux: bool) -> str:
    bin_dir = tmp_path / ("with-tmux" if tmux else "without-tmux")
    bin_dir.mkdir()
    if tmux:
        exe = bin_dir / "tmux"
        exe.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
        exe.chmod(0o755)
    return str(bin_dir)


def test_default_session_provider_is_tmux_when_tmux_is_on_path(site: Site, tmp_path: Path) -> None:
    site.dist("gascity-tmux", {"session": {"tmux": f"{site.plugin('tmux')}:Plugin"}})
    site.dist("gascity-core", {"session": {"subprocess": f"{site.plugin('sub')}:Plugin"}})
    with_tmux = site.manager({"PATH": _path_with(tmp_path, tmux=True)})
    assert with_tmux.resolve("session") == Selector("tmux", None, "default")
    without = site.manager({"PATH": _path_with(tmp_path, tmux=False)})
    assert without.resolve("session") == Selector("subprocess", None, "default")
    without.activate("session", without.resolve("session"), make_ctx(tmp_path))
    assert without.hooks.peek("s", 1) == "sub"


def test_default_is_subprocess_when_the_tmux_plugin_is_not_installed(
    site: Site, tmp_path: Path
) -> None:
    site.dist("gascity-core", {"session": {"subprocess": f"{site.plugin('sub')}:Plugin"}})
    pm = site.manager({"PATH": _path_with(tmp_path, tmux=True)})
    assert pm.resolve("session").name == "subprocess"


def test_explicit_tmux_is_honoured_even_without_the_binary(site: Site, tmp_path: Path) -> None:
    site.dist("gascity-tmux", {"session": {"tmux": f"{site.plugin('tmux')}:Plugin"}})
    pm = site.manager({"PATH": _path_with(tmp_path, tmux=False), "GC_SESSION": "tmux"})
    assert pm.resolve("session") == Selector("tmux", None, "environment GC_SESSION")


WATCHER_SOURCE = """
from gascity import hookimpl

CALLS = []

class Watcher:
    def __init__(self, ctx):
        pass

    @hookimpl
    def peek(self, name, lines):
        return "hijacked"

    @hookimpl(wrapper=True)
    def list_running(self, prefix):
        CALLS.append(prefix)
        return (yield)
"""


def test_observer_may_wrap_any_hook_but_never_answer_one(site: Site, tmp_path: Path) -> None:
    watcher = site.module("watcher", WATCHER_SOURCE)
    provider = site.module(
        "prov",
        "from gascity import hookimpl\n"
        "class Plugin:\n"
        "    def __init__(self, ctx): pass\n"
        "    @hookimpl\n"
        "    def peek(self, name, lines): return 'provider'\n"
        "    @hookimpl\n"
        "    def list_running(self, prefix): return []\n",
    )
    site.dist("acme", {"session": {"prov": f"{provider}:Plugin"}})
    site.dist("watch", {"observers": {"watch": f"{watcher}:Watcher"}})
    pm = site.manager({"GC_SESSION": "prov"})
    make = make_ctx(tmp_path)
    pm.activate("session", pm.resolve("session"), make)
    pm.load_always_on(make, ["observers"])
    assert pm.hooks.peek("s", 1) == "provider"
    assert pm.hooks.list_running("kit-") == []
    assert sys.modules[watcher].CALLS == ["kit-"]


# ------------------------------------------------------------------ selectors


@pytest.mark.parametrize(
    ("text", "name", "argument"),
    [
        ("exec", "exec", None),
        ("exec:/path/to/script", "exec", "/path/to/script"),
        ("exec:/opt/gc-session-k8s:with:colons", "exec", "/opt/gc-session-k8s:with:colons"),
        ("  k8s  ", "k8s", None),
        ("my_plugin.v2", "my_plugin.v2", None),
    ],
)
def test_parse_selector(text: str, name: str, argument: str | None) -> None:
    selector = parse_selector(text, "test")
    assert (selector.name, selector.argument, selector.source) == (name, argument, "test")
    assert str(selector) == text.strip()


def test_exec_argument_reaches_the_plugin_context(site: Site, tmp_path: Path) -> None:
    site.dist("gascity-exec", {"session": {"exec": f"{site.plugin('exec')}:Plugin"}})
    script = tmp_path / "my script.sh"
    pm = site.manager({"GC_SESSION": f"exec:{script}"})
    plugin: Any = pm.activate("session", pm.resolve("session"), make_ctx(tmp_path))
    ctx: PluginContext = plugin.ctx
    assert (ctx.role, ctx.name, ctx.argument) == ("session", "exec", str(script))
    assert str(pm.selected["session"]) == f"exec:{script}"

    from_file = site.manager({})
    configured = parse_city('[session]\nprovider = "exec:/usr/local/bin/gc-session"\n')
    selector = from_file.resolve("session", configured.session.provider)
    plugin = from_file.activate("session", selector, make_ctx(tmp_path))
    assert plugin.ctx.argument == "/usr/local/bin/gc-session"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("exec:", "has an empty argument after ':'"),
        ("", "invalid plugin selector"),
        (":script", "invalid plugin selector"),
        ("bad name", "invalid plugin selector"),
        ("-dash", "invalid plugin selector"),
    ],
)
def test_bad_selectors_are_rejected(text: str, fragment: str) -> None:
    with pytest.raises(PluginError) as info:
        parse_selector(text, "environment GC_SESSION")
    message = str(info.value)
    assert message.startswith("environment GC_SESSION: ")
    assert fragment in message


def test_empty_argument_from_the_environment_is_rejected(site: Site) -> None:
    three_session_plugins(site)
    with pytest.raises(PluginError, match=r"^environment GC_SESSION: selector 'exec:' has"):
        site.manager({"GC_SESSION": "exec:"}).resolve("session")


# --------------------------------------------------------------------- errors


def test_unknown_name_lists_the_installed_choices(site: Site, tmp_path: Path) -> None:
    three_session_plugins(site)
    pm = site.manager({"GC_SESSION": "x"})
    with pytest.raises(PluginError) as info:
        pm.activate("session", pm.resolve("session"), make_ctx(tmp_path))
    assert str(info.value) == (
        "unknown session provider 'x' (environment GC_SESSION); installed: alpha, beta, gamma"
    )


@pytest.mark.parametrize(
    "case",
    [
        ("session", "k8s", "gascity-k8s", "pip install 'gascity[k8s]'"),
        ("events", "dolt", "gascity-dolt-events", "pip install 'gascity[dolt]'"),
        ("mail", "postgres", "gascity-pgmail", "pip install 'gascity[pgmail]'"),
        ("session", "exec", "gascity-exec", "pip install gascity"),
    ],
)
def test_unknown_first_party_name_says_how_to_install_it(
    site: Site, tmp_path: Path, case: tuple[str, str, str, str]
) -> None:
    role, name, dist, hint = case
    site.dist("acme", {role: {"only": f"{site.plugin('only')}:Plugin"}})
    pm = site.manager()
    selector = pm.resolve(role, name)
    with pytest.raises(PluginError) as info:
        pm.activate(role, selector, make_ctx(tmp_path))
    first, second = str(info.value).splitlines()
    assert first.startswith(f"unknown {'session provider' if role == 'session' else role}")
    assert f"'{name}' (city.toml [{role}] provider); installed: only" in first
    assert second == f"  '{name}' is provided by {dist}: {hint}"


def test_unknown_name_with_nothing_installed(site: Site, tmp_path: Path) -> None:
    pm = site.manager({"GC_MAIL": "nope"})
    with pytest.raises(PluginError, match=r"unknown mail backend 'nope' .*; installed: none$"):
        pm.activate("mail", pm.resolve("mail"), make_ctx(tmp_path))


def test_selected_plugin_whose_import_fails(site: Site, tmp_path: Path) -> None:
    missing = f"kubernetes_{uuid.uuid4().hex[:6]}"
    mod = site.module("k8s", f"import {missing}\nclass Plugin: pass\n")
    site.dist("gascity-k8s", {"session": {"k8s": f"{mod}:Plugin"}})
    pm = site.manager({"GC_SESSION": "k8s"})
    with pytest.raises(PluginError) as info:
        pm.activate("session", pm.resolve("session"), make_ctx(tmp_path))
    message = str(info.value)
    assert message == (
        "session provider 'k8s' from gascity-k8s 0.1.0 failed to import: "
        f"ModuleNotFoundError: No module named '{missing}'\n"
        "  hint: pip install 'gascity[k8s]'"
    )
    [rec] = pm.records_for("session")
    assert rec.status is PluginStatus.ERROR
    assert rec.error == f"ModuleNotFoundError: No module named '{missing}'"


def test_heavy_import_failing_in_the_constructor_gets_the_install_hint(
    site: Site, tmp_path: Path
) -> None:
    missing = f"psycopg_{uuid.uuid4().hex[:6]}"
    mod = site.module(
        "pg",
        f"class Plugin:\n    def __init__(self, ctx):\n        import {missing}\n",
    )
    site.dist("gascity-pgmail", {"mail": {"postgres": f"{mod}:Plugin"}})
    pm = site.manager({"GC_MAIL": "postgres"})
    with pytest.raises(PluginError) as info:
        pm.activate("mail", pm.resolve("mail"), make_ctx(tmp_path))
    assert f"No module named '{missing}'" in str(info.value)
    assert "gascity-pgmail" in str(info.value)
    assert str(info.value).endswith("hint: pip install 'gascity[pgmail]'")


def test_third_party_import_failure_names_its_own_distribution(site: Site, tmp_path: Path) -> None:
    mod = site.module("broken", "def oops(:\n")
    site.dist("acme-sessions", {"session": {"acme": f"{mod}:Plugin"}}, version="1.2.0")
    pm = site.manager({"GC_SESSION": "acme"})
    with pytest.raises(PluginError) as info:
        pm.activate("session", pm.resolve("session"), make_ctx(tmp_path))
    head, hint = str(info.value).splitlines()
    assert head.startswith(
        "session provider 'acme' from acme-sessions 1.2.0 failed to import: SyntaxError:"
    )
    assert hint == "  hint: pip install 'acme-sessions'"


def test_constructor_failure_is_not_blamed_on_installation(site: Site, tmp_path: Path) -> None:
    mod = site.module(
        "angry",
        "class Plugin:\n    def __init__(self, ctx):\n"
        "        raise RuntimeError('cannot reach the\\nserver')\n",
    )
    site.dist("acme", {"session": {"angry": f"{mod}:Plugin"}})
    pm = site.manager({"GC_SESSION": "angry"})
    with pytest.raises(PluginError) as info:
        pm.activate("session", pm.resolve("session"), make_ctx(tmp_path))
    assert str(info.value) == (
        "session provider 'angry' from acme 0.1.0 failed to start: "
        "RuntimeError: cannot reach the server"
    )


def test_plugin_settings_errors_reach_the_user_as_config_errors(site: Site, tmp_path: Path) -> None:
    mod = site.module(
        "strict",
        "import pydantic\n"
        "from gascity.plugins import load_settings\n"
        "class S(pydantic.BaseModel):\n"
        "    model_config = pydantic.ConfigDict(extra='forbid')\n"
        "    replicas: int = 1\n"
        "class Plugin:\n"
        "    def __init__(self, ctx):\n"
        "        self.settings = load_settings(ctx, S, env_prefix='GC_STRICT_')\n",
    )
    site.dist("acme", {"session": {"strict": f"{mod}:Plugin"}})
    config = parse_city('[session]\nprovider = "strict"\n[session.strict]\nreplicas = "many"\n')
    pm = site.manager()
    make = context_factory(
        city_name="c",
        city_dir=tmp_path,
        config_path=tmp_path / "city.toml",
        settings=lambda role, name: config.section(role).plugin_settings(name),
        env={},
    )
    with pytest.raises(ConfigError) as info:
        pm.activate("session", pm.resolve("session", config.session.provider), make)
    assert info.value.path == str(tmp_path / "city.toml")
    assert info.value.problems == [
        "session.strict.replicas: expected an integer, got 'many' (a string)"
    ]
    assert pm.records_for("session")[0].status is PluginStatus.ERROR


def test_blocked_plugin_cannot_be_selected(site: Site, tmp_path: Path) -> None:
    three_session_plugins(site)
    for env, disabled in (
        ({"GC_DISABLE_PLUGINS": "session:beta"}, ()),
        ({"GC_DISABLE_PLUGINS": " other , beta "}, ()),
        ({}, parse_city('[plugins]\ndisabled = ["beta"]\n').plugins.disabled),
        ({}, ["acme-sessions"]),
    ):
        pm = site.manager({**env, "GC_SESSION": "beta"}, disabled=disabled)
        statuses = {r.name: r.status for r in pm.records_for("session")}
        assert statuses["beta"] is PluginStatus.BLOCKED
        with pytest.raises(PluginError) as info:
            pm.activate("session", pm.resolve("session"), make_ctx(tmp_path))
        assert str(info.value) == (
            "session provider 'beta' (acme-sessions) is disabled "
            "(GC_DISABLE_PLUGINS or [plugins] disabled); enable it or select another"
        )


def test_blocked_plugin_is_never_imported(site: Site, tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    mod = site.module("spy", f"open({str(marker)!r}, 'w').close()\nclass Plugin: pass\n")
    site.dist("spyware", {"observers": {"spy": f"{mod}:Plugin"}})
    pm = site.manager({"GC_DISABLE_PLUGINS": "observers:spy"})
    pm.load_always_on(make_ctx(tmp_path), ["observers"])
    pm.check_all()
    assert not marker.exists()
    assert pm.records_for("observers")[0].status is PluginStatus.BLOCKED


def test_broken_unselected_plugin_is_one_warning_line(
    site: Site, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = site.module("bad", "raise ImportError('libfoo.so: cannot open\\nshared object file')\n")
    site.dist(
        "acme",
        {"session": {"good": f"{site.plugin('good')}:Plugin", "bad": f"{bad}:Plugin"}},
    )
    pm = site.manager({"GC_SESSION": "good"})
    pm.activate("session", pm.resolve("session"), make_ctx(tmp_path))
    with caplog.at_level(logging.WARNING, logger="gascity"):
        records = pm.check_all()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert "\n" not in text
    assert text == (
        "session plugin bad is broken: ImportError: libfoo.so: cannot open shared object file"
    )
    by_name = {r.name: r for r in records}
    assert by_name["bad"].status is PluginStatus.ERROR
    assert by_name["good"].status is PluginStatus.LOADED
    assert pm.hooks.peek("s", 1) == "good"
    # Checking again reports nothing new.
    caplog.clear()
    pm.check_all()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_broken_observer_costs_one_warning_and_the_others_still_listen(
    site: Site, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = site.module("obs_good", OBSERVER_SOURCE)
    bad = site.module("obs_bad", f"import missing_{uuid.uuid4().hex[:6]}\n")
    site.dist("metrics", {"observers": {"metrics": f"{good}:Observer"}})
    site.dist("tracing", {"observers": {"tracing": f"{bad}:Observer"}}, version="0.9")
    pm = site.manager()
    with caplog.at_level(logging.WARNING, logger="gascity"):
        pm.load_always_on(make_ctx(tmp_path), ["observers"])
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith("skipping broken observers plugin tracing (tracing): ")
    assert "ModuleNotFoundError" in warnings[0]
    pm.hooks.emit_event(EventDraft(type="session.started"))
    assert sys.modules[good].SEEN == ["session.started"]


def test_two_distributions_registering_one_name(site: Site, tmp_path: Path) -> None:
    site.dist("acme-one", {"session": {"twin": f"{site.plugin('one')}:Plugin"}})
    site.dist("acme-two", {"session": {"twin": f"{site.plugin('two')}:Plugin"}}, version="2.0")
    pm = site.manager({"GC_SESSION": "twin"})
    with pytest.raises(PluginError) as info:
        pm.activate("session", pm.resolve("session"), make_ctx(tmp_path))
    message = str(info.value)
    assert message.startswith(
        "session provider 'twin' is registered by several distributions: "
        "acme-one 0.1.0, acme-two 2.0; choose one of them"
    )
    assert "GC_DISABLE_PLUGINS=<distribution>" in message

    settled = site.manager({"GC_SESSION": "twin", "GC_DISABLE_PLUGINS": "acme-one"})
    settled.activate("session", settled.resolve("session"), make_ctx(tmp_path))
    assert settled.hooks.peek("s", 1) == "two"


def test_check_all_marks_importable_plugins_loaded(site: Site) -> None:
    three_session_plugins(site)
    records = site.manager().check_all()
    assert [(r.name, r.status) for r in records] == [
        ("alpha", PluginStatus.LOADED),
        ("beta", PluginStatus.LOADED),
        ("gamma", PluginStatus.LOADED),
    ]
    assert records[0].to_json() == {
        "role": "session",
        "name": "alpha",
        "distribution": "acme-sessions",
        "version": "0.1.0",
        "value": f"{site.tag}_alpha:Plugin",
        "status": "loaded",
        "error": "",
    }


# ----------------------------------------------------------- the real install


def test_city_open_selects_from_city_toml_then_environment(tmp_path: Path) -> None:
    """Through the really installed entry points: gascity-core's ``fake`` provider."""
    (tmp_path / "city.toml").write_text(
        '[workspace]\nname = "demo"\n[session]\nprovider = "fake"\n', encoding="utf-8"
    )
    env = {"PATH": os.environ.get("PATH", ""), TEST_PROVIDERS_ENV: "1"}
    with City.open(tmp_path, roles=("session",), env=env, observers=False) as city:
        assert city.selected("session") == Selector("fake", None, "city.toml [session] provider")
        assert city.hooks.list_running("") == []
    (tmp_path / "city.toml").write_text(
        '[session]\nprovider = "no-such-provider"\n', encoding="utf-8"
    )
    with City.open(
        tmp_path, roles=("session",), env={**env, "GC_SESSION": "fake"}, observers=False
    ) as city:
        assert city.selected("session") == Selector("fake", None, "environment GC_SESSION")
    with pytest.raises(PluginError, match="unknown session provider 'no-such-provider'"):
        City.open(tmp_path, roles=("session",), env=env, observers=False)


@pytest.mark.parametrize("switch", [None, "0", ""])
def test_a_user_install_refuses_the_test_double(tmp_path: Path, switch: str | None) -> None:
    """Without the test switch, ``fake`` is refused from city.toml and from the
    environment alike, with the providers a user may choose instead."""
    (tmp_path / "city.toml").write_text(
        '[workspace]\nname = "demo"\n[session]\nprovider = "fake"\n', encoding="utf-8"
    )
    env = {"PATH": os.environ.get("PATH", "")}
    if switch is not None:
        env[TEST_PROVIDERS_ENV] = switch
    with pytest.raises(PluginError) as from_file:
        City.open(tmp_path, roles=("session",), env=env, observers=False)
    message = str(from_file.value)
    assert message.startswith("session provider 'fake' (city.toml [session] provider) is a "
                              "test double")
    choices = message.partition("choose one of: ")[2].partition(" (")[0].split(", ")
    assert "subprocess" in choices and "fake" not in choices
    assert f"{TEST_PROVIDERS_ENV}=1" in message
    (tmp_path / "city.toml").write_text('[workspace]\nname = "demo"\n', encoding="utf-8")
    with pytest.raises(PluginError, match=r"^session provider 'fake' \(environment GC_SESSION\)"):
        City.open(tmp_path, roles=("session",), env={**env, "GC_SESSION": "fake"},
                  observers=False)
    pm = PluginManager(env=env)
    assert "fake" not in pm.installed_names("session")
    assert "fake" in PluginManager(env={**env, TEST_PROVIDERS_ENV: "1"}).installed_names(
        "session")


# ---------------------------------------------------------------- hook contract

MISSPELLED_SOURCE = """
from gascity import hookimpl

class Plugin:
    def __init__(self, ctx):
        pass

    @hookimpl
    def list_running(self, prefix):
        return []

    @hookimpl
    def strat(self, name, config):
        return True
"""

NONE_SOURCE = """
from gascity import hookimpl

STARTED = []

class Plugin:
    def __init__(self, ctx):
        pass

    @hookimpl
    def start(self, name, config):
        STARTED.append(name)  # forgets to return True

    @hookimpl
    def peek(self, name, lines):
        return None  # a value is owed
"""


def test_a_misspelled_hookimpl_fails_loudly_naming_plugin_and_hook(
    site: Site, tmp_path: Path
) -> None:
    mod = site.module("typo", MISSPELLED_SOURCE)
    site.dist("acme-typo", {"session": {"typo": f"{mod}:Plugin"}})
    pm = site.manager({"GC_SESSION": "typo"})
    with pytest.raises(PluginError) as info:
        pm.activate("session", pm.resolve("session"), make_ctx(tmp_path))
    message = str(info.value)
    assert "session provider 'typo' from acme-typo 0.1.0" in message
    assert "unknown hook 'strat' (did you mean 'start'?)" in message
    assert "session" not in pm.selected
    assert pm.pm.get_plugins() == set()


def test_a_misspelled_hookimpl_in_a_registered_object_fails_too() -> None:
    class Typo:
        @gascity.hookimpl
        def prek(self, name: str, lines: int) -> str:
            return ""

    pm = PluginManager(env={}, source=lambda group: [])
    with pytest.raises(PluginError, match=r"unknown hook 'prek' \(did you mean 'peek'\?\)"):
        pm.register("session", Typo())


def test_start_returning_none_succeeds_and_a_missing_hook_is_unsupported(
    site: Site, tmp_path: Path
) -> None:
    mod = site.module("lazy", NONE_SOURCE)
    site.dist("acme-lazy", {"session": {"lazy": f"{mod}:Plugin"}})
    pm = site.manager({"GC_SESSION": "lazy"})
    pm.activate("session", pm.resolve("session"), make_ctx(tmp_path))
    config = StartConfig(command="true", work_dir=str(tmp_path))
    pm.hooks.start("mayor", config)  # None from an implementation: it started
    assert sys.modules[mod].STARTED == ["mayor"]
    with pytest.raises(Unsupported, match="does not implement 'nudge'"):
        pm.hooks.nudge("mayor", "hi")
    with pytest.raises(PluginError, match="'peek' returned None"):
        pm.hooks.peek("mayor", 5)
    assert pm.hooks.implements("start") and not pm.hooks.implements("nudge")
