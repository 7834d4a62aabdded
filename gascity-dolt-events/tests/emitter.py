"""A separate emitting process for the multi-process tests.

    python emitter.py CITY_DIR SETTINGS_JSON ACTOR PLAN_JSON

``PLAN_JSON`` is a list of steps ``[count, ready_file, go_file]``: emit ``count``
events (message = running index), then create ``ready_file`` (if any), then wait for
``go_file`` (if any). The password comes through ``password_env``, never argv. Prints
one JSON line: the seq returned for each event (``null`` when it was spooled).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from gascity.plugins import PluginContext
from gascity.types import EventDraft
from gascity_dolt_events.store import DoltEvents


def main(argv: list[str]) -> int:
    city_dir, settings_json, actor, plan_json = argv
    import os

    ctx = PluginContext(
        role="events",
        name="dolt",
        settings=json.loads(settings_json),
        city_name="testcity",
        city_dir=Path(city_dir),
        env=dict(os.environ),
    )
    store = DoltEvents(ctx)
    seqs: list[int | None] = []
    index = 0
    for count, ready_file, go_file in json.loads(plan_json):
        for _ in range(count):
            event = store.emit_event(EventDraft(type="burst", actor=actor, message=str(index)))
            seqs.append(None if event is None else event.seq)
            index += 1
        if ready_file:
            Path(ready_file).touch()
        if go_file:
            while not Path(go_file).exists():
                time.sleep(0.01)
    store.shutdown()
    print(json.dumps({"actor": actor, "seqs": seqs}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
