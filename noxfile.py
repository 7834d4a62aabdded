"""The test matrix: lint, typecheck, tests per distribution, conformance per provider,
a wheel build installed into a clean venv, the demo and the benchmarks.

``nox -s tests`` is the command CI runs (see README.md).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"

ROOT = Path(__file__).parent
# Order matters for installs: the core first, then the plugins that depend on it.
DISTS = [
    "gascity-core",
    "gascity-tmux",
    "gascity-exec",
    "gascity-k8s",
    "gascity-dolt-events",
    "gascity-pgmail",
    "gascity-dashboard",
]
PRESENT = [d for d in DISTS if (ROOT / d / "pyproject.toml").exists()]
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
# Every install is held to the versions CI was last green with (regenerate with
# `nox -s lock`); a package the file does not name installs at its newest.
CONSTRAINTS = ["-c", str(ROOT / "constraints.txt")]


def group(name: str) -> list[str]:
    """A dependency group of the root pyproject.toml (test, lint, typecheck, build)."""
    return list(nox.project.dependency_groups(PYPROJECT, name))


# Every plugin with a conformance kit, and where its conformance test class lives.
CONFORMANCE = {
    "session-subprocess": "gascity-core/tests/test_subprocess_provider.py",
    "session-tmux": "gascity-tmux/tests",
    "session-exec": "gascity-exec/tests",
    "session-k8s": "gascity-k8s/tests",
    "session-nohup": "examples/third-party-provider/tests",
    "events-file": "gascity-core/tests/test_file_events.py",
    "events-dolt": "gascity-dolt-events/tests",
    "mail-sqlite": "gascity-core/tests/test_sqlite_mail.py",
    "mail-postgres": "gascity-pgmail/tests",
}
EXAMPLE = "examples/third-party-provider"


def install_all(session: nox.Session, *extra: str, testing: bool = True) -> None:
    """Every distribution, editable, each with its own ``testing`` extra: what a
    distribution's tests need is declared by that distribution, and installed from there."""
    suffix = "[testing]" if testing else ""
    args: list[str] = []
    for dist in PRESENT:
        args += ["-e", f"{dist}{suffix}"]
    session.install(*CONSTRAINTS, *args, *extra)


@nox.session
def lint(session: nox.Session) -> None:
    session.install(*CONSTRAINTS, *group("lint"))
    session.run("ruff", "check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    install_all(session, *group("typecheck"), *group("test"))
    session.run("mypy", *[f"{d}/src" for d in PRESENT], "examples/third-party-provider/src")


@nox.session
def tests(session: nox.Session) -> None:
    """Every distribution's tests in one run, against real tmux/PostgreSQL/MariaDB."""
    install_all(session, *group("test"), "-e", f"{EXAMPLE}[testing]")
    paths = [f"{d}/tests" for d in PRESENT] + [f"{EXAMPLE}/tests", "tests"]
    paths = [p for p in paths if (ROOT / p).is_dir()]
    session.run("pytest", *(session.posargs or paths))


@nox.session
@nox.parametrize("dist", [*PRESENT, EXAMPLE])
def dist_tests(session: nox.Session, dist: str) -> None:
    """One distribution's tests in a venv holding only it, the core and test tools."""
    session.install(*CONSTRAINTS, "-e", "gascity-core")
    session.install(*CONSTRAINTS, "-e", f"{dist}[testing]")
    session.run("pytest", f"{dist}/tests", *session.posargs)


@nox.session
@nox.parametrize("plugin", list(CONFORMANCE))
def conformance(session: nox.Session, plugin: str) -> None:
    """One plugin's conformance kit (sessions, events or mail)."""
    install_all(session, "-e", f"{EXAMPLE}[testing]")
    session.run("pytest", CONFORMANCE[plugin], "-k", "Conformance", *session.posargs)


@nox.session
def build(session: nox.Session) -> None:
    """Build every wheel into dist/, install gascity[all] from them into a clean venv,
    check each wheel's metadata and list the plugins."""
    session.install(*CONSTRAINTS, *group("build"))
    out = ROOT / "dist"
    shutil.rmtree(out, ignore_errors=True)
    for dist in [*PRESENT, "."]:
        session.run("python", "-m", "build", "--wheel", "--outdir", str(out), dist)
    check_wheels(session, out)
    venv = Path(tempfile.mkdtemp(prefix="gascity-wheel-venv-"))
    session.run("python", "-m", "venv", str(venv))
    py = str(venv / "bin" / "python")
    session.run(py, "-m", "pip", "install", "-q", "--find-links", str(out),
                "gascity[all]", external=True)
    listing = session.run(str(venv / "bin" / "gc"), "plugins", "--json",
                          external=True, silent=True)
    plugins = {(p["role"], p["name"]) for p in json.loads(str(listing))}
    expected = {
        ("session", "subprocess"), ("session", "tmux"), ("session", "exec"),
        ("session", "k8s"), ("events", "file"), ("events", "dolt"),
        ("mail", "sqlite"), ("mail", "postgres"), ("observers", "dashboard"),
    }
    missing = expected - plugins
    if missing:
        session.error(f"plugins missing from the wheel install: {sorted(missing)}")
    session.log(f"wheels kept in {out}; plugins: {sorted(plugins)}")
    shutil.rmtree(venv, ignore_errors=True)


def check_wheels(session: nox.Session, out: Path) -> None:
    """One version on every wheel, ranges on core in the plugins, exact pins only in the
    meta-distribution, and the classifiers and license in each."""
    import email.parser
    import zipfile

    versions: dict[str, str] = {}
    for wheel in sorted(out.glob("*.whl")):
        with zipfile.ZipFile(wheel) as zf:
            name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
            meta = email.parser.Parser().parsestr(zf.read(name).decode())
        dist, version = meta["Name"], meta["Version"]
        versions[dist] = version
        requires = meta.get_all("Requires-Dist") or []
        first_party = [r for r in requires if r.startswith("gascity")]
        if dist == "gascity":
            bad = [r for r in first_party if f"=={version}" not in r]
        else:
            bad = [r for r in first_party if "==" in r]
        if bad:
            session.error(f"{wheel.name}: wrong first-party requirements {bad}")
        if meta["License-Expression"] != "MIT" or not meta.get_all("Classifier"):
            session.error(f"{wheel.name}: missing license expression or classifiers")
    if len(set(versions.values())) != 1:
        session.error(f"the wheels carry more than one version: {versions}")


@nox.session
def demo(session: nox.Session) -> None:
    """Create a demo city on embedded defaults, start it under the supervisor, show it."""
    install_all(session, testing=False)
    city = Path(os.environ.get("GC_DEMO_DIR", tempfile.mkdtemp(prefix="gascity-demo-")))
    session.run("gc", "init", str(city), "--name", "demo")
    session.run("gc", "start", str(city))
    session.run("gc", "--city", str(city), "status")
    gc = Path(session.bin) / "gc"
    session.log(f"demo city in {city}; the supervisor keeps it running. "
                f"Look at it with: {gc} --city {city} session list")
    session.log(f"stop it (its sessions, and take it out of the supervisor): {gc} stop {city}")
    session.log(f"stop the supervisor too: {gc} supervisor stop")


@nox.session
def faults(session: nox.Session) -> None:
    """The fault suite at full size (kill -9, torn writes, hostile probes, concurrent
    writers); writes docs/reliability.md. ``-- --quick`` runs a fifth of the trials."""
    install_all(session, *group("test"))
    session.run("python", "-m", "faults", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """The scaling benchmark; writes benchmarks/RESULTS.md and plots."""
    install_all(session, *group("test"))
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def lock(session: nox.Session) -> None:
    """Rewrite constraints.txt from a fresh install of everything the sessions use."""
    install_all(session, *group("test"), *group("typecheck"), *group("lint"),
                *group("build"), "-e", f"{EXAMPLE}[testing]")
    frozen = session.run("python", "-m", "pip", "freeze", "--exclude-editable",
                         silent=True)
    lines = [ln for ln in str(frozen).splitlines() if ln and not ln.startswith("-e")]
    (ROOT / "constraints.txt").write_text(
        "# Written by `nox -s lock`: the versions every nox session installs.\n"
        + "\n".join(sorted(lines, key=str.lower)) + "\n"
    )
