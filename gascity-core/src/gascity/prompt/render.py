"""An agent's prompt: its ``prompt_template`` rendered as Gas City renders it.

The template is a file (relative paths from the city directory). Files named
``*.template.md`` (or the older ``*.md.tmpl``) are templates; any other file is used
as is. Fragments (``{{ define "name" }}`` blocks) come from the shared directories
of the template's packs and from ``shared/`` and ``template-fragments/`` next to the
template; ``global_fragments``, then the agent's ``inject_fragments``, then
``append_fragments`` are appended after the body, each after a blank line.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import GasCityError
from ..osutil.git import default_branch as git_default_branch
from .gotemplate import TemplateError, TemplateSet

__all__ = [
    "PromptContext",
    "PromptError",
    "expand_placeholders",
    "fragment_files",
    "is_template_path",
    "pack_fragment_dirs",
    "render_prompt",
]

TEMPLATE_SUFFIXES = (".template.md", ".md.tmpl")
log = logging.getLogger("gascity.prompt")


class PromptError(GasCityError):
    """The prompt cannot be rendered; the message names the file (and line)."""


@dataclass(frozen=True, slots=True)
class PromptContext:
    """The placeholders of Gas City's prompt templates (``{{ .AgentName }}``, ...)."""

    city_root: str
    agent_name: str
    template_name: str
    work_dir: str
    rig_name: str = ""
    rig_root: str = ""
    issue_prefix: str = ""
    """The rig's bead prefix (configured or derived); "" for a city agent."""
    branch: str = ""
    default_branch: str | None = None
    """``None``: what git says for ``work_dir``, asked only if a template reads it."""
    work_query: str = ""
    sling_query: str = ""
    env: Mapping[str, str] = field(default_factory=dict)

    def data(self) -> Mapping[str, str]:
        """The agent's env first, so the named placeholders win over it."""
        out = _Placeholders(self.env)
        out.update(
            CityRoot=self.city_root,
            AgentName=self.agent_name,
            TemplateName=self.template_name,
            RigName=self.rig_name,
            RigRoot=self.rig_root,
            WorkDir=self.work_dir,
            IssuePrefix=self.issue_prefix,
            Branch=self.branch,
            WorkQuery=self.work_query,
            SlingQuery=self.sling_query,
        )
        if self.default_branch is None:
            out.pop("DefaultBranch", None)
            out.lazy["DefaultBranch"] = lambda: git_default_branch(self.work_dir)
        else:
            out["DefaultBranch"] = self.default_branch
        return out


class _Placeholders(dict[str, str]):
    """Placeholder values, some computed on first read: a prompt that never shows
    ``{{ .DefaultBranch }}`` runs no git."""

    def __init__(self, base: Mapping[str, str]) -> None:
        super().__init__(base)
        self.lazy: dict[str, Callable[[], str]] = {}

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        if key in self.lazy and key not in self:
            self[key] = self.lazy.pop(key)()
        return super().get(key, default)


def is_template_path(path: str) -> bool:
    return path.endswith(TEMPLATE_SUFFIXES)


def _basename(qualified: str = "") -> str:
    return qualified.rsplit("/", 1)[-1]


def _funcs() -> dict[str, Callable[..., str]]:
    # ``cmd``: the command agents run to reach the city; this project's CLI is ``gc`` too.
    return {"cmd": lambda: "gc", "basename": _basename}


def fragment_files(directory: Path) -> list[Path]:
    """The fragment files of a fragment directory, in the order they are parsed."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    # The older suffix first, so a .template.md of the same fragment wins.
    legacy = [n for n in names if n.endswith(".md.tmpl")]
    canonical = [n for n in names if n.endswith(".template.md")]
    return [directory / n for n in (*legacy, *canonical) if (directory / n).is_file()]


def expand_placeholders(text: str, what: str, data: Mapping[str, str]) -> str:
    """One line of config text with Go template placeholders (work_dir, setup commands)."""
    templates = TemplateSet(_funcs())
    try:
        return templates.render(templates.parse(text, what), data)
    except TemplateError as exc:
        raise PromptError(str(exc)) from None


def pack_fragment_dirs(pack_dirs: Sequence[str | Path]) -> list[Path]:
    """The fragment directories of the city's packs, in load order."""
    out: list[Path] = []
    for pack in pack_dirs:
        out += [Path(pack) / "prompts" / "shared", Path(pack) / "template-fragments"]
    return out


def render_prompt(
    template: str,
    ctx: PromptContext,
    *,
    city_dir: Path,
    fragment_dirs: Sequence[Path] = (),
    fragments: Sequence[str] = (),
) -> str:
    """The rendered prompt; ``""`` when ``template`` is empty.

    Raises :class:`PromptError` naming the file when it cannot be read or uses a
    construct this interpreter does not run; a fragment nobody defines is logged and
    skipped, as in Gas City.
    """
    if not template:
        return ""
    path = Path(template) if os.path.isabs(template) else city_dir / template
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptError(f"prompt_template {template!r}: cannot read {path}: {exc}") from None
    if not is_template_path(template):
        return raw
    templates = TemplateSet(_funcs())
    try:
        for directory in (*fragment_dirs, path.parent / "shared",
                          path.parent / "template-fragments"):
            for shared in fragment_files(directory):
                templates.parse(shared.read_text(encoding="utf-8"), str(shared))
        body = templates.parse(raw, str(path))
        data = ctx.data()
        out = templates.render(body, data)
        for name in fragments:
            rendered = templates.render_defined(name, data)
            if rendered is None:
                # As Gas City does: a fragment nobody defines is reported and skipped.
                log.warning(
                    "%s: fragment %r is not defined by any {{ define %r }} in the "
                    "template or its fragment directories; skipped", path, name, name)
                continue
            out += "\n\n" + rendered
    except TemplateError as exc:
        raise PromptError(str(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptError(f"{path}: cannot read a fragment: {exc}") from None
    return out
