"""/metrics against what a real foreground controller did."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from gascity.testing import wait_for
from gascity_dashboard.testing import RunningCity, start_city, stop_city


def test_first_tick_is_counted(city: RunningCity) -> None:
    m = city.metrics()
    assert m[("gascity_ticks_total", ())] >= 1
    assert m[("gascity_tick_duration_seconds_count", ())] >= 1
    assert m[("gascity_tick_duration_seconds_sum", ())] > 0
    assert m[("gascity_session_starts_total", (("agent", "mayor"),))] == 1
    assert m[("gascity_session_starts_total", (("agent", "polecat"),))] == 2
    assert m[("gascity_sessions", (("agent", "mayor"), ("state", "running")))] == 1
    assert m[("gascity_sessions", (("agent", "polecat"), ("state", "running")))] == 2
    assert m[("gascity_controller_ready", ())] == 1
    # A standalone controller: no supervisor runs it, so it reports none.
    assert not any(name.startswith("gascity_supervisor_") for name, _ in m)
    assert m[("gascity_scale_check_duration_seconds_count", (("pool", "polecat"),))] >= 1
    # The first tick listed once and started three sessions.
    assert m[("gascity_provider_calls_total", (("hook", "list_running"),))] >= 1
    assert m[("gascity_provider_calls_total", (("hook", "start"),))] == 3


def test_names_follow_prometheus_conventions(city: RunningCity) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    families = list(text_string_to_metric_families(city.get("/metrics").body.decode()))
    ours = [f for f in families if not f.name.startswith("process_")]
    assert {f.name for f in families} - {f.name for f in ours} >= {
        "process_cpu_seconds", "process_resident_memory_bytes"}
    for family in ours:
        assert family.name.startswith("gascity_"), family.name
        assert family.documentation, family.name
        assert not family.name.endswith(("_ms", "_milliseconds", "_minutes")), family.name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)
        if family.name.endswith("_seconds"):
            assert family.type == "histogram", family.name
        # Labels are the bounded names the issue lists, never a session or an event id.
        labels = {k for s in family.samples for k in s.labels} - {"le"}
        assert labels <= {"agent", "state", "pool", "hook", "type"}, (family.name, labels)
    types = {f.name: f.type for f in ours}
    assert types["gascity_tick_duration_seconds"] == "histogram"
    assert types["gascity_scale_check_duration_seconds"] == "histogram"
    assert types["gascity_session_crashes"] == "counter"  # the parser drops "_total"
    assert types["gascity_pool_desired_sessions"] == "gauge"


def test_a_steady_tick_makes_one_provider_call(city: RunningCity) -> None:
    before = city.metrics()
    # A peek through the API between ticks is a provider call, but not the tick's.
    assert city.get("/v0/session/mayor/peek?lines=5").status == 200
    city.poke()
    after = city.metrics()

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("gascity_tick_provider_calls_count") == 1  # one tick
    assert delta("gascity_tick_provider_calls_sum") == 1  # one call in it
    assert delta("gascity_tick_provider_calls_bucket", le="1.0") == 1
    assert delta("gascity_provider_calls_total", hook="list_running") == 1
    assert delta("gascity_provider_calls_total", hook="peek") == 1
    assert delta("gascity_ticks_total") == 1
    assert delta("gascity_tick_duration_seconds_count") == 1


def test_stops_are_counted(city: RunningCity) -> None:
    assert city.metric("gascity_session_stops_total", agent="polecat") is None
    assert city.post("/v0/agent/polecat/suspend", token=city.token()).status == 200
    assert city.metric("gascity_session_stops_total", agent="polecat") == 2
    assert city.metric("gascity_session_stops_total", agent="mayor") is None
    assert city.metric("gascity_sessions", agent="polecat", state="running") is None
    assert city.metric("gascity_pool_running_sessions", pool="polecat") == 0


def test_pool_gauges_follow_the_scale_check(city: RunningCity) -> None:
    assert city.metric("gascity_pool_desired_sessions", pool="polecat") == 2
    assert city.metric("gascity_pool_running_sessions", pool="polecat") == 2
    (city.dir / "want").write_text("4")
    city.poke()
    assert city.metric("gascity_pool_desired_sessions", pool="polecat") == 4
    assert city.metric("gascity_pool_running_sessions", pool="polecat") == 4
    (city.dir / "want").write_text("1")
    city.poke()  # scale-down drains the three highest; they stop on ack or drain_timeout
    assert city.metric("gascity_pool_desired_sessions", pool="polecat") == 1
    assert city.metric("gascity_sessions", agent="polecat", state="draining") == 3
    assert city.metric("gascity_pool_running_sessions", pool="polecat") == 4  # still up
    for name in ("polecat-2", "polecat-3", "polecat-4"):
        city.gc("runtime", "drain-ack", "--session", name)  # as the agent does when done
    city.poke()
    assert city.metric("gascity_pool_running_sessions", pool="polecat") == 1
    assert city.metric("gascity_sessions", agent="polecat", state="draining") is None
    assert city.metric("gascity_session_stops_total", agent="polecat") == 3


def test_a_scale_check_failure_is_counted(city: RunningCity) -> None:
    assert city.metric("gascity_scale_check_failures_total", pool="polecat") in (None, 0)
    (city.dir / "want").write_text("lots")
    city.poke()
    assert city.metric("gascity_scale_check_failures_total", pool="polecat") == 1
    assert city.metric("gascity_pool_desired_sessions", pool="polecat") == 0  # min


def test_a_capped_answer_is_no_scale_check_failure(city: RunningCity) -> None:
    # A pool without max_active_sessions asking for more than [daemon] max_pool_sessions
    # gets the cap (with a warning among its reasons): its answer was used.
    text = (city.dir / "city.toml").read_text()
    text = text.replace('shutdown_timeout = "300ms"',
                        'shutdown_timeout = "300ms"\nmax_pool_sessions = 2')
    text += '\n[[agent]]\nname = "crew"\ncommand = "exec sleep 3600"\nscale_check = "echo 7"\n'
    (city.dir / "city.toml").write_text(text)
    assert city.post("/v0/reload", token=city.token()).status == 200
    assert city.metric("gascity_pool_desired_sessions", pool="crew") == 2
    assert city.metric("gascity_pool_running_sessions", pool="crew") == 2
    assert any("capped" in r for r in city.get("/v0/agent/crew").json()["reasons"])
    assert city.metric("gascity_scale_check_failures_total", pool="crew") is None
    assert city.metric("gascity_scale_check_duration_seconds_count", pool="crew") == 1


def test_a_crash_increments_the_counter(city: RunningCity) -> None:
    assert city.metric("gascity_session_crashes_total", agent="mayor") is None
    os.kill(city.session_pid("mayor"), signal.SIGKILL)
    wait_for(lambda: (city.poke(), city.metric("gascity_session_crashes_total",
                                               agent="mayor"))[1] == 1, 20, interval=0.3,
             what="the crash to be counted")
    assert city.metric("gascity_session_starts_total", agent="mayor") == 2  # restarted


def test_config_rejection_and_events_by_type(city: RunningCity) -> None:
    good = (city.dir / "city.toml").read_text()
    (city.dir / "city.toml").write_text(good + "\n[[agent]]\nname = 'bad name'\n")
    resp = city.post("/v0/reload", token=city.token())
    assert resp.status == 422 and resp.json()["code"] == "config_rejected"
    assert city.metric("gascity_config_rejections_total") == 1
    assert city.metric("gascity_events_total", type="config.rejected") == 1
    # Recorded before the server started, so not in this controller's counters.
    assert city.metric("gascity_events_total", type="controller.started") is None


def test_mail_sent_counts_mail_sent_events_from_any_process(city: RunningCity) -> None:
    assert city.metric("gascity_mail_sent_total") == 0
    # An agent sends mail in its own process (gc mail send records mail.sent) ...
    city.gc("mail", "send", "--from", "mayor", "--to", "polecat", "--body", "hi")
    wait_for(lambda: city.metric("gascity_mail_sent_total") == 1, 10,
             what="gc mail send to be counted")
    # ... or a backend of its own records the event.
    city.gc("event", "emit", "mail.sent", "--actor", "mayor", "--subject", "polecat-1")
    wait_for(lambda: city.metric("gascity_mail_sent_total") == 2, 10,
             what="mail.sent to be counted")


def test_a_crash_loop_is_counted_as_a_quarantine(tmp_path: Path) -> None:
    crashy = '[[agent]]\nname = "crashy"\ncommand = "exit 3"\n'
    city = start_city(tmp_path, api_extra=crashy)
    try:
        def quarantined() -> bool:
            city.poke()
            return city.metric("gascity_session_quarantines_total", agent="crashy") == 1

        wait_for(quarantined, 60, interval=0.2, what="the crash loop's quarantine")
        crashes = city.metric("gascity_session_crashes_total", agent="crashy")
        assert crashes is not None and crashes >= 5  # [daemon] max_restarts defaults to 5
        assert city.get("/v0/agent/crashy").json()["state"] == "quarantined"
        city.poke()
        assert city.metric("gascity_session_quarantines_total", agent="crashy") == 1  # once
    finally:
        stop_city(city)
