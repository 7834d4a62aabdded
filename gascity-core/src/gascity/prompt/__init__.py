"""Agent prompts: Gas City's prompt templates rendered (a Go text/template subset)."""

from __future__ import annotations

from .gotemplate import TemplateError, TemplateSet
from .render import PromptContext, PromptError, is_template_path, render_prompt

__all__ = [
    "PromptContext",
    "PromptError",
    "TemplateError",
    "TemplateSet",
    "is_template_path",
    "render_prompt",
]
