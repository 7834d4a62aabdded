"""A throwaway MySQL-protocol server for tests and benchmarks.

MariaDB from Debian's ``mariadb-server`` package stands in for Dolt's wire protocol:
:class:`MariaDBServer` creates a data directory with ``mariadb-install-db``, runs
``mariadbd`` on a free loopback port and creates a password-protected user, so the
tests exercise the same TCP + password path a real deployment uses. ``stop()`` and
``start()`` reuse the data directory and the port, which is how the tests restart the
server under running writers.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from gascity.testing import free_port

__all__ = ["MariaDBServer", "MariaDBUnavailable", "free_port"]

_INSTALL_HINT = (
    "the dolt events tests need a MySQL-protocol server: install Debian's mariadb-server "
    "package (apt-get install mariadb-server), which provides mariadbd and mariadb-install-db"
)


class MariaDBUnavailable(RuntimeError):
    """mariadbd is not installed or did not come up."""



def _binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin")
    if path is None:
        raise MariaDBUnavailable(f"{name} not found: {_INSTALL_HINT}")
    return path


class MariaDBServer:
    """``with MariaDBServer() as db: db.settings(database="x")``.

    :param durable: fsync the InnoDB log at every commit (the server default). Tests
        and benchmarks default to ``False`` (flush once a second), which is what the
        file backend's plain ``write`` compares against.
    """

    user = "gc"
    password = "gc-test-password"  # a throwaway server on loopback; not a secret

    def __init__(self, base_dir: Path | None = None, *, durable: bool = False) -> None:
        self._own_dir = base_dir is None
        self.base = Path(base_dir or tempfile.mkdtemp(prefix="gc-mariadb-"))
        self.datadir = self.base / "data"
        self.socket_path = self.base / "mysqld.sock"
        self.error_log = self.base / "error.log"
        self.init_file = self.base / "init.sql"
        self.port = free_port()
        self.host = "127.0.0.1"
        self.durable = durable
        self._proc: subprocess.Popen[bytes] | None = None

    # ----------------------------------------------------------------- lifecycle

    def __enter__(self) -> MariaDBServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _install(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [
                _binary("mariadb-install-db"),
                "--no-defaults",
                f"--datadir={self.datadir}",
                "--user=root",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ],
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            raise MariaDBUnavailable(
                "mariadb-install-db failed:\n" + result.stderr.decode(errors="replace")[-2000:]
            )
        # Runs at every start; IF NOT EXISTS keeps it idempotent across restarts.
        self.init_file.write_text(
            f"CREATE USER IF NOT EXISTS '{self.user}'@'%' IDENTIFIED BY '{self.password}';\n"
            f"GRANT ALL PRIVILEGES ON *.* TO '{self.user}'@'%';\n",
            encoding="utf-8",
        )

    def start(self, timeout: float = 60.0) -> None:
        """Start the server (installing the data directory the first time)."""
        if self._proc is not None and self._proc.poll() is None:
            return
        if not (self.datadir / "mysql").is_dir():
            self._install()
        argv = [
            _binary("mariadbd"),
            "--no-defaults",
            "--user=root",
            f"--datadir={self.datadir}",
            f"--socket={self.socket_path}",
            f"--pid-file={self.base / 'mysqld.pid'}",
            f"--log-error={self.error_log}",
            f"--tmpdir={self.base}",
            f"--init-file={self.init_file}",
            f"--port={self.port}",
            f"--bind-address={self.host}",
            "--skip-name-resolve",
            "--skip-log-bin",
            "--performance-schema=OFF",
            "--max-connections=600",
            "--innodb-buffer-pool-size=256M",
            "--innodb-log-file-size=96M",
            f"--innodb-flush-log-at-trx-commit={1 if self.durable else 2}",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_bin",
        ]
        self._proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        import pymysql

        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise MariaDBUnavailable(f"mariadbd exited during startup:\n{self.log_tail()}")
            try:
                conn = pymysql.connect(**self.connect_args(), connect_timeout=2)
            except pymysql.err.Error as exc:
                last = exc
                time.sleep(0.05)
                continue
            conn.close()
            return
        self.stop()
        raise MariaDBUnavailable(
            f"mariadbd did not accept connections within {timeout}s ({last}):\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 30.0) -> None:
        """Shut the server down cleanly (SIGTERM), keeping the data directory."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        """Stop the server and remove everything this object created."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.base, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # ------------------------------------------------------------------- helpers

    def connect_args(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
        }

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """An ``[events.dolt]`` table pointing at this server."""
        table: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
        }
        table.update(overrides)
        return table

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.error_log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no error log)"
        return "\n".join(text.splitlines()[-lines:])

    def __repr__(self) -> str:
        return f"MariaDBServer(port={self.port}, datadir={str(self.datadir)!r})"
