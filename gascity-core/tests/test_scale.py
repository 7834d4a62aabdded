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
    assert "exited 3: boom" in res["failing"].error
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
