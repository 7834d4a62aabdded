"""Payload columns carry any JSON value, as the reference's events do."""

from __future__ import annotations

import pytest

from gascity_dolt_events.rows import dump_payload, load_payload


@pytest.mark.parametrize("payload", [[1, 2], "text", 3, True, {"k": [1]}])
def test_payloads_of_any_json_type_round_trip(payload: object) -> None:
    text = dump_payload(payload)
    assert text is not None
    assert load_payload(text) == payload


def test_an_empty_object_is_a_null_column() -> None:
    assert dump_payload({}) is None
    assert load_payload(None) == {}
