"""A bounded subset of the fault suite (``python -m faults`` runs it at full size)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The faults package lives at the repo root, which importlib mode leaves off the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faults.experiments import (
    Row,
    concurrent_cli_writers,
    controller_kill9,
    dolt_outage_mid_burst,
    hostile_scale_checks,
    pgmail_outage_mid_burst,
    torn_config_writes,
)


def check(row: Row) -> None:
    assert row.trials > 0
    assert (row.lost, row.duplicated) == (0, 0), row.notes
    assert row.survived == row.trials, row.notes


@pytest.mark.timeout(300)
def test_kill9_of_the_controller_loses_and_duplicates_nothing() -> None:
    check(controller_kill9(trials=6, seed=3))


def test_torn_writes_stop_nothing() -> None:
    check(torn_config_writes(trials=8, seed=5))


def test_hostile_checks_end_within_timeout_plus_grace() -> None:
    check(hostile_scale_checks(reps=1))


@pytest.mark.timeout(300)
def test_concurrent_cli_writers_record_everything_once() -> None:
    check(concurrent_cli_writers(writers=3, each=3))


@pytest.mark.timeout(300)
def test_a_database_outage_mid_burst_loses_and_duplicates_nothing() -> None:
    check(dolt_outage_mid_burst(trials=1, burst=60))


@pytest.mark.timeout(300)
def test_a_mail_server_outage_mid_burst_loses_and_duplicates_nothing() -> None:
    check(pgmail_outage_mid_burst(trials=2, burst=40, seed=4))
