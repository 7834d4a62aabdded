"""The hook contract is written once, in the spec classes, and documents itself:
every hookspec says whether it is select-one (truthfully) and shows an example; the
role table, the facade, the call counter and the plugin-author docs follow it."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from gascity import hookspecs
from gascity.plugins.facade import Hooks
from gascity.plugins.manager import BROADCASTS, ROLE_HOOKS
from gascity.testing import HookCallCounter

SPECS = {
    name: getattr(spec, name)
    for spec in hookspecs.SPEC_CLASSES
    for name in hookspecs.spec_hooks(spec)
}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugin-authors.md"


def test_the_design_card_hooks_exist() -> None:
    assert {"list_running", "start", "stop", "emit_event", "send_mail"} <= set(SPECS)
    assert len(SPECS) == len(hookspecs.ALL_HOOKS), "a hook is declared by two spec classes"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hookspec_is_documented(name: str) -> None:
    doc = inspect.getdoc(SPECS[name]) or ""
    assert ":select-one:" in doc, f"{name}: say whether it is select-one"
    assert "Example" in doc, f"{name}: show an example"
    firstresult = SPECS[name].gascity_spec["firstresult"]
    said = doc.split(":select-one:", 1)[1].strip().lower()
    assert said.startswith("yes") == firstresult, f"{name}: select-one text vs firstresult"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_hook_belongs_to_a_role_or_is_a_broadcast(name: str) -> None:
    owners = [role for role, hooks in ROLE_HOOKS.items() if name in hooks]
    assert len(owners) == 1 or (not owners and name in BROADCASTS), (name, owners)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_facade_calls_every_hook_with_the_spec_arguments(name: str) -> None:
    method = getattr(Hooks, name, None)
    assert method is not None, f"Hooks has no method for the hook {name!r}"
    spec_args = list(inspect.signature(SPECS[name]).parameters)[1:]
    facade_args = list(inspect.signature(method).parameters)[1:]
    assert facade_args == spec_args, f"{name}: facade {facade_args} vs spec {spec_args}"


def test_the_call_counter_wraps_every_hook_but_the_lifecycle() -> None:
    for name in set(SPECS) - hookspecs.LIFECYCLE:
        impl = getattr(HookCallCounter, name, None)
        assert impl is not None and impl.gascity_impl["wrapper"], name


def test_the_protocols_are_the_required_part_of_each_role() -> None:
    for role, names in hookspecs.REQUIRED_HOOKS.items():
        assert set(names) <= set(hookspecs.ROLE_HOOKS[role])
    assert "list_running" in hookspecs.REQUIRED_HOOKS["session"]
    assert "is_running" not in hookspecs.REQUIRED_HOOKS["session"]


def _documented(role_label: str) -> tuple[list[str], list[str]]:
    """The hooks docs/plugin-authors.md lists for a role: (required, optional)."""
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(rf"^- \*\*{role_label}\*\*: (.*?)(?=^- \*\*|^\n)", text, re.M | re.S)
    assert match, f"docs/plugin-authors.md lists no hooks for {role_label}"
    body = re.sub(r"\([^)]*\)", "", match.group(1))  # remarks in parentheses
    required, _, optional = body.partition("optional:")
    return re.findall(r"`([a-z_]+)`", required), re.findall(r"`([a-z_]+)`", optional)


@pytest.mark.parametrize("role", sorted(hookspecs.ROLE_SPECS))
def test_the_plugin_author_docs_list_each_role_exactly(role: str) -> None:
    required, optional = _documented(role)
    assert sorted(required) == sorted(hookspecs.REQUIRED_HOOKS[role])
    extra = set(hookspecs.ROLE_HOOKS[role]) - set(hookspecs.REQUIRED_HOOKS[role])
    assert sorted(optional) == sorted(extra)


def test_the_plugin_author_docs_list_the_broadcasts() -> None:
    required, optional = _documented("every plugin")
    assert sorted(required + optional) == sorted(hookspecs.spec_hooks(hookspecs.EveryPluginSpec))
