"""``gc supervisor ...``, ``gc register``, ``gc unregister``, ``gc cities``."""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from ..config import load_city
from ..controller.lock import holder_pid
from ..supervisor import client, service
from ..supervisor.home import SupervisorHome
from ..supervisor.registry import Registry
from .common import CliState, echo_json, format_table, guard, pass_state

__all__ = ["cities_cmd", "register_cmd", "supervisor", "unregister_cmd"]

_PATH = click.argument("path", required=False,
                       type=click.Path(file_okay=False, path_type=Path))


def home() -> SupervisorHome:
    return SupervisorHome.default()


def registration_name(city_dir: Path) -> str:
    """workspace.name, as the city's runtime will call itself."""
    return load_city(city_dir).city_name


def _when(ts: float | None) -> str:
    if not ts:
        return "never"
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


@click.group()
def supervisor() -> None:
    """The machine-wide supervisor: one process that keeps every registered city running.

    It reads the registry $GC_HOME/cities.toml (GC_HOME defaults to ~/.gc); gc start and
    gc register add cities to it, gc stop and gc unregister take them out.
    """


@supervisor.command("run")
@guard
def supervisor_run() -> None:
    """Run the supervisor in the foreground (what the user service runs)."""
    from ..supervisor.supervisor import Supervisor, SupervisorRunning

    logging.getLogger("gascity").setLevel(logging.INFO)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(logging.Formatter("%(asctime)s gc supervisor: %(message)s"))
    try:
        Supervisor(home()).run()
    except SupervisorRunning as exc:
        raise click.ClickException(str(exc)) from None


@supervisor.command("start")
@guard
def supervisor_start() -> None:
    """Start the supervisor in the background unless it runs already."""
    h = home()
    pid, started = client.ensure_running(h)
    click.echo(f"supervisor {'started' if started else 'already running'} (pid {pid}); "
               f"log: {h.log}")


@supervisor.command("stop")
@click.option("--wait", default=120.0, show_default=True,
              help="Seconds to wait for every city runtime to stop.")
@guard
def supervisor_stop(wait: float) -> None:
    """Stop the supervisor and every city it runs (their sessions stop too)."""
    h = home()
    if client.supervisor_pid(h) is None:
        click.echo("supervisor is not running", err=True)
        sys.exit(1)
    client.request(h, "stop")
    deadline = time.monotonic() + wait
    while holder_pid(h.lock) is not None:
        if time.monotonic() > deadline:
            raise click.ClickException(f"supervisor still running after {wait:g}s")
        time.sleep(0.05)
    click.echo("supervisor stopped")


@supervisor.command("status")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@guard
def supervisor_status(as_json: bool) -> None:
    """Whether the supervisor runs; exit status 1 when it does not."""
    import json

    h = home()
    try:
        data = json.loads(client.request(h, "status", timeout=10.0))
    except client.SupervisorUnavailable:
        if as_json:
            echo_json({"running": False, "home": str(h.root)})
        else:
            click.echo(f"supervisor is not running (home {h.root})")
        sys.exit(1)
    data["running"] = True
    if as_json:
        echo_json(data)
        return
    click.echo(f"supervisor is running (pid {data['pid']}) for {data['home']}; "
               f"{data['cities']} cities, {data['cities_running']} running"
               + (f"; failing: {', '.join(data['failing'])}" if data["failing"] else ""))
    if data.get("registry_error"):
        click.echo(f"registry: {data['registry_error']}")


@supervisor.command("reload")
@guard
def supervisor_reload() -> None:
    """Re-read the registry now and poke every city for a reconcile pass."""
    click.echo(client.request(home(), "reload"))


@supervisor.command("logs")
@click.option("-n", "--lines", default=50, show_default=True, help="Lines to show.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing what is appended.")
def supervisor_logs(lines: int, follow: bool) -> None:
    """Show the supervisor's log (background and service runs write it)."""
    path = home().log
    if not path.exists():
        raise click.ClickException(f"no supervisor log at {path} (gc supervisor start)")
    text = client.tail(path, lines)
    if text:
        click.echo(text)
    if not follow:
        return
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        try:
            while True:
                chunk = fh.read()
                if chunk:
                    click.echo(chunk.decode("utf-8", "replace"), nl=False)
                else:
                    time.sleep(0.25)
        except KeyboardInterrupt:
            return


@supervisor.command("install")
@click.option("--no-enable", is_flag=True,
              help="Write the service file only; do not enable or start it.")
@guard
def supervisor_install(no_enable: bool) -> None:
    """Install the supervisor as a user service that starts on login (systemd / launchd)."""
    h = home()
    h.ensure()
    plan = service.plan(h)
    # A supervisor started by hand holds the home: a second one from the service would
    # only fail on the lock. The service takes over at the next login (or stop + start).
    running = client.supervisor_pid(h)
    service.install(plan, enable=not no_enable, start=running is None)
    if no_enable:
        click.echo(f"wrote {plan.kind} service: {plan.path} (not enabled)")
    elif running is None:
        click.echo(f"installed {plan.kind} service: {plan.path} (enabled and started)")
    else:
        click.echo(f"installed {plan.kind} service: {plan.path} (enabled; a supervisor "
                   f"already runs as pid {running}, so the service takes over from the next "
                   "login)")


@supervisor.command("uninstall")
@guard
def supervisor_uninstall() -> None:
    """Disable and remove the user service (this stops the supervisor it runs)."""
    plan = service.plan(home())
    removed = service.uninstall(plan)
    click.echo(f"removed {plan.path}" if removed else f"no service file at {plan.path}")


@click.command("register")
@_PATH
@click.option("--name", help="Name to register the city under (default: workspace.name).")
@pass_state
@guard
def register_cmd(state: CliState, path: Path | None, name: str | None) -> None:
    """Register a city with the supervisor (started if needed), which then runs it."""
    city_dir = state.city_dir(path)
    h = home()
    added = Registry(h.registry).register(city_dir, name or registration_name(city_dir))
    pid, _ = client.ensure_running(h)
    client.request(h, "reload")
    click.echo(f"{'registered' if added else 'already registered'}: {city_dir} "
               f"(supervisor pid {pid})")


@click.command("unregister")
@_PATH
@click.option("--wait", default=120.0, show_default=True,
              help="Seconds to wait for the city's runtime to stop.")
@pass_state
@guard
def unregister_cmd(state: CliState, path: Path | None, wait: float) -> None:
    """Remove a city from the supervisor; a running supervisor stops its runtime."""
    city_dir = (path.resolve() if path is not None else state.city_dir())
    h = home()
    holder = client.city_holder(city_dir, h)
    if not Registry(h.registry).unregister(city_dir):
        raise click.ClickException(f"{city_dir} is not registered (see gc cities)")
    if holder.kind == "supervisor":
        client.request(h, "reload")
        client.wait_released(city_dir, wait, h)
    click.echo(f"unregistered {city_dir}")


@click.command("cities")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@guard
def cities_cmd(as_json: bool) -> None:
    """Every city registered with the supervisor: name, path, state, last tick, sessions."""
    h = home()
    live = {c["path"]: c for c in client.cities(h) or []}
    running = client.supervisor_pid(h) is not None
    rows: list[dict[str, Any]] = []
    for entry in Registry(h.registry).entries():
        city = live.get(str(entry.path), {})
        state = city.get("state") or ("registered" if running else "supervisor not running")
        rows.append({"name": entry.name, "path": str(entry.path), "state": state,
                     "pid": city.get("pid"), "last_tick": city.get("last_tick"),
                     "sessions": city.get("sessions"), "error": city.get("error")})
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(f"no cities registered in {h.registry} (gc start PATH registers one)")
        return
    click.echo(format_table(
        ["NAME", "PATH", "STATE", "LAST TICK", "SESSIONS"],
        [[r["name"], r["path"], r["state"] + (f" ({str(r['error']).splitlines()[0]})"
                                             if r["state"] == "backoff" and r["error"]
                                             else ""),
          _when(r["last_tick"]), r["sessions"] if r["sessions"] is not None else "-"]
         for r in rows]))

