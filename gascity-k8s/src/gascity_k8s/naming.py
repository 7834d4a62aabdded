"""Kubernetes spellings of Gas City names: DNS-safe pod names, label values and
annotation keys. Lossy spellings get a hash suffix, so two names that differ only
in case or past 63 characters never share a pod or a label value; the exact name
always travels in the ``gc-session-name`` annotation, which lookups match."""

from __future__ import annotations

import hashlib
import re

__all__ = [
    "ANNOTATION_NAME",
    "APP",
    "META_PREFIX",
    "TMUX_SESSION",
    "city_object",
    "city_selector",
    "label_value",
    "meta_annotation",
    "pod_name",
    "session_selector",
]

APP = "gc-agent"
ANNOTATION_NAME = "gc-session-name"
META_PREFIX = "gascity.dev/"
TMUX_SESSION = "main"
_META_KEY = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:8]


def label_value(text: str) -> str:
    """A valid label value; ``text`` itself when it already is one."""
    clean = re.sub(r"[^A-Za-z0-9._-]", "-", text)
    clean = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", clean)
    if clean == text and len(clean) <= 63:
        return clean
    base = re.sub(r"[^A-Za-z0-9]+$", "", clean[:54])
    return f"{base}-{_digest(text)}" if base else f"x-{_digest(text)}"


def pod_name(city: str, name: str) -> str:
    """``<city>-<name>-<hash>``, lowercase DNS-1123, at most 63 characters."""
    base = re.sub(r"[^a-z0-9-]+", "-", f"{city}-{name}".lower()).strip("-")
    base = base[:54].rstrip("-") or "gc"
    return f"{base}-{_digest(city, name)}"


def city_object(city: str, what: str) -> str:
    """``gc-<city>-<what>``: the name of a city-wide object (its Lease, its state
    ConfigMap); a city name that is not already DNS-safe gets a hash suffix."""
    base = re.sub(r"[^a-z0-9-]+", "-", city.lower()).strip("-")[:40].rstrip("-") or "city"
    name = f"gc-{base}-{what}"
    return name if base == city else f"{name}-{_digest(city)}"


def city_selector(city: str) -> str:
    return f"app={APP},gc-city={label_value(city)}"


def session_selector(city: str, name: str) -> str:
    return f"{city_selector(city)},gc-session={label_value(name)}"


def meta_annotation(key: str) -> str:
    if not _META_KEY.match(key):
        raise ValueError(
            f"metadata key {key!r} cannot be a pod annotation: use letters, digits, '-', '_', '.'"
            " (at most 63, starting and ending with a letter or digit)"
        )
    return META_PREFIX + key
