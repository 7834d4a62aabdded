"""Each reconcile rule on its own, over plain values (no provider, no controller)."""

from __future__ import annotations

import itertools
from pathlib import Path

from gascity import event_names as ev
from gascity.config import parse_city
from gascity.config.models import AgentConfig, CityConfig
from gascity.reconcile import ControllerState, build_desired, make_plan
from gascity.reconcile.actions import StartAction
from gascity.reconcile.desired import DesiredSession
from gascity.reconcile.gating import gate_starts
from gascity.reconcile.plan import Holds
from gascity.reconcile.rules import (
    HEALTHY,
    MISSING,
    RUNNING_RULES,
    Seen,
    Unwanted,
    crash_loops,
    decide_unwanted,
    decide_wanted,
    drift,
    missing,
    operator_drain,
    pool_changes,
    starting,
)
from gascity.reconcile.scale import ScaleResult
from gascity.reconcile.state import Drain
from gascity.types import (
    DRAIN_MANUAL,
    DRAIN_RESTART,
    META_FINGERPRINT,
    Liveness,
    RunningSession,
)

CITY = """
[workspace]
name = "t"
[daemon]
max_restarts = 2
restart_window = "10m"
[[agent]]
name = "db"
command = "db"
process_names = ["postgres"]
idle_timeout = "1m"
drain_timeout = "60s"
[[agent]]
name = "api"
command = "api"
depends_on = ["db"]
[[agent]]
name = "worker"
command = "worker"
depends_on = ["api"]
min_active_sessions = 0
max_active_sessions = 4
"""


def city() -> CityConfig:
    return parse_city(CITY)


def agent(config: CityConfig, name: str) -> AgentConfig:
    found = config.agent_named(name)
    assert found is not None
    return found


def wanted(config: CityConfig, pools: dict[str, int] | None = None) -> dict[str, DesiredSession]:
    return build_desired(config, pools or {"worker": 2}, city_name="t", city_dir=Path("/c"))


def alive(name: str, **meta: str) -> RunningSession:
    return RunningSession(name, Liveness.ALIVE, meta=meta, processes=frozenset({"postgres"}))


def db_seen(record: RunningSession | None = None, **kw: object) -> Seen:
    config = city()
    want = wanted(config)["db"]
    record = record or alive("db", **{META_FINGERPRINT: want.fingerprint})
    defaults: dict[str, object] = {"stored": want.fingerprint}
    defaults.update(kw)
    return Seen(want, agent(config, "db"), record, 1000.0, **defaults)  # type: ignore[arg-type]


# ---------------------------------------------------------------- missing


def test_missing_starts_and_a_vanished_session_is_a_crash() -> None:
    want = wanted(city())["db"]
    assert missing(want, was_running=False, draining=False, stopping=False) is MISSING
    vanished = missing(want, was_running=True, draining=False, stopping=False)
    assert vanished.start == "crashed" and vanished.crashed
    assert [(e.type, e.payload["reason"]) for e in vanished.events] == [
        (ev.SESSION_CRASHED, "session disappeared")]
    # Gone while being drained or stopped on purpose: expected, not a crash.
    for draining, stopping in ((True, False), (False, True)):
        assert missing(want, was_running=True, draining=draining, stopping=stopping) is MISSING


# ------------------------------------------------------- running, desired


def test_steady_session_is_healthy_and_costs_one_shared_verdict() -> None:
    assert decide_wanted(db_seen()) is HEALTHY


def test_dead_agent_is_an_observed_crash_and_a_restart() -> None:
    verdict = decide_wanted(db_seen(dead="agent process exited"))
    assert verdict.crashed and verdict.crash is not None
    assert verdict.crash.why == "agent process exited"
    assert verdict.stop is not None and verdict.stop.event is None  # the stop half of a restart
    assert verdict.start == "crashed"


def test_dead_while_being_stopped_finishes_the_stop_without_a_crash() -> None:
    verdict = decide_wanted(db_seen(dead="agent process exited", stopping=True))
    assert not verdict.crashed and verdict.crash is None
    assert verdict.start == "stop interrupted"
    assert verdict.stop is not None and verdict.stop.reason == "stop interrupted"


def test_starting_is_left_alone_and_not_up_for_dependents() -> None:
    drain = Drain("drift", 900.0)
    record = RunningSession("db", Liveness.STARTING)
    verdict = starting(db_seen(record, remembered=drain, stored="old"))
    assert verdict is not None
    assert not verdict.healthy and verdict.start is None and verdict.stop is None
    assert verdict.drain_state == drain  # the drain clock keeps running


def test_idle_session_is_restarted_with_an_event() -> None:
    verdict = decide_wanted(db_seen(idle=True))
    assert verdict.start == "idle"
    assert [(e.type, e.payload["idle_timeout"]) for e in verdict.events] == [
        (ev.SESSION_IDLE_KILLED, 60.0)]


def test_operator_drain_waits_for_the_ack_a_restart_request_does_not() -> None:
    manual = Drain(DRAIN_MANUAL, 990.0)
    waiting = operator_drain(db_seen(drain=manual, remembered=manual))
    assert waiting is not None and waiting.healthy and waiting.drain_state == manual
    acked = operator_drain(db_seen(drain=manual, acked=True))
    assert acked is not None and acked.start == DRAIN_MANUAL
    assert acked.stop is not None and acked.stop.event == ev.SESSION_STOPPED
    assert acked.drain_state is None
    restart = operator_drain(db_seen(drain=Drain(DRAIN_RESTART, 990.0)))
    assert restart is not None and restart.start == DRAIN_RESTART
    assert operator_drain(db_seen(drain=Drain("scale", 990.0))) is None


def test_wanted_again_while_scale_draining_is_undrained() -> None:
    verdict = decide_wanted(db_seen(drain=Drain("scale", 990.0)))
    assert verdict.drain is not None and verdict.drain.undrain
    assert verdict.healthy and verdict.drain_state is None


def test_drift_drains_then_restarts_on_ack_or_timeout() -> None:
    first = drift(db_seen(stored="old"))
    assert first is not None and first.drain is not None and first.drain.reason == "drift"
    assert first.drain_state == Drain("drift", 1000.0) and first.healthy
    draining = Drain("drift", 990.0)
    waiting = drift(db_seen(stored="old", drain=draining))
    assert waiting is not None and waiting.start is None and waiting.drain_state == draining
    acked = drift(db_seen(stored="old", drain=draining, acked=True))
    timed_out = drift(db_seen(stored="old", drain=Drain("drift", 900.0)))  # 60s passed
    for done in (acked, timed_out):
        assert done is not None and done.start == "drift"
        assert done.drain_state is None  # the restarted session is not draining
    assert drift(db_seen(stored=None)) is None  # no stored fingerprint: never drift


def test_steady_means_no_rule_applies() -> None:
    """The shortcut in decide_wanted agrees with the rules, for every mix of facts."""
    records = [alive("db"), RunningSession("db", Liveness.STARTING),
               RunningSession("db", Liveness.DEAD), RunningSession("db", Liveness.UNKNOWN)]
    drains = [None, Drain("scale", 990.0), Drain("drift", 990.0), Drain(DRAIN_MANUAL, 990.0),
              Drain(DRAIN_RESTART, 990.0)]
    for record, drain, dead, stored, acked, stopping, idle in itertools.product(
            records, drains, [None, "exited"], [None, "same", "old"], [False, True],
            [False, True], [False, True]):
        s = db_seen(record, drain=drain, dead=dead, acked=acked, stopping=stopping, idle=idle)
        s.stored = s.want.fingerprint if stored == "same" else stored
        applies = [rule.__name__ for rule in RUNNING_RULES if rule(s) is not None]
        assert s.steady == (not applies), (s, applies)


# ------------------------------------------------------- running, unwanted


def test_unwanted_sessions() -> None:
    config = city()
    worker = agent(config, "worker")
    record = alive("worker-3")
    orphan = decide_unwanted(Unwanted(alive("stray"), None, 1000.0))
    assert orphan.stop is not None and (orphan.stop.reason, orphan.stop.agent) == ("orphan", None)
    suspended = decide_unwanted(Unwanted(record, worker, 1000.0, suspended=True))
    assert suspended.stop is not None and suspended.stop.event == ev.SESSION_SUSPENDED
    quarantined = decide_unwanted(Unwanted(record, worker, 1000.0, quarantined=True))
    assert quarantined.stop is not None and quarantined.stop.reason == "quarantined"
    dead = decide_unwanted(Unwanted(RunningSession("worker-3", Liveness.DEAD), worker, 1000.0))
    assert dead.stop is not None and dead.stop.reason == "dead"


def test_scale_down_drains_then_stops_on_ack_or_timeout() -> None:
    worker = agent(city(), "worker")  # default drain_timeout 300s
    record = alive("worker-3")
    first = decide_unwanted(Unwanted(record, worker, 1000.0))
    assert first.drain is not None and first.drain.reason == "scale"
    assert first.drain_state == Drain("scale", 1000.0) and first.stop is None
    draining = Drain("scale", 990.0)
    waiting = decide_unwanted(Unwanted(record, worker, 1000.0, drain=draining))
    assert waiting.stop is None and waiting.drain_state == draining
    for u, by in ((Unwanted(record, worker, 1000.0, drain=draining, acked=True), "acknowledged"),
                  (Unwanted(record, worker, 1290.0 + 1, drain=draining), "drain_timeout")):
        done = decide_unwanted(u)
        assert done.stop is not None and done.stop.reason == "scale"
        assert [(e.type, e.payload["by"]) for e in done.events] == [(ev.SESSION_DRAINED, by)]


# ------------------------------------------------------------------ per agent


def test_pool_changes_record_each_change_once() -> None:
    sizes, errors, events = pool_changes({"w": ScaleResult("w", 3)}, {"w": 1}, {})
    assert sizes == {"w": 3} and errors == {}
    assert [(e.type, e.payload["previous"]) for e in events] == [(ev.POOL_SCALED, 1)]
    failing = {"w": ScaleResult("w", 1, error="exit 2")}
    sizes, errors, events = pool_changes(failing, {"w": 1}, {})
    assert errors == {"w": "exit 2"}
    assert [e.type for e in events] == [ev.POOL_CHECK_FAILED]
    assert pool_changes(failing, {"w": 1}, {"w": "exit 2"})[2] == []  # same error: quiet
    capped = {"w": ScaleResult("w", 50, error="capped at 50", capped=True)}
    assert [e.type for e in pool_changes(capped, {"w": 50}, {})[2]] == [ev.POOL_CAPPED]
    healed = pool_changes({"w": ScaleResult("w", 1)}, {"w": 1}, {"w": "exit 2"})
    assert healed == ({"w": 1}, {}, [])


def test_crash_loops_prune_the_window_and_quarantine_once() -> None:
    daemon = city().daemon  # max_restarts 2 within 10m
    crashes = {"db": [100.0, 900.0, 950.0, 1000.0], "api": [10.0]}
    recent, held, events = crash_loops(crashes, {}, daemon, 1000.0)
    assert recent == {"db": [900.0, 950.0, 1000.0]}  # api's crash left the window
    assert held == {"db": 1000.0}
    assert [(e.type, e.payload["crashes"]) for e in events] == [(ev.SESSION_QUARANTINED, 3)]
    assert crash_loops(recent, held, daemon, 1001.0)[2] == []  # once
    unguarded = daemon.model_copy(update={"max_restarts": 0})
    assert crash_loops(crashes, {}, unguarded, 1000.0)[1] == {}


# ------------------------------------------------------------------- gating


def starts_of(config: CityConfig, desired: dict[str, DesiredSession],
              *names: str) -> list[StartAction]:
    from gascity.reconcile.gating import waves

    level = waves(config)
    return [StartAction(desired[n], level[desired[n].agent], "missing") for n in names]


def test_gating_waits_on_unavailable_or_waiting_dependencies() -> None:
    config = city()
    desired = wanted(config)
    starts = starts_of(config, desired, "api", "worker-1", "worker-2")
    kept, blocked = gate_starts(starts, config=config, desired=desired, up=set(),
                                unavailable={"db"})
    assert kept == []
    # api waits for db; the workers wait for api, which is waiting itself.
    assert blocked == {"api": "db", "worker-1": "api", "worker-2": "api"}


def test_gating_needs_what_starts_in_an_earlier_wave() -> None:
    config = city()
    desired = wanted(config)
    starts = starts_of(config, desired, "db", "api", "worker-1")
    kept, blocked = gate_starts(starts, config=config, desired=desired, up=set(),
                                unavailable=set())
    assert blocked == {}
    needs = {s.session.name: s.needs for s in kept}
    assert needs == {"db": (), "api": (("db", "db"),), "worker-1": (("api", "api"),)}
    api = kept[1]
    assert api.waiting_for(set()) == "db" and api.waiting_for({"db"}) is None
    # db already up: api needs nothing from this tick.
    kept, _ = gate_starts(starts[1:], config=config, desired=desired, up={"db"},
                          unavailable=set())
    assert kept[0].needs == ()


def test_gating_waits_on_a_dependency_neither_up_nor_starting() -> None:
    config = city()
    desired = wanted(config)
    # db is listed but still STARTING: not healthy, no start planned for it.
    kept, blocked = gate_starts(starts_of(config, desired, "api"), config=config,
                                desired=desired, up=set(), unavailable=set())
    assert kept == [] and blocked == {"api": "db"}


def test_the_plan_decides_the_gating() -> None:
    config = city()
    desired = wanted(config)
    fp = {n: d.fingerprint for n, d in desired.items()}
    starting_db = [RunningSession("db", Liveness.STARTING, meta={META_FINGERPRINT: fp["db"]})]
    p = make_plan(config=config, desired=desired, running=starting_db,
                  state=ControllerState(), now=1.0)
    assert p.starts == []
    assert p.blocked == {"api": "db", "worker-1": "api", "worker-2": "api"}
    assert p.state.blocked == p.blocked
    assert not p.is_noop  # the executor records the newly blocked sessions
    # An agent that cannot be launched is not desired, and fails its dependents.
    launchable = {n: d for n, d in desired.items() if d.agent != "api"}
    held = make_plan(config=config, desired=launchable, running=[], state=ControllerState(),
                     now=1.0, holds=Holds(unresolved=frozenset({"api"})))
    assert [s.session.name for s in held.starts] == ["db"]
    assert held.blocked == {"worker-1": "api", "worker-2": "api"}
    cold = make_plan(config=config, desired=desired, running=[], state=ControllerState(),
                     now=1.0)
    assert {s.session.name: s.needs for s in cold.starts} == {
        "db": (), "api": (("db", "db"),), "worker-1": (("api", "api"),),
        "worker-2": (("api", "api"),)}


def test_a_stopped_session_not_started_again_is_no_crash_next_tick() -> None:
    config = city()
    desired = wanted(config)
    fp = {n: d.fingerprint for n, d in desired.items()}
    running = [RunningSession(n, Liveness.ALIVE, meta={META_FINGERPRINT: fp[n]},
                              processes=frozenset({"postgres"})) for n in desired]
    running[0] = RunningSession("db", Liveness.DEAD, meta={META_FINGERPRINT: fp["db"]})
    state = ControllerState(crashes={"db": [990.0, 995.0]}, last_running=sorted(desired))
    first = make_plan(config=config, desired=desired, running=running, state=state, now=1000.0)
    assert "db" in first.state.quarantined  # its third crash: stopped, not started again
    assert [s.name for s in first.stops] == ["db"] and first.starts == []
    assert "db" not in first.state.last_running
    second = make_plan(config=config, desired=desired, running=running[1:],
                       state=first.state, now=1030.0)
    assert [e.subject for e in second.events if e.type == ev.SESSION_CRASHED] == []
    assert second.state.crashes["db"] == [990.0, 995.0, 1000.0]
