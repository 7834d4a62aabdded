"""Ending a whole session: TERM, a bounded grace, then KILL, without fixed sleeps.

Signals go through pidfds, so a pid that exits and is reused between the scan and the
signal can never hit a stranger, and waiting is a ``poll`` on those pidfds that wakes
the moment the last one exits. Where there are no pidfds (macOS, or the ``psutil``
backend of :mod:`.proctree`), each signal is sent by pid right after the process's start
time has been checked again, and waiting polls the table every few milliseconds.
"""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Callable

from . import proctree
from .proctree import ProcStat, read_stat

__all__ = ["signal_all", "terminate"]

Scan = Callable[[], list[ProcStat]]

_POLL = 0.01


def _have_pidfd() -> bool:
    return hasattr(os, "pidfd_open") and proctree.backend() == "proc"


class _Tracked:
    """Open pidfds of every process seen so far, verified by start time."""

    def __init__(self) -> None:
        self.fds: dict[int, int] = {}
        """pid -> pidfd (``-1`` without pidfds: the start time below stands in)."""
        self.starts: dict[int, int] = {}
        self.exited: set[int] = set()
        self.pidfd = _have_pidfd()

    def _same(self, pid: int) -> bool:
        now = read_stat(pid)
        return now is not None and now.start_time == self.starts[pid] and now.live

    def add(self, stats: list[ProcStat]) -> list[int]:
        new: list[int] = []
        for stat in stats:
            if stat.pid in self.fds:
                continue
            fd = -1
            if self.pidfd:
                try:
                    fd = os.pidfd_open(stat.pid)
                except OSError:
                    continue  # already gone
            # Checked after opening: the fd now pins this exact process.
            self.starts[stat.pid] = stat.start_time
            if not self._same(stat.pid):
                if fd >= 0:
                    os.close(fd)
                del self.starts[stat.pid]
                continue
            self.fds[stat.pid] = fd
            new.append(stat.pid)
        return new

    def signal(self, pids: list[int], sig: int) -> None:
        for pid in pids:
            if pid in self.exited:
                continue
            try:
                if self.pidfd:
                    signal.pidfd_send_signal(self.fds[pid], sig)
                elif self._same(pid):
                    os.kill(pid, sig)
                else:
                    self.exited.add(pid)
            except ProcessLookupError:
                self.exited.add(pid)
            except PermissionError:
                self.exited.add(pid)  # not ours to signal: stop tracking it

    def live(self) -> list[int]:
        return [pid for pid in self.fds if pid not in self.exited]

    def wait(self, deadline: float) -> bool:
        """Wait until every tracked process has exited or ``deadline``; True if all did."""
        if not self.pidfd:
            return self._poll_wait(deadline)
        while True:
            pending = {self.fds[pid]: pid for pid in self.live()}
            if not pending:
                return True
            remaining = deadline - time.monotonic()
            poller = select.poll()
            for fd in pending:
                poller.register(fd, select.POLLIN)
            ready = poller.poll(max(0, int(remaining * 1000)) if remaining > 0 else 0)
            for fd, _ in ready:
                self.exited.add(pending[fd])
            if not ready and remaining <= 0:
                return False

    def _poll_wait(self, deadline: float) -> bool:
        while True:
            for pid in self.live():
                if not self._same(pid):
                    self.exited.add(pid)
            if not self.live():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(_POLL, max(0.0, deadline - time.monotonic())))

    def close(self) -> None:
        for fd in self.fds.values():
            if fd >= 0:
                os.close(fd)
        self.fds.clear()


def signal_all(stats: list[ProcStat], sig: int) -> int:
    """Send ``sig`` to each process (pid-reuse safe); return how many were signalled."""
    tracked = _Tracked()
    try:
        pids = tracked.add(stats)
        tracked.signal(pids, sig)
        return len([p for p in pids if p not in tracked.exited])
    finally:
        tracked.close()


def terminate(scan: Scan, grace: float, kill_wait: float = 5.0) -> int:
    """TERM everything ``scan`` returns, wait up to ``grace``, KILL the rest.

    ``scan`` is called again after each wait so that processes forked during the
    shutdown are caught too. Returns how many processes were found.
    """
    tracked = _Tracked()
    try:
        for sig, limit in ((signal.SIGTERM, grace), (signal.SIGKILL, kill_wait)):
            deadline = time.monotonic() + limit
            pids = tracked.add(scan())
            tracked.signal(tracked.live(), sig)
            if sig == signal.SIGTERM:
                # A stopped process would sit on its TERM until continued.
                tracked.signal(tracked.live(), signal.SIGCONT)
            while True:
                done = tracked.wait(deadline)
                pids = tracked.add(scan())
                if pids:
                    tracked.signal(pids, sig)
                    if sig == signal.SIGTERM:
                        tracked.signal(pids, signal.SIGCONT)
                    if time.monotonic() < deadline:
                        continue
                if done and not pids:
                    return len(tracked.fds)
                if time.monotonic() >= deadline:
                    break
        return len(tracked.fds)
    finally:
        tracked.close()
