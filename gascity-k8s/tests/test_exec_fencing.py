"""Exec that acts on an agent is fenced by the lease: a controller replica that does
not lead refuses nudge, interrupt, send_keys, clear_scrollback and copy_to (each is
a ``create`` on ``pods/exec``), naming the holder, before any request; peek stays
open. A process outside the election (``gc session nudge`` from a shell) is never
fenced."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from gascity.controller import Controller
from gascity.errors import NotLeader
from gascity.reconcile.state import Overrides
from gascity.testing import MemoryEvents, open_test_city, wait_for
from gascity.types import StartConfig
from gascity_dashboard.mutations import ApiError, kill, nudge, set_agent_suspended
from gascity_dashboard.plugin import DashboardPlugin
from gascity_dashboard.server import ApiServer
from gascity_k8s.testing import KubeEmulator

from .conftest import ProviderFactory

FAST = {
    "lease_duration_seconds": 1.5,
    "renew_deadline_seconds": 1.0,
    "retry_period_seconds": 0.2,
    "prebaked": True,
}


def _exec_requests(emulator: KubeEmulator) -> int:
    return sum(n for key, n in emulator.requests.items() if "exec" in key)


def _refusals(provider: Any, name: str, src: Path) -> dict[str, str]:
    """Every exec-based action the follower tries, and the error each one raised."""
    actions = {
        "nudge": lambda: provider.nudge(name, "typed by the follower"),
        "interrupt": lambda: provider.interrupt(name),
        "send_keys": lambda: provider.send_keys(name, ["echo follower-keys", "Enter"]),
        "clear_scrollback": lambda: provider.clear_scrollback(name),
        "copy_to": lambda: provider.copy_to(name, str(src), "from-follower.txt"),
    }
    errors = {}
    for what, action in actions.items():
        with pytest.raises(NotLeader) as caught:
            action()
        errors[what] = str(caught.value)
    return errors


def test_a_follower_refuses_exec_that_acts_and_names_the_holder(
    make_provider: ProviderFactory, emulator: KubeEmulator, tmp_path: Path
) -> None:
    ns = "fence-exec"
    leader = make_provider(namespace=ns, identity="replica-a", **FAST)
    follower = make_provider(namespace=ns, identity="replica-b", **FAST)
    lead = leader.coordination()
    assert lead is not None and lead.may_act()  # the first to try wins
    follow = follower.coordination()
    assert follow is not None
    wait_for(lambda: follow.holder() == "replica-a", timeout=5)
    assert not follow.may_act()
    leader.start("worker", StartConfig(command="cat", work_dir="/workspace", startup_timeout=30))
    src = tmp_path / "note.txt"
    src.write_text("from the follower\n")
    try:
        emulator.reset_counts()
        errors = _refusals(follower, "worker", src)
        for what, message in errors.items():
            assert "replica-b" in message and "(holder: replica-a)" in message, (what, message)
            assert f"lease {ns}/gc-demo-leader" in message, (what, message)
        assert "nudging session 'worker'" in errors["nudge"]
        assert _exec_requests(emulator) == 0  # refused before reaching the API server
        assert emulator.request_count == 0  # not even a pod lookup
        # Peek only reads: a follower's dashboard still shows the pane.
        leader.nudge("worker", "typed by the leader")
        wait_for(lambda: "typed by the leader" in follower.peek("worker", 20), 10,
                 what="the leader's nudge, seen from the follower")
        screen = follower.peek("worker", 50)
        assert "typed by the follower" not in screen and "follower-keys" not in screen
        pod = leader._pod("worker")["metadata"]["name"]
        code, out, _ = leader.exec(pod, ["sh", "-c", "ls /workspace"])
        assert code == 0 and "from-follower.txt" not in out
    finally:
        leader.stop("worker")


def test_a_leader_paused_past_its_lease_cannot_nudge(
    make_provider: ProviderFactory, emulator: KubeEmulator
) -> None:
    ns = "fence-stale"
    stale = make_provider(namespace=ns, identity="stale", **FAST)
    coord = stale.coordination()
    assert coord is not None and coord.may_act()
    stale.start("worker", StartConfig(command="cat", work_dir="/workspace", startup_timeout=30))
    try:
        stale.nudge("worker", "while leading")
        wait_for(lambda: "while leading" in stale.peek("worker", 20), 10, what="nudge echoed")
        coord.elector._stop.set()  # renewals stop, as under SIGSTOP
        wait_for(lambda: not coord.may_act(), timeout=5)
        with pytest.raises(NotLeader, match="stale does not hold lease"):
            stale.nudge("worker", "after the deadline")
        time.sleep(0.5)  # several probe periods: nothing arrives late either
        assert "after the deadline" not in stale.peek("worker", 20)
    finally:
        for pod in emulator.pods(ns):
            emulator.store.delete(ns, pod["metadata"]["name"], 0)


def test_a_cli_process_outside_the_election_still_nudges(
    make_provider: ProviderFactory, emulator: KubeEmulator
) -> None:
    """`gc session nudge` from a shell builds a provider and never joins the election:
    the lease held by a controller elsewhere does not stop it."""
    ns = "fence-cli"
    controller = make_provider(namespace=ns, identity="the-controller", **FAST)
    coord = controller.coordination()
    assert coord is not None and coord.may_act()
    controller.start("worker", StartConfig(command="cat", work_dir="/workspace",
                                           startup_timeout=30))
    try:
        cli = make_provider(namespace=ns, **FAST)  # as `gc session nudge` builds it
        cli.nudge("worker", "typed from a shell")
        cli.send_keys("worker", ["echo keys-from-a-shell", "Enter"])
        wait_for(lambda: "keys-from-a-shell" in cli.peek("worker", 20), 10, what="keys echoed")
        assert "typed from a shell" in cli.peek("worker", 20)
        assert cli.coord is None
    finally:
        controller.stop("worker")


def test_a_follower_controllers_api_refuses_a_nudge(
    make_provider: ProviderFactory, emulator: KubeEmulator, tmp_path: Path
) -> None:
    """The dashboard API's nudge runs in the controller process: on a follower it is
    refused with the holder's name, and the agent sees nothing."""
    ns = "fence-api"
    leader = make_provider(namespace=ns, identity="api-leader", city_path="/city", **FAST)
    lead = leader.coordination()
    assert lead is not None and lead.may_act()
    leader.start("mayor", StartConfig(command="cat", work_dir="/workspace", startup_timeout=30))
    city_dir = tmp_path / "replica"
    city_dir.mkdir()
    (city_dir / "city.toml").write_text('[workspace]\nname = "demo"\n[[agent]]\n'
                                        'name = "mayor"\ncommand = "cat"\n')
    follower = make_provider(namespace=ns, identity="api-follower", where=city_dir,
                             city_path="/city", **FAST)
    controller = Controller(open_test_city(city_dir, session=follower, events=MemoryEvents()))
    try:
        assert controller.tick().follower == "api-leader"
        with pytest.raises(ApiError) as caught:
            nudge(controller, "mayor", "from the follower's API", {"mayor"})
        assert "(holder: api-leader)" in str(caught.value)
        # A refusal of its own, not a provider failure (it was 502 "provider").
        assert (caught.value.status, caught.value.code) == (503, "not_leader")
        with pytest.raises(ApiError) as killed:
            kill(controller, "mayor", {"mayor"})
        assert (killed.value.status, killed.value.code) == (503, "not_leader")
        assert "(holder: api-leader)" in killed.value.message
        # Suspend would write this replica's own overrides, which the leader never reads.
        with pytest.raises(ApiError) as held:
            set_agent_suspended(controller, "mayor", True)
        assert (held.value.status, held.value.code) == (503, "not_leader")
        assert held.value.message == (
            "api-follower does not lead (holder: api-leader); not suspending agent 'mayor'")
        assert Overrides.load(controller.paths.overrides).suspended_agents == []
        time.sleep(0.5)
        assert "from the follower's API" not in leader.peek("mayor", 20)
        assert [s.name for s in leader.list_running("")] == ["mayor"]  # not killed
    finally:
        leader.stop("mayor")


def _post(port: int, path: str, body: dict[str, str], token: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_follower_controllers_http_api_answers_not_leader(
    make_provider: ProviderFactory, emulator: KubeEmulator, tmp_path: Path
) -> None:
    """Over HTTP, with the token: a follower's nudge and kill answer 503 ``not_leader``
    naming the holder; the leader's agent sees nothing and keeps running."""
    ns = "fence-http"
    leader = make_provider(namespace=ns, identity="http-leader", city_path="/city", **FAST)
    lead = leader.coordination()
    assert lead is not None and lead.may_act()
    leader.start("mayor", StartConfig(command="cat", work_dir="/workspace", startup_timeout=30))
    city_dir = tmp_path / "replica"
    city_dir.mkdir()
    (city_dir / "city.toml").write_text('[workspace]\nname = "demo"\n[api]\nport = 0\n')
    follower = make_provider(namespace=ns, identity="http-follower", where=city_dir,
                             city_path="/city", **FAST)
    controller = Controller(open_test_city(city_dir, session=follower, events=MemoryEvents()))
    plugin = DashboardPlugin()
    server = ApiServer(controller, plugin)  # port 0: any free one
    server.start()
    try:
        assert controller.tick().follower == "http-leader"
        plugin.listing = follower.list_running("")  # peek and listings stay open to followers
        token = (city_dir / ".gc" / "api-token").read_text().strip()
        for path, body in (("/v0/session/mayor/nudge", {"text": "over http"}),
                           ("/v0/session/mayor/kill", {})):
            status, answer = _post(server.port, path, body, token)
            assert status == 503, (path, status, answer)
            assert answer["code"] == "not_leader", (path, answer)
            assert "(holder: http-leader)" in answer["message"], (path, answer)
            assert "http-follower does not hold lease" in answer["message"], (path, answer)
        time.sleep(0.5)
        assert "over http" not in leader.peek("mayor", 20)
        assert [s.name for s in leader.list_running("")] == ["mayor"]
    finally:
        server.close()
        leader.stop("mayor")
