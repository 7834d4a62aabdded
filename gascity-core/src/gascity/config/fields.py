"""Field types of the config models that need pydantic."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

from .durations import format_duration, parse_duration

__all__ = ["Duration"]

Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]
"""Seconds, written in city.toml as ``30s``, ``5m``, ``1h30m`` or a number."""
