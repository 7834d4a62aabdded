"""Pool scale checks run for real (sh -c), concurrently, each under a timeout."""

from __future__ import annotations

from pathlib import Path

from gascity.config import parse_city
from gascity.reconcile import run_scale_checks


def run(tmp_path: Path, text: str, timeout: float = 5.0, concurrency: int = 8) -> dict:  # type: ignore[type-arg]
    return run_scale_checks(parse_city(text).agent, tmp_path, concurrency=concurrency,
                            timeout=timeout)


def agent(name: str, check: str, extra: str = "") -> str:
    return f"[[agent]]\nname = \"{name}\"\ncommand = \"x\"\nscale_check = '''{check}'''\n{extra}\n"


def test_count_parsed_and_clamped(tmp_path: Path) -> None:
    res = run(tmp_path, agent("a", "echo 3", "max_active_sessions = 5")
              + agent("b", "echo 0", "min_active_sessions = 2\nmax_active_sessions = 5")
              + agent("c", "echo 99", "max_active_sessions = 5")
              + agent("d", "printf '  7\\n\\n'", ""))
    assert {k: v.count for k, v in res.items()} == {"a": 3, "b": 2, "c": 5, "d": 7}
    assert all(v.error == "" for v in res.values())


def test_bad_checks_fall_back_to_min(tmp_path: Path) -> None:
    res = run(tmp_path,
              agent("garbage", "echo lots", "min_active_sessions = 1")
              + agent("empty", "true", "min_active_sessions = 2")
              + agent("failing", "echo 4; echo boom >&2; exit 3", "min_active_sessions = 1")
              + agent("hanging", "sleep 30", "min_active_sessions = 1"),
              timeout=0.5)
    assert {k: v.count for k, v in res.items()} == {
        "garbage": 1, "empty": 2, "failing": 1, "hanging": 1}
    assert "not an integer" in res["garbage"].error
    assert "exit status 3: boom" in res["failing"].error
    assert "timed out" in res["hanging"].error


def test_hanging_check_children_are_killed(tmp_path: Path) -> None:
    marker = tmp_path / "late"
    run(tmp_path, agent("h", f"(sleep 1; touch {marker}) & sleep 30"), timeout=0.3)
    import time

    time.sleep(1.5)
    assert not marker.exists(), "the check's background child outlived its timeout"


def test_checks_run_in_the_agent_dir(tmp_path: Path) -> None:
    (tmp_path / "rig").mkdir()
    (tmp_path / "rig" / "queue").write_text("a\nb\nc\nd\n")
    res = run(tmp_path, agent("q", "grep -c . queue", 'dir = "rig"'))
    assert res["q"].count == 4


def test_five_slow_checks_overlap(tmp_path: Path) -> None:
    text = "".join(agent(f"p{i}", "sleep 2; echo 1") for i in range(5))
    res = run(tmp_path, text, timeout=10)
    spans = sorted((r.started, r.finished) for r in res.values())
    assert all(r.count == 1 for r in res.values())
    # Every check started before any finished: they ran at the same time.
    assert max(s for s, _ in spans) < min(f for _, f in spans)


def test_concurrency_is_bounded(tmp_path: Path) -> None:
    text = "".join(agent(f"p{i}", "sleep 0.5; echo 1") for i in range(4))
    res = run(tmp_path, text, timeout=10, concurrency=2)
    spans = sorted((r.started, r.finished) for r in res.values())
    # With two slots the third check can only start after one of the first two ended.
    assert spans[2][0] >= min(spans[0][1], spans[1][1]) - 0.01


def test_pool_without_check_runs_max(tmp_path: Path) -> None:
    text = '[[agent]]\nname = "p"\ncommand = "x"\nmax_active_sessions = 3\n'
    assert run(tmp_path, text)["p"].count == 3


# ---- hostile checks (issue 12, defects 2 and 3): each saw the old code fail


def test_non_utf8_output_is_a_failed_check_not_a_crash(tmp_path: Path) -> None:
    res = run(tmp_path, agent("bytes", "printf '\\377' >&2; exit 1", "min_active_sessions = 1")
              + agent("ok", "printf '\\377\\n' >&2; echo 2", "max_active_sessions = 5"))
    assert res["bytes"].count == 1
    assert "exit status 1" in res["bytes"].error
    assert "\ufffd" in res["bytes"].error  # the stray byte shown, replaced
    assert res["ok"].count == 2 and res["ok"].error == ""


def test_setsid_child_does_not_hold_the_check(tmp_path: Path) -> None:
    import time

    t0 = time.monotonic()
    res = run(tmp_path, agent("s", "setsid sleep 30 & echo 3", "max_active_sessions = 5"),
              timeout=60.0)
    elapsed = time.monotonic() - t0
    assert res["s"].count == 3 and res["s"].error == ""
    assert elapsed < 20, f"a setsid child held the check for {elapsed:.1f}s"


def test_background_child_answer_taken_when_the_shell_exits(tmp_path: Path) -> None:
    import time

    t0 = time.monotonic()
    res = run(tmp_path, agent("b", "sleep 300 & echo 3", "max_active_sessions = 5"),
              timeout=60.0)
    elapsed = time.monotonic() - t0
    assert res["b"].count == 3, res["b"].error
    assert elapsed < 20, f"the check waited {elapsed:.1f}s for its background child"


def test_hostile_check_ends_within_timeout_plus_grace(tmp_path: Path) -> None:
    import time

    t0 = time.monotonic()
    res = run(tmp_path, agent("t", "trap '' TERM; setsid sleep 60 & sleep 300",
                              "min_active_sessions = 1"), timeout=1.0)
    elapsed = time.monotonic() - t0
    assert res["t"].count == 1 and "timed out" in res["t"].error
    # Not the 300 s sleeps; the fault suite reports the real overshoot past the timeout.
    assert elapsed < 15, f"took {elapsed:.1f}s against a 1s timeout"


def test_pool_without_max_is_clamped_by_the_safety_cap(tmp_path: Path) -> None:
    res = run(tmp_path, agent("big", "echo 10000000") + agent("small", "echo 4")
              + agent("capped", "echo 10000000", "max_active_sessions = 7"))
    assert res["big"].count == 100 and res["big"].capped
    assert "capped at 100" in res["big"].error and "max_pool_sessions" in res["big"].error
    assert res["small"].count == 4 and not res["small"].capped
    assert res["capped"].count == 7 and not res["capped"].capped and res["capped"].error == ""
    tight = run_scale_checks(parse_city(agent("big", "echo 50")).agent, tmp_path,
                             concurrency=1, timeout=5, cap=10)
    assert tight["big"].count == 10 and tight["big"].capped
