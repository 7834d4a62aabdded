"""docs/plugin-authors.md maps each check of the reference's conformance suite to a
session kit test: every test it names exists, and no reference check is missing."""

from __future__ import annotations

import re
from pathlib import Path

from gascity.testing.kits import SessionProviderKit

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugin-authors.md"

# The t.Run names of internal/runtime/runtimetest/conformance.go (a46ccb1c).
REFERENCE_CHECKS = {
    "Start_CreatesRunningSession", "Start_DuplicateReturnsError",
    "Start_ConcurrentDistinctSessions", "Stop_MakesSessionNotRunning",
    "Stop_Idempotent_NotRunning", "Stop_Idempotent_AlreadyStopped",
    "Stop_ConcurrentDistinctSessions", "Interrupt_ConcurrentDistinctSessions",
    "IsRunning_UnknownSession", "IsRunning_ConcurrentDistinctSessions",
    "ListRunning_FindsSessions", "ListRunning_PrefixFiltering", "ListRunning_ExcludesStopped",
    "ListRunning_EmptyPrefix", "ListRunning_ConcurrentDistinctPrefixes",
    "ProcessAlive_EmptyNamesReturnsTrue", "ProcessAlive_FalseAfterStop",
    "ProcessAlive_ConcurrentDistinctSessions", "SetGetMeta_RoundTrip", "GetMeta_UnsetKey",
    "RemoveMeta_ThenGetReturnsEmpty", "SetMeta_OverwritesPrevious", "Meta_MultipleKeys",
    "Peek_NoError", "GetLastActivity_NoError", "ClearScrollback_NoError", "CopyTo_NoError",
    "SendKeys_RunningSession", "SendKeys_MissingSession", "Interrupt_RunningSession",
    "Interrupt_MissingSession", "Nudge_RunningSession", "Nudge_MissingSession",
}


def table() -> dict[str, list[str]]:
    rows = re.findall(r"^\| `([A-Za-z_]+)` \| (.+?) \| .+ \|$", DOCS.read_text(), re.M)
    return {ref: re.findall(r"`(test_[a-z_]+)`", tests) for ref, tests in rows}


def test_every_reference_check_is_mapped_to_a_kit_test() -> None:
    rows = table()
    assert set(rows) == REFERENCE_CHECKS
    for ref, tests in rows.items():
        assert tests, ref
        for name in tests:
            assert callable(getattr(SessionProviderKit, name, None)), f"{ref}: no kit test {name}"
