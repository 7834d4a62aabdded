"""``gc doctor``: one line per check, ok / warn / fail, and what to do about it.

Every check runs whatever the others found: a broken city.toml still gets its
plugins, binaries and permissions checked. Nothing a check prints comes from a
settings table, so secrets (database passwords) cannot reach the output; store errors
are the plugins' own messages, which never carry them.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..types import DoctorCheck
from .common import EXIT_FAILED, CliState, echo_json, pass_state

if TYPE_CHECKING:
    from ..config import LoadedConfig

__all__ = ["Check", "doctor", "run_checks"]

OK, WARN, FAIL = "ok", "warn", "fail"


Check = DoctorCheck


def _config(city_dir: Path) -> tuple[list[Check], LoadedConfig | None]:
    from ..config import load_city
    from ..errors import ConfigError

    try:
        loaded = load_city(city_dir)
    except ConfigError as exc:
        first = str(exc).splitlines()[0]
        return [Check(FAIL, "config", first, "fix city.toml; gc config validate shows "
                                              "every problem")], None
    checks = [Check(OK, "config", f"{loaded.path}: {len(loaded.config.agent)} agent(s)")]
    checks += [Check(WARN, "config", w, "the key is read but has no effect here")
               for w in loaded.warnings]
    return checks, loaded


def _plugins(loaded: LoadedConfig | None) -> list[Check]:
    from ..plugins import PluginManager
    from ..plugins.manager import SELECTABLE, TEST_ONLY_PROVIDERS, TEST_PROVIDERS_ENV

    config = loaded.config if loaded else None
    pm = PluginManager(disabled=config.plugins.disabled if config else ())
    checks: list[Check] = []
    selected: dict[str, str] = {}
    for role in SELECTABLE:
        try:
            selected[role] = pm.resolve(role, config.section(role).provider
                                        if config else None).name
        except Exception as exc:
            checks.append(Check(FAIL, "plugins", f"[{role}] provider: {exc}",
                                "pip install the distribution that provides it, or "
                                "choose another in city.toml"))
    for rec in pm.check_all():
        chosen = selected.get(rec.role) == rec.name
        what = (f"{rec.role}:{rec.name} {rec.distribution} {rec.version}"
                + (" (selected)" if chosen else ""))
        if rec.error:
            checks.append(Check(FAIL if chosen else WARN, "plugins", f"{what}: {rec.error}",
                                f"reinstall {rec.distribution}"))
        elif chosen and rec.role == "session" and rec.name in TEST_ONLY_PROVIDERS:
            refused = not pm.allows_test_providers
            checks.append(Check(FAIL if refused else WARN, "plugins",
                                f"{what}: a test double, no agent really runs"
                                + (f" (refused without {TEST_PROVIDERS_ENV}=1)" if refused
                                   else ""),
                                "choose one of: " + ", ".join(pm.installed_names("session"))))
        elif chosen:
            checks.append(Check(OK, "plugins", what))
    return checks


def _binaries(loaded: LoadedConfig | None) -> list[Check]:
    """The programs the city will run: the session provider's and every agent's."""
    if loaded is None:
        return []
    from ..config.presets import ProviderError, resolve_launch

    config = loaded.config
    wanted: dict[str, list[str]] = {}
    provider = os.environ.get("GC_SESSION") or config.session.provider or ""
    if provider.startswith("tmux") or not provider:
        wanted.setdefault("tmux", []).append("[session] provider")
    if provider.startswith("k8s"):
        wanted.setdefault("kubectl", []).append("[session] provider (optional)")
    checks: list[Check] = []
    for agent in config.agent:
        try:
            launch = resolve_launch(agent, config.workspace, config.providers)
        except ProviderError as exc:
            checks.append(Check(FAIL, "binaries", f"agent {agent.name}: {exc}",
                                "set the agent's provider or start_command"))
            continue
        try:
            argv = shlex.split(launch.command)
        except ValueError as exc:
            checks.append(Check(FAIL, "binaries", f"agent {agent.name}: command does not "
                                                  f"parse: {exc}", "fix its quoting"))
            continue
        # `sh -c '...'`-style wrappers and env assignments: the first real program.
        program = next((a for a in argv if "=" not in a), "")
        if program:
            wanted.setdefault(program, []).append(f"agent {agent.name}")
    for program, users in sorted(wanted.items()):
        where = shutil.which(program, path=os.environ.get("PATH")) if "/" not in program \
            else (program if os.access(program, os.X_OK) else None)
        used = ", ".join(users)
        if where:
            checks.append(Check(OK, "binaries", f"{program}: {where} ({used})"))
        else:
            optional = all("optional" in u for u in users)
            checks.append(Check(WARN if optional else FAIL, "binaries",
                                f"{program}: not found on PATH ({used})",
                                f"install {program} or fix PATH"))
    return checks


def _controller(city_dir: Path) -> list[Check]:
    from ..controller import CityPaths
    from ..controller.lock import holder_pid
    from ..supervisor.client import city_holder

    paths = CityPaths(city_dir)
    holder = city_holder(city_dir)
    pid = holder_pid(paths.lock)
    checks: list[Check] = []
    if holder.kind == "nobody" and pid is None:
        checks.append(Check(WARN, "controller", "no controller runs the city",
                            f"gc start {city_dir}"))
    else:
        checks.append(Check(OK, "controller", holder.describe()))
    if paths.socket.exists() and pid is None:
        checks.append(Check(WARN, "controller", f"{paths.socket}: left by a controller that "
                                                "exited", "harmless; the next start "
                                                          "replaces it (gc doctor --fix "
                                                          "removes it)"))
    return checks


def _walk(root: Path) -> Iterator[Path]:
    yield root
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        for name in dirnames + filenames:
            yield base / name


def _permissions(city_dir: Path, limit: int | None = 5) -> list[Check]:
    state = city_dir / ".gc"
    if not state.exists():
        return [Check(OK, "permissions", f"{state}: not created yet")]
    loose: list[str] = []
    others: list[str] = []
    uid = os.getuid()
    for path in _walk(state):
        try:
            st = path.lstat()
        except OSError:
            continue  # removed while we looked
        if stat.S_ISLNK(st.st_mode) or stat.S_ISSOCK(st.st_mode):
            continue
        if st.st_uid != uid:
            others.append(str(path))
        if st.st_mode & 0o077:
            loose.append(f"{path} ({stat.S_IMODE(st.st_mode):04o})")
    checks: list[Check] = []
    if loose:
        checks.append(Check(FAIL, "permissions", f"readable by others: {_some(loose, limit)}",
                            f"gc doctor --fix (or chmod -R go= {state})"))
    if others:
        checks.append(Check(WARN, "permissions", f"not owned by you: {_some(others, limit)}",
                            "run gc as the city's owner"))
    if not checks:
        checks.append(Check(OK, "permissions", f"{state}: yours alone"))
    return checks


def _leftovers(city_dir: Path) -> list[Path]:
    """Session directories a stop renamed and was killed before removing."""
    try:
        return sorted(p for p in (city_dir / ".gc" / "sessions").iterdir()
                      if p.name.startswith(".gone-"))
    except OSError:
        return []


def _files(city_dir: Path, limit: int | None = 5) -> list[Check]:
    left = _leftovers(city_dir)
    if not left:
        return []
    return [Check(WARN, "files", f"{len(left)} session dir(s) left by interrupted stops: "
                                 + _some([p.name for p in left], limit),
                  "gc doctor --fix removes them (so does the next listing)")]


def _stale_socket(city_dir: Path) -> Path | None:
    """The controller socket, when it is ours and nothing listens on it any more."""
    import errno
    import socket

    from ..controller import CityPaths
    from ..controller.lock import holder_pid

    paths = CityPaths(city_dir)
    try:
        st = paths.socket.lstat()
    except OSError:
        return None
    if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.getuid():
        return None
    if holder_pid(paths.lock) is not None:
        return None
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(paths.socket))
    except OSError as exc:
        return paths.socket if exc.errno in (errno.ECONNREFUSED, errno.ENOENT) else None
    finally:
        probe.close()
    return None  # something answers: not ours to remove


def fix(city_dir: Path) -> list[str]:
    """Repair what is safe to repair; one line per change.

    Safe means nothing that runs can lose by it: group/other bits come off what you
    own under ``.gc/``, a socket nobody listens on and no controller holds the lock
    for is removed, and so are session dirs an interrupted stop left. The controller
    lock file stays: it is an ``flock``, never stale, and removing it could let a
    second controller start beside the one holding it.
    """
    import shutil

    changed: list[str] = []
    state = city_dir / ".gc"
    uid = os.getuid()
    for path in _walk(state) if state.exists() else ():
        try:
            st = path.lstat()
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode) or stat.S_ISSOCK(st.st_mode) or st.st_uid != uid:
            continue
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            try:
                os.chmod(path, mode & ~0o077)
            except OSError as exc:
                changed.append(f"{path}: cannot chmod: {exc.strerror or exc}")
                continue
            changed.append(f"{path}: mode {mode:04o} -> {mode & ~0o077:04o}")
    sock = _stale_socket(city_dir)
    if sock is not None:
        try:
            sock.unlink()
            changed.append(f"{sock}: removed (left by a controller that exited)")
        except OSError as exc:
            changed.append(f"{sock}: cannot remove: {exc.strerror or exc}")
    for left in _leftovers(city_dir):
        shutil.rmtree(left, ignore_errors=True)
        changed.append(f"{left}: removed (left by an interrupted stop)"
                       if not left.exists() else f"{left}: cannot remove")
    return changed


def _stores(city_dir: Path, loaded: LoadedConfig | None) -> list[Check]:
    """Open the event and mail stores and ask each one cheap question."""
    if loaded is None:
        return []
    from ..city import City
    from ..types import EventFilter

    checks: list[Check] = []
    try:
        city = City.open(city_dir, roles=("events", "mail"), observers=False)
    except Exception as exc:
        return [Check(FAIL, "stores", f"cannot open the stores: {_one_line(exc)}",
                      "check [events] / [mail] and that their server runs")]
    try:
        for role, probe in (
            ("events", lambda: city.hooks.list_events(EventFilter(limit=1, newest=True))),
            ("mail", lambda: city.hooks.mail_count("human")),
        ):
            name = city.selected(role)
            try:
                probe()
            except Exception as exc:
                checks.append(Check(FAIL, "stores", f"{role} store {name}: {_one_line(exc)}",
                                    f"check [{role}] settings and that the server runs"))
            else:
                checks.append(Check(OK, "stores", f"{role} store {name}: reachable"))
        try:
            info: dict[str, Any] = city.hooks.status_info()
        except Exception:
            info = {}
        for key, value in sorted(info.items()):
            if key.endswith("spool_depth"):
                depth = int(value or 0)
                checks.append(Check(WARN if depth else OK, "stores",
                                    f"{key}: {depth} event(s) waiting",
                                    "the store was unreachable; they are sent when it "
                                    "answers" if depth else ""))
    finally:
        city.close()
    return checks


def _plugin_checks(city_dir: Path, loaded: LoadedConfig | None) -> list[Check]:
    """What the selected plugins say about their own needs (a cluster, a server)."""
    if loaded is None:
        return []
    from ..city import City

    try:
        city = City.open(city_dir, observers=False)
    except Exception as exc:
        return [Check(FAIL, "plugins", f"cannot activate the plugins: {_one_line(exc)}",
                      "gc plugins lists what is installed; gc config validate checks "
                      "their settings")]
    try:
        return city.hooks.doctor_checks()
    finally:
        city.close()


def _one_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _some(items: list[str], limit: int | None) -> str:
    """The first ``limit`` items (all with None), and "..." when some are left out."""
    shown = items if limit is None else items[:limit]
    return ", ".join(shown) + (" ..." if len(shown) < len(items) else "")


def run_checks(city_dir: Path, verbose: bool = False) -> list[Check]:
    """Every check; ``verbose`` lists every path a check found, not the first five."""
    limit = None if verbose else 5
    checks, loaded = _config(city_dir)
    steps: list[Callable[[], list[Check]]] = [
        lambda: _plugins(loaded), lambda: _binaries(loaded), lambda: _controller(city_dir),
        lambda: _stores(city_dir, loaded), lambda: _plugin_checks(city_dir, loaded),
        lambda: _permissions(city_dir, limit),
        lambda: _files(city_dir, limit),
    ]
    for step in steps:
        try:
            checks += step()
        except Exception as exc:  # one broken check must not hide the others
            checks.append(Check(FAIL, "doctor", f"a check failed to run: {_one_line(exc)}"))
    return checks


@click.command()
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True,
              help="The checks as a JSON list (with --fix: an object of fixed and checks).")
@click.option("--fix", "fix_", is_flag=True,
              help="First repair what is safe: modes under .gc/, a socket left by an exited "
                   "controller, session dirs left by interrupted stops; one line per change.")
@click.option("-v", "--verbose", is_flag=True,
              help="Every path a check found (not the first five), and ok checks' hints.")
@pass_state
def doctor(state: CliState, path: Path | None, as_json: bool, fix_: bool,
           verbose: bool) -> None:
    """Check the city's health: config, plugins, binaries, controller, files, stores.

    One line per check: ok, warn or fail, with a hint for what is not ok. Exits 1 when
    a check failed, 0 otherwise (warnings included). With --fix the checks run after the
    repairs, so they show what is left.
    """
    city_dir = state.city_dir(path)
    fixed = fix(city_dir) if fix_ else []
    checks = run_checks(city_dir, verbose)
    if as_json:
        rows = [asdict(c) for c in checks]
        echo_json({"fixed": fixed, "checks": rows} if fix_ else rows)
    else:
        for line in fixed:
            click.echo(f"{'fixed':<4}  {'':<11}  {line}")
        if fix_ and not fixed:
            click.echo("nothing to fix")
        for c in checks:
            hint = f"  -> {c.hint}" if c.hint and (c.level != OK or verbose) else ""
            click.echo(f"{c.level:<4}  {c.area:<11}  {c.text}{hint}")
        fails = sum(c.level == FAIL for c in checks)
        warns = sum(c.level == WARN for c in checks)
        click.echo(f"{len(checks)} checks: {fails} failed, {warns} warnings")
    if any(c.level == FAIL for c in checks):
        sys.exit(EXIT_FAILED)
