"""A steady tick is exactly one script invocation, counted by the script itself."""

from __future__ import annotations

from pathlib import Path

from gascity.testing import HookCallCounter, hooks_for
from gascity.types import Liveness

from .conftest import MakeProvider, WriteScript

N = 300


def registry_script(write_script: WriteScript, state: Path) -> Path:
    """A script that keeps sessions as lines of a file and logs every invocation."""
    return write_script(
        "#!/bin/sh\n"
        f'state="{state}"\n'
        'echo "$1" >> "$state/invocations"\n'
        'case "$1" in\n'
        '  start) cat >/dev/null; echo "$2" >> "$state/names" ;;\n'
        '  list-running) [ -f "$state/names" ] && cat "$state/names"; exit 0 ;;\n'
        "  *) cat >/dev/null; exit 2 ;;\n"
        "esac\n"
    )


def invocations(state: Path) -> list[str]:
    path = state / "invocations"
    return path.read_text().split() if path.exists() else []


def test_300_sessions_are_listed_with_one_invocation(
    make_provider: MakeProvider, write_script: WriteScript, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "names").write_text("".join(f"agent-{i}\n" for i in range(N)))
    provider = make_provider(registry_script(write_script, state))
    counter = HookCallCounter()
    hooks = hooks_for(provider, counter)
    listed = hooks.list_running("")
    assert len(listed) == N
    assert all(s.liveness is Liveness.UNKNOWN and s.meta is None for s in listed)
    assert invocations(state) == ["list-running"]
    assert counter.session_calls == 1
    assert provider.calls == 1


def test_steady_controller_tick_with_300_agents_is_one_invocation(
    write_script: WriteScript, tmp_path: Path
) -> None:
    from gascity.city import City
    from gascity.controller import Controller

    state = tmp_path / "state"
    state.mkdir()
    script = registry_script(write_script, state)
    city_dir = tmp_path / "city"
    city_dir.mkdir()
    (city_dir / "city.toml").write_text(
        '[workspace]\nname = "exec-tick"\n\n'
        + "".join(f'[[agent]]\nname = "a{i}"\ncommand = "sleep 1000"\n' for i in range(N))
    )
    with City.open(city_dir, env={"GC_SESSION": f"exec:{script}"}) as city:
        controller = Controller(city)
        first = controller.tick()
        assert len(first.started) == N, first.summary()
        assert invocations(state).count("start") == N
        (state / "invocations").unlink()

        steady = controller.tick()
        assert steady.started == [] and steady.stopped == [] and steady.crashed == []
        assert steady.running == N
        assert invocations(state) == ["list-running"]
