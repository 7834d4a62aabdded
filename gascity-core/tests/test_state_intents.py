"""One owner for controller state (issue 12, defect 5): `gc agent resume` asks the
running controller to forget a quarantine instead of editing controller-state.json
under it (which the controller then overwrote with its own copy). Failed before."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from gascity.controller import Controller
from gascity.testing import FakeProvider, MemoryEvents, open_test_city


def test_unquarantine_intent_is_applied_by_the_running_controller(tmp_path: Path) -> None:
    (tmp_path / "city.toml").write_text(
        '[workspace]\nname = "owner"\n\n[daemon]\nmax_restarts = 1\npatrol_interval = "1h"\n\n'
        '[[agent]]\nname = "a0"\ncommand = "x"\n'
    )
    fake = FakeProvider()
    city = open_test_city(tmp_path, session=fake, events=MemoryEvents())
    controller = Controller(city)
    try:
        controller.tick()
        while "a0" in fake.names():
            fake.kill("a0")
            controller.tick()
        assert "a0" in controller.state.quarantined
        loop = threading.Thread(target=controller.run, daemon=True)
        loop.start()
        reply = controller.handle_command("unquarantine a0")
        assert reply.startswith("ok a0 unquarantined"), reply
        deadline = time.monotonic() + 10
        while "a0" not in fake.names() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "a0" in fake.names(), "the resumed agent was not started again"
        assert "a0" not in controller.state.quarantined
        saved = json.loads((tmp_path / ".gc" / "controller-state.json").read_text())
        assert "a0" not in (saved.get("quarantined") or {})
    finally:
        controller.stop_requested()
        city.close()
