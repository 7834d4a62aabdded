"""A steady tick does the least work: no StartConfig, no hashing, no state rewrite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gascity.controller import Controller
from gascity.reconcile import ControllerState, build_desired, make_plan
from gascity.reconcile import desired as desired_mod
from gascity.testing import FakeProvider, MemoryEvents, open_test_city
from gascity.types import Liveness, RunningSession


def _city(tmp_path: Path, n: int) -> str:
    toml = "".join(f'[[agent]]\nname = "a{i}"\ncommand = "run {i}"\n' for i in range(n))
    (tmp_path / "city.toml").write_text(toml)
    return toml


class Counting:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.start_configs = 0
        self.fingerprints = 0
        real_sc, real_fp = desired_mod.start_config, desired_mod.fingerprint

        def sc(*a: object, **k: object) -> object:
            self.start_configs += 1
            return real_sc(*a, **k)  # type: ignore[arg-type]

        def fp(agent: object, command: str | None = None, env: object = None) -> str:
            self.fingerprints += 1
            return real_fp(agent, command, env)  # type: ignore[arg-type]

        monkeypatch.setattr(desired_mod, "start_config", sc)
        monkeypatch.setattr(desired_mod, "fingerprint", fp)


def test_steady_ticks_build_no_start_config_and_hash_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _city(tmp_path, 50)
    count = Counting(monkeypatch)
    with open_test_city(tmp_path, session=FakeProvider(), events=MemoryEvents()) as city:
        ctl = Controller(city)
        assert len(ctl.tick().started) == 50
        assert count.start_configs == 50 and count.fingerprints == 50
        for _ in range(3):
            assert ctl.tick().started == []
        assert count.start_configs == 50  # only the sessions it started
        assert count.fingerprints == 50  # once per agent per loaded config


def test_steady_ticks_do_not_rewrite_the_state_file(tmp_path: Path) -> None:
    _city(tmp_path, 20)
    clock = [1000.0]
    with open_test_city(tmp_path, session=FakeProvider(), events=MemoryEvents()) as city:
        ctl = Controller(city, clock=lambda: clock[0])
        ctl.tick()
        path = ctl.paths.state
        text, inode = path.read_text(), path.stat().st_ino
        assert "\n" not in text and ", " not in text  # compact
        assert "last_tick" not in json.loads(text)
        for step in range(3):
            clock[0] += 30
            ctl.tick()
            assert path.stat().st_ino == inode, f"rewritten on steady tick {step}"
            assert path.read_text() == text
        # The tick is still recorded: the file's mtime says when.
        assert ControllerState.load(path).last_tick == pytest.approx(clock[0])
        city.hooks.stop("a3")  # a crash changes the state: written again
        clock[0] += 30
        ctl.tick()
        assert path.stat().st_ino != inode


def test_a_plan_never_changes_the_state_it_was_given(tmp_path: Path) -> None:
    from gascity.config import load_city

    _city(tmp_path, 2)
    config = load_city(tmp_path).config
    desired = build_desired(config, {}, city_name="c", city_dir=tmp_path)
    state = ControllerState(crashes={"a0": [1.0]}, last_running=["a0", "a1"])
    before = json.dumps(state.__dict__, default=str, sort_keys=True)
    running = [RunningSession("a1", Liveness.DEAD)]
    plan = make_plan(config=config, desired=desired, running=running, state=state, now=5.0)
    assert plan.crashes and plan.state.crashes["a0"] == [1.0, 5.0]
    assert json.dumps(state.__dict__, default=str, sort_keys=True) == before


def test_a_started_session_gets_its_full_start_config(tmp_path: Path) -> None:
    from gascity.config import load_city

    _city(tmp_path, 1)
    config = load_city(tmp_path).config
    d = build_desired(config, {}, city_name="c", city_dir=tmp_path)["a0"]
    assert d.config.command == "run 0"
    assert d.config.env["GC_SESSION_NAME"] == "a0"
    assert d.config.work_dir == str(tmp_path.resolve())


def test_steady_ticks_serialize_no_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _city(tmp_path, 20)
    clock = [1000.0]
    dumps: list[int] = []
    real = ControllerState.to_text

    def to_text(self: ControllerState) -> str:
        dumps.append(1)
        return real(self)

    monkeypatch.setattr(ControllerState, "to_text", to_text)
    with open_test_city(tmp_path, session=FakeProvider(), events=MemoryEvents()) as city:
        ctl = Controller(city, clock=lambda: clock[0])
        ctl.tick()
        ctl.tick()
        dumps.clear()
        for _ in range(3):
            clock[0] += 30
            ctl.tick()
        assert dumps == []  # an equal state: the text of the last one
        city.hooks.stop("a3")  # a crash changes the state: serialized and written
        clock[0] += 30
        ctl.tick()
        assert dumps
        saved = json.loads(ctl.paths.state.read_text())
        assert saved == json.loads(real(ctl.state))
        assert list(saved["crashes"]) == ["a3"]
