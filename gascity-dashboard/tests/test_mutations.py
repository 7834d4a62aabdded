"""Mutations need the token in .gc/ and are refused on a non-loopback bind."""

from __future__ import annotations

from pathlib import Path

import pytest

from gascity.testing import wait_for
from gascity_dashboard.testing import RunningCity, start_city, stop_city

MUTATIONS = [
    ("/v0/agent/polecat/suspend", {}),
    ("/v0/agent/polecat/resume", {}),
    ("/v0/session/mayor/nudge", {"text": "hello"}),
    ("/v0/session/mayor/kill", {}),
    ("/v0/reload", {}),
]


def sessions(city: RunningCity) -> list[tuple[str, str]]:
    return [(s["name"], s["state"]) for s in city.get("/v0/sessions").json()["items"]]


@pytest.mark.parametrize(("path", "body"), MUTATIONS, ids=[p for p, _ in MUTATIONS])
def test_refused_without_the_token(city: RunningCity, path: str, body: dict[str, str]) -> None:
    before = sessions(city)
    pid = city.session_pid("mayor")
    missing = city.post(path, body)
    assert missing.status == 401 and missing.json()["code"] == "unauthorized"
    wrong = city.post(path, body, token="not-the-token")
    assert wrong.status == 401
    city.poke()
    assert sessions(city) == before  # nothing changed
    assert city.session_pid("mayor") == pid
    assert city.get("/v0/agent/polecat").json()["suspended"] is False


def test_other_methods_are_refused_too(city: RunningCity) -> None:
    assert city.request("DELETE", "/v0/agent/polecat").status == 401
    assert city.request("PUT", "/v0/agent/polecat", {}).status == 401


def test_suspend_and_resume_with_the_token(city: RunningCity) -> None:
    token = city.token()
    resp = city.post("/v0/agent/polecat/suspend", token=token)
    assert resp.status == 200 and resp.json()["suspended"] is True
    polecat = city.get("/v0/agent/polecat").json()
    assert polecat["state"] == "suspended" and polecat["running_sessions"] == 0
    assert city.post("/v0/agent/polecat/resume", token=token).status == 200
    polecat = city.get("/v0/agent/polecat").json()
    assert polecat["suspended"] is False and polecat["running_sessions"] == 2
    assert city.post("/v0/agent/ghost/suspend", token=token).status == 404


def test_nudge_and_kill_with_the_token(city: RunningCity) -> None:
    token = city.token()
    assert city.post("/v0/session/mayor/nudge", {}, token=token).status == 400
    assert city.post("/v0/session/ghost/kill", token=token).status == 404
    pid = city.session_pid("mayor")
    resp = city.post("/v0/session/mayor/kill", token=token)
    assert resp.status == 200 and resp.json()["stopped"] is True
    city.poke()  # still desired: the controller starts it again
    wait_for(lambda: city.session_pid("mayor") != pid, 10, what="the mayor restarted")


def test_reload_with_the_token(city: RunningCity) -> None:
    text = (city.dir / "city.toml").read_text()
    (city.dir / "city.toml").write_text(text + '\n[[agent]]\nname = "deacon"\n'
                                        'command = "exec sleep 3600"\n')
    resp = city.post("/v0/reload", token=city.token())
    assert resp.status == 200, resp.body
    assert city.get("/v0/agent/deacon").json()["running_sessions"] == 1


def test_a_non_loopback_bind_is_read_only(tmp_path: Path) -> None:
    city = start_city(tmp_path, api_extra='bind = "0.0.0.0"')
    try:
        assert city.get("/v0/status").status == 200  # reads still work
        resp = city.post("/v0/agent/polecat/suspend", token=city.token())
        assert resp.status == 403 and resp.json()["code"] == "read_only"
        assert city.get("/v0/agent/polecat").json()["suspended"] is False
    finally:
        stop_city(city)


def test_allow_mutations_on_a_non_loopback_bind_still_needs_the_token(tmp_path: Path) -> None:
    city = start_city(tmp_path, api_extra='bind = "0.0.0.0"\nallow_mutations = true')
    try:
        assert city.post("/v0/agent/polecat/suspend").status == 401
        resp = city.post("/v0/agent/polecat/suspend", token=city.token())
        assert resp.status == 200
    finally:
        stop_city(city)


def test_an_empty_bind_is_the_loopback_default(tmp_path: Path) -> None:
    # As the reference's BindOrDefault: "" is 127.0.0.1 (to a socket it would mean every
    # interface, and the API would then be read-only).
    city = start_city(tmp_path, api_extra='bind = ""')
    try:
        assert city.get("/v0/api").json()["read_only"] is False
        assert city.post("/v0/agent/polecat/suspend", token=city.token()).status == 200
    finally:
        stop_city(city)


def test_ipv6_loopback_is_local(tmp_path: Path) -> None:
    # "::1" is one of the reference's three local binds; it needs an IPv6 listener.
    city = start_city(tmp_path, api_extra='bind = "::1"', host="::1")
    try:
        assert city.get("/v0/status").json()["name"] == "dash"
        assert city.post("/v0/agent/polecat/suspend").status == 401
        assert city.post("/v0/agent/polecat/suspend", token=city.token()).status == 200
    finally:
        stop_city(city)


def test_other_loopback_addresses_are_read_only_as_in_the_reference(tmp_path: Path) -> None:
    # The reference treats only 127.0.0.1, localhost and ::1 as local; 127.0.0.2 is
    # loopback to the kernel but a non-local bind to Gas City.
    city = start_city(tmp_path, api_extra='bind = "127.0.0.2"', host="127.0.0.2")
    try:
        resp = city.post("/v0/agent/polecat/suspend", token=city.token())
        assert resp.status == 403 and resp.json()["code"] == "read_only"
        assert city.get("/v0/api").json()["read_only"] is True
    finally:
        stop_city(city)
