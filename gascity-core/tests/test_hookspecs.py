"""The hook contract documents itself: every hookspec says whether it is select-one
(and says it truthfully) and shows an example."""

from __future__ import annotations

import inspect

import pytest

from gascity import hookspecs
from gascity.plugins.manager import BROADCASTS, ROLE_HOOKS

SPECS = {
    name: fn
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
    if getattr(fn, "gascity_spec", None) is not None
}


def test_the_design_card_hooks_exist() -> None:
    assert {"list_running", "start", "stop", "emit_event", "send_mail"} <= set(SPECS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hookspec_is_documented(name: str) -> None:
    doc = inspect.getdoc(SPECS[name]) or ""
    assert ":select-one:" in doc, f"{name}: say whether it is select-one"
    assert "Example" in doc, f"{name}: show an example"
    firstresult = SPECS[name].gascity_spec["firstresult"]  # type: ignore[attr-defined]
    said = doc.split(":select-one:", 1)[1].strip().lower()
    assert said.startswith("yes") == firstresult, f"{name}: select-one text vs firstresult"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_hook_belongs_to_a_role_or_is_a_broadcast(name: str) -> None:
    owners = [role for role, hooks in ROLE_HOOKS.items() if name in hooks]
    assert len(owners) == 1 or (not owners and name in BROADCASTS), (name, owners)
