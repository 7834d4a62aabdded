"""One city's runtime under the supervisor: ``python -m gascity.supervisor.runtime CITY NAME``.

A child process per city is what keeps cities apart: a tick that raises, hangs or leaks
in one city cannot delay another. The child is the ordinary controller
(:func:`run_controller`) plus two pipes to the supervisor:

- stdout carries one JSON line per event (``ready``, ``tick``, ``error``) and nothing
  else; anything a plugin prints goes to stderr, which is the supervisor's log;
- stdin stays open while the supervisor lives. End of file means the supervisor died
  (``kill -9``): the runtime exits at once *without* stopping the city's sessions, so a
  new supervisor adopts them. A graceful stop is SIGTERM, which stops the sessions.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from ..controller.controller import Controller, TickReport
from ..controller.foreground import run_controller
from ..controller.lock import ControllerRunning
from ..errors import ConfigError, GasCityError
from ..osutil import runner
from .client import SupervisorLink
from .home import SupervisorHome

__all__ = ["main"]

log = logging.getLogger("gascity.supervisor.runtime")

_LOG_FORMAT = "%(asctime)s gc[{name}]: %(message)s"


class _Reporter:
    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, **event: Any) -> None:
        with self._lock:
            try:
                self._stream.write(json.dumps(event) + "\n")
                self._stream.flush()
            except (OSError, ValueError):
                pass  # the supervisor is gone; the stdin watcher ends us

    def tick(self, report: TickReport) -> None:
        self.send(event="tick", tick=report.number, at=time.time(),
                  running=sessions_after(report),
                  desired=report.desired, failed=sorted(report.failed),
                  summary=report.summary())


def sessions_after(report: TickReport) -> int:
    """The live sessions a tick left: its listing (taken at the start, so holding the
    sessions it found dead) less the crashed and the stopped, plus those it started
    (a crashed or drifted session started again is in both)."""
    gone = set(report.crashed) | set(report.stopped)
    return max(0, report.running - len(gone)) + len(report.started)


def _watch_supervisor() -> None:
    # The raw fd, not sys.stdin: a daemon thread parked in a buffered read aborts the
    # interpreter's shutdown.
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    log.warning("supervisor gone; exiting and leaving the sessions for the next one to adopt")
    # The sessions stay; a scale check still running would be nobody's (hung, it could
    # outlive the next supervisor's own by its whole probe_timeout).
    runner.kill_probes()
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        print("usage: python -m gascity.supervisor.runtime CITY_DIR [NAME]", file=sys.stderr)
        return 2
    city_dir = Path(args[0])
    # The supervisor's log interleaves every city: each line names its city as the
    # registry does (two cities of one workspace.name are registered apart).
    name = (args[1] if len(args) == 2 else city_dir.name).replace("%", "%%")
    # fd 1 is the report pipe; everything else that writes to stdout goes to the log.
    reports = _Reporter(os.fdopen(os.dup(1), "w", encoding="utf-8"))
    os.dup2(2, 1)
    logging.basicConfig(level=logging.INFO, format=_LOG_FORMAT.format(name=name))
    threading.Thread(target=_watch_supervisor, name="gc-supervisor-watch", daemon=True).start()

    def ready(controller: Controller) -> None:
        controller.supervisor = SupervisorLink(os.getppid(), SupervisorHome.default())
        reports.send(event="ready", pid=os.getpid(), city=controller.city.name)

    try:
        run_controller(city_dir, on_ready=ready, on_tick=reports.tick)
    except ControllerRunning as exc:
        reports.send(event="error", error=f"{city_dir}: {exc} outside the supervisor (gc "
                                          "start --foreground?); the supervisor takes the "
                                          "city over once that controller exits")
        return 3
    except ConfigError as exc:
        reports.send(event="error", error=str(exc))
        return 2
    except GasCityError as exc:
        reports.send(event="error", error=f"{city_dir}: {exc}")
        return 1
    except Exception as exc:
        log.exception("city runtime failed")
        reports.send(event="error", error=f"{city_dir}: {type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
