"""The reconcile rules, as pure functions of (config, desired, running, state, now)."""

from __future__ import annotations

from pathlib import Path

from gascity.config import parse_city
from gascity.config.models import CityConfig
from gascity.reconcile import ControllerState, build_desired, fingerprint, make_plan
from gascity.reconcile.plan import Holds, Observations, Plan, waves
from gascity.reconcile.scale import ScaleResult
from gascity.reconcile.state import Drain
from gascity.types import (
    META_DRAIN,
    META_DRAIN_ACK,
    META_FINGERPRINT,
    Liveness,
    RunningSession,
)

CITY = Path("/city")

BASE = """
[workspace]
name = "t"
[daemon]
max_restarts = 2
restart_window = "10m"
[[agent]]
name = "mayor"
command = "run-mayor"
process_names = ["claude"]
[[agent]]
name = "worker"
command = "run-worker"
min_active_sessions = 1
max_active_sessions = 5
scale_check = "echo 3"
drain_timeout = "60s"
"""


def cfg(text: str = BASE) -> CityConfig:
    return parse_city(text)


def fp_of(config: CityConfig, agent: str) -> str:
    # What the controller stores: the fingerprint with the session's identity env.
    found = config.agent_named(agent)
    assert found is not None
    awake = config.model_copy(update={
        "workspace": config.workspace.model_copy(update={"suspended": False}),
        "agent": [found.model_copy(update={"suspended": False})]})
    desired = build_desired(awake, {agent: 1}, city_name="t", city_dir=CITY)
    return next(d.fingerprint for d in desired.values())


def healthy(config: CityConfig, name: str, agent: str, **kw: object) -> RunningSession:
    meta = {META_FINGERPRINT: fp_of(config, agent)}
    meta.update(kw.pop("meta", {}))  # type: ignore[arg-type]
    return RunningSession(name=name, liveness=Liveness.ALIVE, meta=meta,
                          processes=frozenset({"claude"}), **kw)  # type: ignore[arg-type]


def plan(
    config: CityConfig,
    running: list[RunningSession],
    *,
    pools: dict[str, int] | None = None,
    state: ControllerState | None = None,
    now: float = 1000.0,
    **kw: object,
) -> Plan:
    counts = pools if pools is not None else {"worker": 3}
    suspended: frozenset[str] = kw.pop("suspended_agents", frozenset())  # type: ignore[assignment]
    desired = build_desired(config, counts, city_name="t", city_dir=CITY,
                            suspended_agents=suspended)
    scale = {a: ScaleResult(a, n) for a, n in counts.items()}
    observed = Observations(scale=scale, acked=kw.pop("acked", frozenset()),  # type: ignore[arg-type]
                            idle=kw.pop("idle", frozenset()))  # type: ignore[arg-type]
    holds = Holds(suspended_agents=suspended,
                  city_suspended=bool(kw.pop("city_suspended", False)))
    return make_plan(config=config, desired=desired, running=running,
                     state=state or ControllerState(), now=now, observed=observed,
                     holds=holds, **kw)  # type: ignore[arg-type]


def all_healthy(config: CityConfig) -> list[RunningSession]:
    return [healthy(config, "mayor", "mayor")] + [
        healthy(config, f"worker-{i}", "worker") for i in (1, 2, 3)
    ]


def test_starts_missing_sessions_with_pool_instances() -> None:
    p = plan(cfg(), [])
    assert sorted(s.session.name for s in p.starts) == ["mayor", "worker-1", "worker-2",
                                                        "worker-3"]
    assert all(s.reason == "missing" for s in p.starts)
    start = next(s for s in p.starts if s.session.name == "worker-2")
    assert start.session.config.env["GC_INSTANCE"] == "2"
    assert start.session.config.env["GC_SESSION_NAME"] == "worker-2"
    assert start.session.config.meta[META_FINGERPRINT] == start.session.fingerprint


def test_healthy_city_plans_nothing() -> None:
    config = cfg()
    state = ControllerState(pool_desired={"worker": 3})
    p = plan(config, all_healthy(config), state=state)
    assert p.is_noop
    assert p.events == []
    assert p.healthy == {"mayor", "worker-1", "worker-2", "worker-3"}


def test_orphan_is_stopped() -> None:
    config = cfg()
    running = [*all_healthy(config), RunningSession("stray", Liveness.ALIVE, meta={})]
    p = plan(config, running)
    assert [(s.name, s.reason) for s in p.stops] == [("stray", "orphan")]


def test_drift_drains_then_restarts_after_timeout() -> None:
    config = cfg()
    running = all_healthy(config)
    running[0] = healthy(config, "mayor", "mayor", meta={META_FINGERPRINT: "old"})
    first = plan(config, running)
    assert [(d.name, d.reason) for d in first.drains] == [("mayor", "drift")]
    assert not first.stops and not first.starts
    assert first.state.drains["mayor"].reason == "drift"
    # Still inside the drain timeout (mayor has the default 5m): keep waiting.
    waiting = plan(config, running, state=first.state, now=1100.0)
    assert waiting.is_noop
    later = plan(config, running, state=first.state, now=1000.0 + 301)
    assert [(s.name, s.reason, s.event) for s in later.stops] == [("mayor", "drift", None)]
    assert [(s.session.name, s.reason) for s in later.starts] == [("mayor", "drift")]


def test_drift_restarts_at_once_on_ack() -> None:
    config = cfg()
    running = all_healthy(config)
    running[0] = healthy(config, "mayor", "mayor",
                         meta={META_FINGERPRINT: "old", META_DRAIN: "drift", META_DRAIN_ACK: "1"})
    state = ControllerState(drains={"mayor": Drain("drift", 990.0)})
    p = plan(config, running, state=state)
    assert [s.session.name for s in p.starts] == ["mayor"]


def test_missing_fingerprint_never_restarts() -> None:
    config = cfg()
    running = all_healthy(config)
    running[0] = RunningSession("mayor", Liveness.ALIVE, meta={},
                                processes=frozenset({"claude"}))
    assert plan(config, running).is_noop
    running[0] = RunningSession("mayor", Liveness.ALIVE, meta=None)
    assert plan(config, running).is_noop


def test_controller_state_fingerprint_used_when_provider_has_no_meta() -> None:
    config = cfg()
    running = all_healthy(config)
    running[0] = RunningSession("mayor", Liveness.UNKNOWN, meta=None)
    state = ControllerState(fingerprints={"mayor": "stale"})
    p = plan(config, running, state=state)
    assert [(d.name, d.reason) for d in p.drains] == [("mayor", "drift")]


def test_dead_agent_is_a_crash_then_restart() -> None:
    config = cfg()
    running = all_healthy(config)
    running[0] = RunningSession("mayor", Liveness.DEAD, meta={})
    p = plan(config, running)
    assert [(c.name, c.why) for c in p.crashes] == [("mayor", "agent process exited")]
    assert [(s.name, s.event) for s in p.stops] == [("mayor", None)]
    assert [(s.session.name, s.reason) for s in p.starts] == [("mayor", "crashed")]


def test_process_names_detect_zombies_but_unknown_is_not_dead() -> None:
    config = cfg()
    running = all_healthy(config)
    running[0] = RunningSession("mayor", Liveness.ALIVE, meta={}, processes=frozenset({"bash"}))
    p = plan(config, running)
    assert [c.name for c in p.crashes] == ["mayor"]
    assert "claude" in p.crashes[0].why
    running[0] = RunningSession("mayor", Liveness.UNKNOWN, meta={}, processes=None)
    assert plan(config, running).is_noop


def test_vanished_session_counts_as_crash() -> None:
    config = cfg()
    running = all_healthy(config)[1:]
    state = ControllerState(last_running=["mayor", "worker-1", "worker-2", "worker-3"])
    p = plan(config, running, state=state)
    assert [(s.session.name, s.reason) for s in p.starts] == [("mayor", "crashed")]
    assert [e.type for e in p.events] == ["pool.scaled", "session.crashed"]
    assert p.state.crashes["mayor"] == [1000.0]


def test_pool_counts_come_from_the_scale_result() -> None:
    config = cfg()
    p = plan(config, [healthy(config, "mayor", "mayor")], pools={"worker": 2})
    assert sorted(s.session.name for s in p.starts) == ["worker-1", "worker-2"]


def test_scale_down_drains_highest_first_and_stops_on_ack_or_timeout() -> None:
    config = cfg()
    running = [healthy(config, "mayor", "mayor")] + [
        healthy(config, f"worker-{i}", "worker") for i in (1, 2, 3, 4, 5)
    ]
    first = plan(config, running, pools={"worker": 3})
    assert [d.name for d in first.drains] == ["worker-5", "worker-4"]
    assert not first.stops
    # worker-5 acknowledges; worker-4 does not and is still inside its 60 s.
    running[5] = healthy(config, "worker-5", "worker",
                         meta={META_DRAIN: "scale", META_DRAIN_ACK: "1"})
    running[4] = healthy(config, "worker-4", "worker", meta={META_DRAIN: "scale"})
    second = plan(config, running, pools={"worker": 3}, state=first.state, now=1010.0)
    assert [(s.name, s.reason) for s in second.stops] == [("worker-5", "scale")]
    assert "session.drained" in [e.type for e in second.events]
    third = plan(config, running[:5], pools={"worker": 3}, state=second.state, now=1061.0)
    assert [(s.name, s.reason) for s in third.stops] == [("worker-4", "scale")]


def test_scale_back_up_undrains() -> None:
    config = cfg()
    running = [healthy(config, "mayor", "mayor")] + [
        healthy(config, f"worker-{i}", "worker", meta={META_DRAIN: "scale"} if i == 3 else {})
        for i in (1, 2, 3)
    ]
    state = ControllerState(drains={"worker-3": Drain("scale", 990.0)}, pool_desired={"worker": 2})
    p = plan(config, running, pools={"worker": 3}, state=state)
    assert [(d.name, d.undrain) for d in p.drains] == [("worker-3", True)]
    assert "worker-3" not in p.state.drains
    assert not p.stops


def test_crash_loop_quarantines_once() -> None:
    config = cfg()
    dead = [RunningSession("mayor", Liveness.DEAD, meta={})]
    state = ControllerState()
    quarantined_events = 0
    for tick in range(6):
        p = plan(config, dead, pools={"worker": 0}, state=state, now=1000.0 + tick)
        quarantined_events += [e.type for e in p.events].count("session.quarantined")
        state = p.state
    assert quarantined_events == 1
    assert "mayor" in state.quarantined
    last = plan(config, [], pools={"worker": 0}, state=state, now=1010.0)
    assert [s.session.name for s in last.starts] == []


def test_suspended_agents_never_start_and_running_ones_stop() -> None:
    config = cfg()
    p = plan(config, [], suspended_agents=frozenset({"worker"}))
    assert [s.session.name for s in p.starts] == ["mayor"]
    running = all_healthy(config)
    p = plan(config, running, suspended_agents=frozenset({"worker"}))
    assert sorted((s.name, s.event) for s in p.stops) == [
        ("worker-1", "session.suspended"), ("worker-2", "session.suspended"),
        ("worker-3", "session.suspended")]


def test_suspended_city_stops_everything() -> None:
    config = cfg(BASE.replace('name = "t"', 'name = "t"\nsuspended = true', 1))
    p = plan(config, all_healthy(config))
    assert len(p.stops) == 4
    assert not p.starts


def test_dependency_waves() -> None:
    config = cfg("""
[[agent]]
name = "db"
command = "x"
[[agent]]
name = "api"
command = "x"
depends_on = ["db"]
[[agent]]
name = "audit"
command = "x"
depends_on = ["db"]
[[agent]]
name = "worker"
command = "x"
depends_on = ["api", "audit"]
""")
    assert waves(config) == {"db": 0, "api": 1, "audit": 1, "worker": 2}
    p = plan(config, [], pools={})
    assert [(s.session.name, s.wave) for s in p.starts] == [
        ("db", 0), ("api", 1), ("audit", 1), ("worker", 2)]


def test_fingerprint_ignores_scale_check_work_dir_and_env_outside_the_allow_list() -> None:
    a = cfg().agent_named("worker")
    assert a is not None
    # As Gas City's allow-list: an env key that is not identity never restarts an
    # agent, the city's own keys included.
    same = a.model_copy(update={"scale_check": "echo 9", "work_dir": "elsewhere",
                                "env": {**a.env, "GC_EXTRA": "1", "A": "1",
                                        "GC_SESSION_ID": "x", "GC_DIR": "/d"}})
    assert fingerprint(same) == fingerprint(a)
    for change in ({"start_command": "other"}, {"env": {"GC_SKILLS_DIR": "/skills"}},
                   {"env": {"BEADS_DIR": "/b"}}, {"env": {"GC_PUBLICATION_TENANT_SLUG": "t"}},
                   {"depends_on": ["mayor"]}, {"pre_start": ["x"]}):
        assert fingerprint(a.model_copy(update=change)) != fingerprint(a), change


def test_the_identity_env_of_the_session_counts() -> None:
    # GC_CITY is the city's path: the same agents in a moved city are other agents;
    # a provider's env counts only for allow-listed keys.
    def fp(config: CityConfig, city: Path = CITY) -> str:
        return build_desired(config, {}, city_name="t", city_dir=city)["mayor"].fingerprint

    base = cfg()
    assert fp(base, Path("/elsewhere")) != fp(base)
    preset = 'provider = "mine"\n[providers.mine]\ncommand = "run-mayor"\n'
    one = cfg(BASE.replace('command = "run-mayor"\n', preset))
    assert fp(cfg(BASE.replace('command = "run-mayor"\n',
                               preset + 'env = { "TOKEN_TTL" = "5" }\n'))) == fp(one)
    assert fp(cfg(BASE.replace('command = "run-mayor"\n',
                               preset + 'env = { "GC_BLESSED_BIN_DIR" = "/b" }\n'))) != fp(one)


def test_prompt_template_content_never_counts(tmp_path: Path) -> None:
    # As in Gas City, the rendered prompt is not part of the identity (it is delivered
    # at start): editing the template reaches the next session started, and never
    # drains the ones running.
    (tmp_path / "p.md").write_text("be the mayor\n")
    config = cfg(BASE.replace('command = "run-mayor"\n',
                              'command = "run-mayor"\nprompt_template = "p.md"\n'))

    def fp() -> str:
        return build_desired(config, {}, city_name="t", city_dir=tmp_path)["mayor"].fingerprint

    before = fp()
    (tmp_path / "p.md").write_text("be a better mayor\n")
    assert fp() == before


def test_changing_pool_bounds_never_restarts_members() -> None:
    # As in Gas City, pool bounds are not part of a member's identity: raising
    # min_active_sessions must add members, not drain the running ones as drift.
    a = cfg().agent_named("worker")
    assert a is not None
    for change in ({"max_active_sessions": 6}, {"min_active_sessions": 2},
                   {"max_active_sessions": None, "min_active_sessions": None}):
        assert fingerprint(a.model_copy(update=change)) == fingerprint(a), change


def test_bare_name_when_max_is_one() -> None:
    config = cfg("""
[[agent]]
name = "solo"
command = "x"
max_active_sessions = 1
scale_check = "echo 1"
""")
    p = plan(config, [], pools={"solo": 1})
    assert [s.session.name for s in p.starts] == ["solo"]
