"""Click groups that import a command's module only when that command runs.

Agents call ``gc event emit`` and ``gc mail send`` in their hot loops, so ``gc``
must not pay for importing every command module (and what they import: the config
models, the reconciler, plugins) on every call. The root group holds a table of
``name -> ("module:attr", short help)``; ``gc --help`` prints the table's help, and
only the command that runs is imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

import click

__all__ = [
    "LazyCommand",
    "LazyGroup",
    "PluginHostGroup",
    "full_short_help",
    "resolve",
    "untruncated",
]


class LazyCommand:
    """One row of the table: where the command lives and its one-line help."""

    __slots__ = ("help", "host", "target")

    def __init__(self, target: str, help: str, *, host: bool = False) -> None:
        self.target = target
        self.help = help
        self.host = host
        """Plugins may add subcommands to it (a :class:`PluginHostGroup`)."""

    def short_help(self, limit: int) -> str:
        # Never shortened with "...": the help formatter wraps the whole line.
        return self.help

    def load(self) -> click.Command:
        return resolve(self.target)


def full_short_help(command: click.Command) -> str:
    """The first line of a command's help, whole (click would cut it with "...")."""
    if command.short_help:
        return command.short_help
    return " ".join((command.help or "").strip().split("\n\n")[0].split())


def untruncated(command: click.Command) -> click.Command:
    """Give ``command`` and its subcommands their whole first line as ``short_help``,
    so every listing (``gc session --help`` too) shows it without "..."."""
    if not command.short_help and command.help:
        command.short_help = full_short_help(command)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            untruncated(sub)
    return command


def resolve(target: str) -> click.Command:
    module_name, _, attr = target.partition(":")
    command = getattr(importlib.import_module(module_name, __package__), attr)
    if not isinstance(command, click.Command):
        raise TypeError(f"{target} is not a click command")
    return untruncated(command)


class LazyGroup(click.Group):
    """The root ``gc`` group: core commands from a table, plugin commands on demand.

    ``load_plugins(group)`` runs at most once, and only when a name is not in the
    table or when every command must be listed (``gc --help``), so core commands
    start without scanning or importing plugins.
    """

    def __init__(
        self,
        *args: object,
        lazy: Mapping[str, LazyCommand] | None = None,
        load_plugins: Callable[[click.Group], None] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy: dict[str, LazyCommand] = dict(lazy or {})
        self._load_plugins = load_plugins
        self._plugins_loaded = False

    def materialize(self, name: str) -> click.Command | None:
        """The command ``name`` of the table, imported and added on first use."""
        if name not in self.commands and name in self.lazy:
            command = self.lazy[name].load()
            # The table's name wins: it is what `gc --help` promised.
            self.commands[name] = command
        return self.commands.get(name)

    def ensure_plugins(self) -> None:
        if self._plugins_loaded or self._load_plugins is None:
            return
        self._plugins_loaded = True
        # Plugins extend core groups through ``group.commands[...]``: those must exist.
        for name in list(self.lazy):
            if self.lazy[name].host:
                self.materialize(name)
        self._load_plugins(self)
        for command in self.commands.values():
            untruncated(command)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.materialize(cmd_name)
        if command is None:
            self.ensure_plugins()
            command = self.commands.get(cmd_name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        self.ensure_plugins()
        return sorted(set(self.commands) | set(self.lazy))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The table's help stands in for modules not imported yet.
        rows: list[tuple[str, str]] = []
        limit = 0  # unused: lines are never cut
        for name in self.list_commands(ctx):
            command = self.commands.get(name)
            if command is not None:
                if command.hidden:
                    continue
                rows.append((name, full_short_help(command)))
            else:
                rows.append((name, self.lazy[name].short_help(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class PluginHostGroup(click.Group):
    """A core group plugins may add subcommands to (``gc mail migrate``).

    A subcommand the core does not have loads the plugins, through the root group;
    the core's own subcommands never do.
    """

    def _root(self, ctx: click.Context) -> LazyGroup | None:
        root = ctx.find_root().command
        return root if isinstance(root, LazyGroup) else None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and (root := self._root(ctx)) is not None:
            root.ensure_plugins()
            command = super().get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        if (root := self._root(ctx)) is not None:
            root.ensure_plugins()
        return super().list_commands(ctx)
