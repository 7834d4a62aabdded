"""The bead ID prefix of a rig or city, as Gas City derives it when none is set: what
``{{ .IssuePrefix }}`` shows a rig's agents."""

from __future__ import annotations

__all__ = ["derive_prefix", "effective_prefix"]


def _split_compound(word: str) -> list[str]:
    """``myFrontEnd`` -> ``my``, ``Front``, ``End`` (a capital after a non-capital)."""
    parts: list[str] = []
    start = 0
    for i in range(1, len(word)):
        if word[i].isupper() and not word[i - 1].isupper():
            parts.append(word[start:i])
            start = i
    parts.append(word[start:])
    return parts if len(parts) > 1 else [word]


def derive_prefix(name: str) -> str:
    """Gas City's rule: drop a ``-py`` / ``-go`` suffix; two or more words (split at
    ``-`` / ``_``, else at camelCase humps) give their initials; one word of at most
    three letters is itself, a longer one its first two letters; lowercased."""
    name = name.removesuffix("-py").removesuffix("-go")
    parts = [p for p in name.replace("_", "-").split("-") if p]
    if len(parts) == 1:
        parts = _split_compound(parts[0])
    if len(parts) >= 2:
        return "".join(p[0] for p in parts).lower()
    return (name if len(name) <= 3 else name[:2]).lower()


def effective_prefix(name: str, prefix: str = "") -> str:
    """The configured ``prefix``, else the one derived from ``name``."""
    return prefix or derive_prefix(name)
