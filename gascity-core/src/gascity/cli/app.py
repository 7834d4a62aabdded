"""The root ``gc`` group and the table of its commands.

Add a core command by adding a row to :data:`COMMANDS`: its name, where it lives
(``module:attr``) and the one line ``gc --help`` shows. The module is imported only
when the command runs; ``tests/test_cli_lazy.py`` checks the line matches the
command's own help. Plugins add commands through the ``gascity.cli`` hook.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from .. import __version__
from .common import EXIT_FAILED, EXIT_USAGE, CliState
from .lazy import LazyCommand, LazyGroup

__all__ = ["COMMANDS", "cli", "load_cli_plugins"]

_T = LazyCommand

# name -> where it lives (relative to gascity.cli) and the first line of its help.
COMMANDS: dict[str, LazyCommand] = {
    "init": _T(".city_cmds:init", "Create a working demo city in DIRECTORY."),
    "start": _T(".city_cmds:start",
                "Start the city under the machine-wide supervisor and wait for a "
                "reconcile pass."),
    "stop": _T(".city_cmds:stop",
               "Stop every session of the city and take it out of the supervisor."),
    "status": _T(".city_cmds:status",
                 "Controller state, and every agent and pool: desired vs running."),
    "suspend": _T(".city_cmds:suspend",
                  "Suspend the whole city: its sessions stop and none start."),
    "resume": _T(".city_cmds:resume", "Resume a suspended city."),
    "restart": _T(".city_cmds:restart",
                  "Restart the city: gc stop, then gc start (under the supervisor)."),
    "reload": _T(".city_cmds:reload",
                 "Make the running controller re-read the config now and say what it made "
                 "of it."),
    "doctor": _T(".doctor_cmds:doctor",
                 "Check the city's health: config, plugins, binaries, controller, files, "
                 "stores."),
    "config": _T(".city_cmds:config", "Validate, show or describe city.toml."),
    "plugins": _T(".city_cmds:plugins",
                  "Every installed plugin: role, name, distribution, version, status."),
    "version": _T(".city_cmds:version",
                  "Print the version of gc and of every Gas City distribution installed."),
    "agent": _T(".session_cmds:agent", "List, add, suspend and resume agents."),
    "prime": _T(".prompt_cmds:prime", "Output the behavioral prompt for an agent."),
    "rig": _T(".rig_cmds:rig",
              "Add, list, check, restart, suspend, resume and remove rigs (projects run "
              "here)."),
    "session": _T(".session_cmds:session",
                  "Sessions: list, peek, logs, nudge, submit, attach, new, kill, reset, "
                  "close, wait."),
    "nudge": _T(".session_cmds:nudge",
                "Deferred nudges: none are queued here, gc session nudge types at once."),
    "runtime": _T(".session_cmds:runtime", "Commands an agent runs inside its own session."),
    "events": _T(".events_cmds:events",
                  "Show the city's events (newest last), or wait for new ones.", host=True),
    "event": _T(".events_cmds:event", "Record events."),
    "mail": _T(".mail_cmds:mail", "Send, read and archive mail between agents.", host=True),
    "supervisor": _T(".supervisor_cmds:supervisor",
                     "The machine-wide supervisor: one process that keeps every registered "
                     "city running."),
    "register": _T(".supervisor_cmds:register_cmd",
                   "Register a city with the supervisor (started if needed), which then "
                   "runs it."),
    "unregister": _T(".supervisor_cmds:unregister_cmd",
                     "Remove a city from the supervisor; a running supervisor stops its "
                     "runtime."),
    "cities": _T(".supervisor_cmds:cities_cmd",
                 "Every city registered with the supervisor: name, path, state, last tick, "
                 "sessions."),
}


def load_cli_plugins(group: click.Group) -> None:
    """Register every ``gascity.cli`` plugin's commands on ``group``."""
    from ..plugins import PluginContext, PluginManager

    pm = PluginManager(disabled=_disabled_in_city())

    def make_context(role: str, name: str, argument: str | None) -> PluginContext:
        return PluginContext(role=role, name=name, argument=argument, env=dict(os.environ))

    pm.load_always_on(make_context, ["cli"])
    pm.hooks.cli_commands(group)


def _disabled_in_city() -> tuple[str, ...]:
    """``[plugins] disabled`` of the city this command runs in, so a disabled
    distribution adds no commands either. A city.toml that does not read is the
    command's own business to report; here it only means nothing is disabled."""
    from ..config.light import find_city_dir, read_city_file
    from ..errors import ConfigError

    # Commands are looked up before the root callback runs, so --city is read from
    # the parsed parameters (its envvar GC_CITY_DIR included), not from ctx.obj.
    ctx = click.get_current_context(silent=True)
    city = ctx.find_root().params.get("city") if ctx is not None else None
    city_dir = Path(city) if city is not None else find_city_dir(Path.cwd())
    if city_dir is None:
        return ()
    try:
        return read_city_file(city_dir).disabled
    except (ConfigError, OSError):
        return ()


class RootGroup(LazyGroup):
    """``gc`` itself: every error ends the same way (see docs/guide.md, exit codes).

    One line ``gc: <what went wrong>`` on stderr (a usage error adds the usage line and
    where the help is), and the exit code says which kind of failure it was: 1 the
    operation failed, 2 usage or configuration, 3 partly done.
    """

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            # A bare group (`gc`, `gc session`): its help is the answer, not an error.
            click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message())
            sys.exit(0)
        except click.UsageError as exc:
            ctx = exc.ctx
            if ctx is not None:
                click.echo(ctx.get_usage(), err=True)
            click.echo(f"gc: {exc.format_message()}", err=True)
            if ctx is not None:
                click.echo(f"(see: {ctx.command_path} --help)", err=True)
            sys.exit(EXIT_USAGE)
        except click.ClickException as exc:
            click.echo(f"gc: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("gc: aborted", err=True)
            sys.exit(EXIT_FAILED)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(
    cls=RootGroup,
    lazy=COMMANDS,
    load_plugins=load_cli_plugins,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--city",
    "city",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="GC_CITY_DIR",
    help="City directory (default: the nearest parent holding city.toml).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(__version__, prog_name="gc")
@click.pass_context
def cli(ctx: click.Context, city: Path | None, verbose: int) -> None:
    """Gas City: run fleets of AI coding agents, reconciled."""
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="gc: %(message)s")
    ctx.obj = CliState(city_option=city)


def _add_absent(group: click.Group) -> None:
    from .absent_cmds import ABSENT, absent_command

    for name, feature in ABSENT.items():
        group.add_command(absent_command(name, feature))


_add_absent(cli)
