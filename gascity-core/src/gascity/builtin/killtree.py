"""Ending a whole session: TERM, a bounded grace, then KILL, without fixed sleeps.

Signals go through pidfds, so a pid that exits and is reused between the scan and the
signal can never hit a stranger, and waiting is a ``poll`` on those pidfds that wakes
the moment the last one exits.
"""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Callable

from .proc import ProcStat, read_stat

__all__ = ["signal_all", "terminate"]

Scan = Callable[[], list[ProcStat]]


class _Tracked:
    """Open pidfds of every process seen so far, verified by start time."""

    def __init__(self) -> None:
        self.fds: dict[int, int] = {}
        self.exited: set[int] = set()

    def add(self, stats: list[ProcStat]) -> list[int]:
        new: list[int] = []
        for stat in stats:
            if stat.pid in self.fds:
                continue
            try:
                fd = os.pidfd_open(stat.pid)
            except OSError:
                continue  # already gone
            # Checked after opening: the fd now pins this exact process.
            now = read_stat(stat.pid)
            if now is None or now.start_time != stat.start_time or not now.live:
                os.close(fd)
                continue
            self.fds[stat.pid] = fd
            new.append(stat.pid)
        return new

    def signal(self, pids: list[int], sig: int) -> None:
        for pid in pids:
            if pid in self.exited:
                continue
            try:
                signal.pidfd_send_signal(self.fds[pid], sig)
            except ProcessLookupError:
                self.exited.add(pid)

    def live(self) -> list[int]:
        return [pid for pid in self.fds if pid not in self.exited]

    def wait(self, deadline: float) -> bool:
        """Wait until every tracked process has exited or ``deadline``; True if all did."""
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

    def close(self) -> None:
        for fd in self.fds.values():
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
