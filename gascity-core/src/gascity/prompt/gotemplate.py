"""The part of Go's text/template that Gas City's prompt templates use.

Prompt templates written for Gas City are Go templates. Packs use field output
(``{{ .RigName }}``), the functions ``cmd`` and ``basename``, named fragments
(``{{ define "x" }}...{{ end }}`` and ``{{ template "x" . }}``), trim markers
(``{{-`` / ``-}}``), comments, string literals and ``if``/``else``. Those are
interpreted here with Go's semantics (a missing key renders as ""). Anything else
(``range``, ``with``, pipes, variables, other functions) is refused with the file
and line, rather than rendered wrongly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["TemplateError", "TemplateSet"]

Funcs = Mapping[str, Callable[..., str]]


class TemplateError(Exception):
    """``<file>:<line>: <what>``: a template this interpreter cannot run."""

    def __init__(self, source: str, line: int, message: str) -> None:
        super().__init__(f"{source}:{line}: {message}")
        self.source = source
        self.line = line


@dataclass(frozen=True, slots=True)
class _Text:
    text: str


@dataclass(frozen=True, slots=True)
class _Expr:
    """A function call or value: ``.Field``, ``"literal"``, ``basename .AgentName``."""

    words: tuple[str, ...]
    source: str
    line: int


@dataclass(frozen=True, slots=True)
class _Call:
    name: str
    source: str
    line: int


@dataclass(slots=True)
class _If:
    cond: _Expr
    then: list[_Node] = field(default_factory=list)
    other: list[_Node] = field(default_factory=list)


_Node = _Text | _Expr | _Call | _If

_WORD = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`|[^\s()|]+|[()|]')
_UNSUPPORTED = {"range", "with", "block", "break", "continue", "else if"}
_STRING_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "r": "\r"}


def _unquote(word: str) -> str | None:
    if len(word) >= 2 and word[0] == word[-1] == "`":
        return word[1:-1]
    if len(word) >= 2 and word[0] == word[-1] == '"':
        return re.sub(r"\\(.)", lambda m: _STRING_ESCAPES.get(m.group(1), m.group(1)), word[1:-1])
    return None


def _actions(text: str, source: str) -> list[tuple[str, str, int]]:
    """Split into ("text", s, line) and ("action", inner, line), applying trim markers."""
    out: list[tuple[str, str, int]] = []
    pos, line = 0, 1
    while True:
        start = text.find("{{", pos)
        if start == -1:
            out.append(("text", text[pos:], line))
            return out
        chunk = text[pos:start]
        trim_left = text.startswith("{{- ", start) or text.startswith("{{-\n", start)
        if trim_left:
            chunk = chunk.rstrip()
        out.append(("text", chunk, line))
        line += text.count("\n", pos, start)
        i = start + (3 if trim_left else 2)
        # Find the closing braces outside string literals: {{"{{x}}"}} is one action.
        while True:
            if i >= len(text):
                raise TemplateError(source, line, "unclosed action: expected '}}'")
            c = text[i]
            if c in "\"`":
                close = i + 1
                while close < len(text) and text[close] != c:
                    close += 2 if c == '"' and text[close] == "\\" else 1
                i = close + 1
                continue
            if text.startswith("/*", i):
                end_comment = text.find("*/", i + 2)
                if end_comment == -1:
                    raise TemplateError(source, line, "unclosed comment")
                i = end_comment + 2
                continue
            if text.startswith("}}", i):
                break
            i += 1
        inner = text[start + (3 if trim_left else 2) : i]
        trim_right = inner.endswith(" -") or inner.endswith("\n-")
        if trim_right:
            inner = inner[:-2]
        out.append(("action", inner.strip(), line))
        line += text.count("\n", start, i + 2)
        pos = i + 2
        if trim_right:
            rest = text[pos:]
            stripped = rest.lstrip()
            line += rest[: len(rest) - len(stripped)].count("\n")
            pos += len(rest) - len(stripped)


_Frame = tuple[list[_Node], str, int, _If | None, str]
"""An open block while parsing: (nodes being filled, kind, opening line, the ``if`` it
belongs to, the ``define`` name)."""


def _template_call(words: Sequence[str], source: str, line: int) -> _Call:
    name = _unquote(words[1]) if len(words) >= 2 else None
    if name is None or len(words) > 3 or (len(words) == 3 and words[2] != "."):
        raise TemplateError(source, line, 'expected {{ template "name" . }} (only "." as data)')
    return _Call(name, source, line)


def _else(top: _Frame, words: Sequence[str], source: str, line: int) -> _Frame:
    """The frame an ``{{ else }}`` switches the innermost ``if`` to."""
    if top[1] != "if" or top[3] is None or len(words) > 1:
        what = "else if" if len(words) > 1 else "else"
        raise TemplateError(source, line, f"unsupported or misplaced {{{{ {what} }}}}")
    return (top[3].other, "else", top[2], top[3], "")


class TemplateSet:
    """Templates parsed from several files: ``define`` blocks shared by all, each
    file's top-level text its body. ``render`` runs a body or a defined template."""

    def __init__(self, funcs: Funcs | None = None) -> None:
        self.funcs: Funcs = funcs or {}
        self.defines: dict[str, list[_Node]] = {}

    def parse(self, text: str, source: str) -> list[_Node]:
        """Parse one file; its ``define`` blocks join the set (later files win)."""
        root: list[_Node] = []
        stack: list[_Frame] = [(root, "root", 1, None, "")]
        for kind, value, line in _actions(text, source):
            if kind == "text":
                if value:
                    stack[-1][0].append(_Text(value))
            elif not value.startswith("/*"):  # not a comment
                self._action(stack, value, source, line)
        if len(stack) > 1:
            raise TemplateError(
                source, stack[-1][2], f"{{{{ {stack[-1][1]} }}}} is never closed by {{{{ end }}}}"
            )
        return root

    def _action(self, stack: list[_Frame], value: str, source: str, line: int) -> None:
        """One ``{{ ... }}``: a node in the innermost block, or a block opened or closed."""
        words = tuple(_WORD.findall(value))
        if not words:
            raise TemplateError(source, line, "empty action {{ }}")
        head, target = words[0], stack[-1][0]
        if head == "define":
            name = _unquote(words[1]) if len(words) == 2 else None
            if name is None:
                raise TemplateError(source, line, 'expected {{ define "name" }}')
            stack.append(([], "define", line, None, name))
        elif head == "template":
            target.append(_template_call(words, source, line))
        elif head == "if":
            node = _If(self._expr(words[1:], source, line))
            target.append(node)
            stack.append((node.then, "if", line, node, ""))
        elif head == "else":
            stack[-1] = _else(stack[-1], words, source, line)
        elif head == "end":
            if len(stack) == 1:
                raise TemplateError(source, line, "{{ end }} without an opening action")
            body, opened, _, _, name = stack.pop()
            if opened == "define":
                self.defines[name] = body
        elif head in _UNSUPPORTED or head.startswith("$") or "|" in words:
            raise TemplateError(
                source, line,
                f"unsupported template construct {{{{ {value} }}}}; supported: fields, "
                'cmd, basename, define, template, if/else, "strings"',
            )
        else:
            target.append(self._expr(words, source, line))

    def _expr(self, words: Sequence[str], source: str, line: int) -> _Expr:
        if not words:
            raise TemplateError(source, line, "missing value")
        head = words[0]
        if head.startswith(".") or _unquote(head) is not None:
            if len(words) != 1:
                raise TemplateError(source, line, f"unexpected {' '.join(words[1:])!r}")
        elif head not in self.funcs:
            known = ", ".join(sorted(self.funcs)) or "none"
            raise TemplateError(
                source, line, f"unknown function {head!r}; expected one of: {known}"
            )
        for w in words[1:]:
            if not (w.startswith(".") or _unquote(w) is not None):
                raise TemplateError(source, line, f"unsupported argument {w!r}")
        return _Expr(tuple(words), source, line)

    def render(self, body: list[_Node], data: Mapping[str, str]) -> str:
        out: list[str] = []
        self._run(body, data, out, depth=0)
        return "".join(out)

    def render_defined(self, name: str, data: Mapping[str, str]) -> str | None:
        body = self.defines.get(name)
        return None if body is None else self.render(body, data)

    def _run(self, nodes: list[_Node], data: Mapping[str, str], out: list[str],
             depth: int) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                out.append(node.text)
            elif isinstance(node, _Expr):
                out.append(self._value(node, data))
            elif isinstance(node, _If):
                self._run(node.then if self._value(node.cond, data) else node.other, data,
                          out, depth)
            else:
                body = self.defines.get(node.name)
                if body is None:
                    raise TemplateError(node.source, node.line,
                                        f'no such template "{node.name}"')
                if depth > 50:
                    raise TemplateError(node.source, node.line,
                                        f'template "{node.name}" calls itself too deeply')
                self._run(body, data, out, depth + 1)

    def _value(self, expr: _Expr, data: Mapping[str, str]) -> str:
        def arg(word: str) -> str:
            literal = _unquote(word)
            if literal is not None:
                return literal
            key = word[1:]
            return "" if not key or "." in key else data.get(key, "")

        head, *rest = expr.words
        if head.startswith(".") or _unquote(head) is not None:
            return arg(head)
        return self.funcs[head](*(arg(w) for w in rest))
