"""Keys of the reference's city.toml that parse here but do nothing (yet).

A city brought over from Gas City keeps working: such a key is accepted, typed as
the reference types it (so a wrong type is still an error), and reported once as a
warning that names it and what it does in the reference. :func:`recognised_warnings`
is the one place that list is built; ``gc config validate``, ``gc doctor`` and the
controller's start all print it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

__all__ = [
    "RECOGNISED",
    "AgentDefaultsSection",
    "BeadsSection",
    "ChatSessionsSection",
    "ConvergenceSection",
    "DoltSection",
    "FormulasSection",
    "OrdersSection",
    "PackSourceSection",
    "ServiceSection",
    "SessionSleepSection",
    "deprecated",
    "recognised",
    "recognised_warnings",
]

RECOGNISED = "gc_recognised"
"""json_schema_extra key holding what a recognised-only key does in the reference."""
DEPRECATED = "gc_deprecated"
"""json_schema_extra key holding the replacement of a deprecated key."""


def recognised(default: Any = None, what: str = "", **kwargs: Any) -> Any:
    """A field that parses but is not implemented here; ``what`` says what it does there."""
    factory = kwargs.pop("default_factory", None)
    extra: JsonDict = {RECOGNISED: what}
    desc = f"Recognised, not implemented here. In Gas City: {what}"
    if factory is not None:
        return Field(default_factory=factory, description=desc, json_schema_extra=extra, **kwargs)
    return Field(default=default, description=desc, json_schema_extra=extra, **kwargs)


def deprecated(default: Any = None, instead: str = "", **kwargs: Any) -> Any:
    """A legacy field that still works, mapped onto ``instead``, with a warning."""
    desc = f"Deprecated: use {instead}."
    extra: JsonDict = {DEPRECATED: instead}
    if "default_factory" in kwargs:
        return Field(description=desc, json_schema_extra=extra, **kwargs)
    return Field(default=default, description=desc, json_schema_extra=extra, **kwargs)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# Whole sections the reference has and this implementation does not. Their keys are
# modelled so a typo inside one is still caught; the section itself warns once.


class BeadsSection(_Strict):
    provider: str = Field(default="", description="Bead store: bd, file or exec:<script>.")


class DoltSection(_Strict):
    port: int = Field(default=0, description="Dolt server port (0: derived from the city path).")
    host: str = Field(default="", description="Dolt server host (localhost).")


class FormulasSection(_Strict):
    dir: str = Field(default="", description="Formula directory (formulas).")


class OrdersSection(_Strict):
    skip: list[str] = Field(default_factory=list, description="Order names not scanned.")
    max_timeout: str = Field(default="", description="Cap on any order's timeout.")
    overrides: list[dict[str, Any]] = Field(
        default_factory=list, description="Per-order scheduling overrides."
    )


class ChatSessionsSection(_Strict):
    idle_timeout: str = Field(default="", description="Auto-suspend detached chat sessions.")


class SessionSleepSection(_Strict):
    interactive_resume: str = Field(default="", description="Idle sleep of resumable sessions.")
    interactive_fresh: str = Field(default="", description="Idle sleep of fresh sessions.")
    noninteractive: str = Field(default="", description="Idle sleep of attach=false sessions.")


class ConvergenceSection(_Strict):
    max_per_agent: int = Field(default=0, description="Convergence loops per agent (2).")
    max_total: int = Field(default=0, description="Convergence loops in total (10).")


class ServiceSection(_Strict):
    name: str = Field(description="Service name, mounted at /svc/<name>.")
    kind: str = Field(default="", description="workflow or proxy_process.")
    publish_mode: str = Field(default="", description="private or direct.")
    state_root: str = Field(default="", description="State directory under .gc/services/.")
    publication: dict[str, Any] = Field(default_factory=dict, description="Publication intent.")
    workflow: dict[str, Any] = Field(default_factory=dict, description="Workflow settings.")
    process: dict[str, Any] = Field(default_factory=dict, description="Proxied process settings.")


class AgentDefaultsSection(_Strict):
    model: str = recognised("", "default model name for agents")
    wake_mode: str = recognised("", "default wake mode (resume or fresh)")
    default_sling_formula: str = recognised("", "formula applied to beads slung to agents")
    allow_overlay: list[str] = recognised(
        what="allowlist of session overlays", default_factory=list
    )
    allow_env_override: list[str] = recognised(
        what="allowlist of session environment overrides", default_factory=list
    )
    append_fragments: list[str] = Field(
        default_factory=list, description="Template fragments appended to every prompt."
    )
    skills: list[str] = recognised(what="tombstone, ignored by Gas City too", default_factory=list)
    mcp: list[str] = recognised(what="tombstone, ignored by Gas City too", default_factory=list)


class PackSourceSection(_Strict):
    source: str = Field(description="Git repository URL of the pack.")
    ref: str = Field(default="", description="Git ref to check out.")
    path: str = Field(default="", description="Sub-directory holding the pack.")


_ORDER: dict[type[BaseModel], dict[str, int]] = {}


def _set_fields(model: BaseModel) -> list[str]:
    """The keys the file set, in declaration order. A 30k-agent city sets a few keys
    per agent; walking only those keeps this O(keys set), not O(agents x fields)."""
    cls = type(model)
    order = _ORDER.get(cls)
    if order is None:
        order = _ORDER[cls] = {k: i for i, k in enumerate(cls.model_fields)}
    # Extra keys of open tables (a patch's keys) are in the set too: not fields.
    return sorted((k for k in model.model_fields_set if k in order), key=order.__getitem__)


def recognised_warnings(model: BaseModel, prefix: str = "", owner: str = "") -> list[str]:
    """One line per recognised-only or deprecated key set in ``model`` (recursively).

    ``[beads] provider = "bd"`` gives ``beads: recognised, not implemented here (in Gas
    City: the bead store ...); ignored``; keys of an agent name it, as errors do:
    ``agent[2].wake_mode (agent 'dog'): ...``. A whole recognised section warns once,
    not once per key inside it.
    """
    out: list[str] = []
    fields = type(model).model_fields
    for key in _set_fields(model):
        field = fields[key]
        path = f"{prefix}.{key}" if prefix else key
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if RECOGNISED in extra:
            out.append(
                f"{path}{owner}: recognised, not implemented here (in Gas City: "
                f"{extra[RECOGNISED]}); ignored"
            )
            continue
        if DEPRECATED in extra:
            out.append(f"{path}{owner}: deprecated; use {extra[DEPRECATED]} (mapped for now)")
        value = getattr(model, key)
        if isinstance(value, BaseModel | list | tuple | dict):  # scalars hold nothing
            out.extend(_walk(value, path, key, owner))
    return out


_OWNER_KIND = {"agent": "agent", "rigs": "rig", "named_session": "named session"}


def _walk(value: Any, path: str, key: str, owner: str) -> list[str]:
    if isinstance(value, BaseModel):
        return recognised_warnings(value, path, owner)
    out: list[str] = []
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            name = getattr(item, "name", None)
            label = owner
            if key in _OWNER_KIND and isinstance(name, str) and name:
                label = f" ({_OWNER_KIND[key]} '{name}')"
            out.extend(_walk(item, f"{path}[{i}]", key, label))
    elif isinstance(value, dict):
        for k, item in value.items():
            out.extend(_walk(item, f"{path}.{k}", k, owner))
    return out
