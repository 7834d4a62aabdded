"""A throwaway PostgreSQL server for tests and benchmarks.

:class:`PostgresServer` runs Debian's ``initdb`` and ``pg_ctl`` in a temporary
directory, listening on a free loopback port and on a unix socket inside that
directory, so nothing outside it is touched. PostgreSQL refuses to run as root, so
when we are root the data directory is handed to the ``postgres`` system user and
every server command runs through ``runuser``.

Example::

    with PostgresServer() as server:
        store = PostgresMail(PluginContext(role="mail", name="postgres",
                                           settings={"dsn": server.dsn}))
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from gascity.testing import free_port

__all__ = ["PostgresServer", "PostgresUnavailable", "find_pg_bin"]

_INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found: install Debian's "
    "'postgresql' package (apt-get install postgresql) or set GC_PG_BIN to their directory"
)

# Durable defaults are the server's own; tests pass ``fast=True`` to trade crash
# safety (meaningless for a throwaway server) for speed.
_FAST = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class PostgresUnavailable(RuntimeError):
    """The server binaries are missing or the server would not start."""


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", path.name)) or (0,)


def find_pg_bin() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``: ``GC_PG_BIN``, else the newest
    ``/usr/lib/postgresql/<ver>/bin``, else wherever ``PATH`` finds ``pg_ctl``."""
    override = os.environ.get("GC_PG_BIN")
    candidates: list[Path] = []
    if override:
        candidates.append(Path(override))
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        versions = sorted((p for p in root.iterdir() if p.is_dir()), key=_version_key)
        candidates.extend(v / "bin" for v in reversed(versions))
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    for cand in candidates:
        if (cand / "initdb").is_file() and (cand / "pg_ctl").is_file():
            return cand
    raise PostgresUnavailable(_INSTALL_HINT)



class PostgresServer:
    """One PostgreSQL cluster in a temp dir; a context manager that starts and removes it.

    ``settings`` go into ``postgresql.conf`` (e.g. ``{"max_connections": "300"}``);
    ``restart()`` stops and starts the same data directory on the same port, which is
    what a "server restarted under load" test needs.
    """

    def __init__(
        self,
        *,
        settings: Mapping[str, str] | None = None,
        fast: bool = True,
        max_connections: int = 300,
        base_dir: Path | None = None,
    ) -> None:
        self.bin = find_pg_bin()
        self.port = free_port()
        self._own_dir = base_dir is None
        self.dir = Path(tempfile.mkdtemp(prefix="gc-pg-")) if base_dir is None else base_dir
        self.data = self.dir / "data"
        self.sockets = self.dir / "sock"
        self.log = self.dir / "server.log"
        conf: dict[str, str] = {"max_connections": str(max_connections)}
        if fast:
            conf.update(_FAST)
        conf.update(settings or {})
        self._conf = conf
        self._as_postgres = os.geteuid() == 0
        self.user = "postgres" if self._as_postgres else pwd.getpwuid(os.geteuid()).pw_name
        self.running = False
        self._initialized = False

    # ---------------------------------------------------------------- addresses

    @property
    def dsn(self) -> str:
        """A libpq keyword DSN over TCP to the ``postgres`` database."""
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres"

    @property
    def socket_dsn(self) -> str:
        return f"host={self.sockets} port={self.port} user={self.user} dbname=postgres"

    # ---------------------------------------------------------------- lifecycle

    def _run(self, argv: Sequence[str], timeout: float = 60.0) -> None:
        cmd = list(argv)
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd=self.dir
        )
        if proc.returncode != 0:
            tail = ""
            if self.log.exists():
                tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
            raise PostgresUnavailable(
                f"{Path(cmd[cmd.index('--') + 1] if '--' in cmd else cmd[0]).name} failed "
                f"(exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
                + (f"\nserver log:\n{tail}" if tail else "")
            )

    def _init(self) -> None:
        self.sockets.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            pw = pwd.getpwnam("postgres")
            for path in (self.dir, self.sockets):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        self._run(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                self.user,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            timeout=120,
        )
        lines = [
            f"port = {self.port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.sockets}'",
            *(f"{k} = '{v}'" for k, v in self._conf.items()),
        ]
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# gascity_pgmail.testing\n" + "\n".join(lines) + "\n")
        self._initialized = True

    def start(self) -> None:
        if not self._initialized:
            self._init()
        self._run(
            [
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-w",
                "-t",
                "60",
                "start",
            ],
            timeout=90,
        )
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast`` rolls back open transactions and disconnects)."""
        if not self.running:
            return
        self._run(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"],
            timeout=90,
        )
        self.running = False

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def close(self) -> None:
        try:
            self.stop("immediate")
        finally:
            if self._own_dir:
                shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
