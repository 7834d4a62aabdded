"""The dashboard in headless Chromium against a real foreground controller.

Set ``GC_DASHBOARD_SCREENSHOT=path.png`` to keep the screenshot (docs/dashboard.png
is made that way).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from gascity.testing import wait_for
from gascity_dashboard.testing import RunningCity
from gascity_dashboard.testing.webdriver import Browser


def test_dashboard_shows_agents_and_live_events(city: RunningCity, tmp_path: Path) -> None:
    browser = Browser(tmp_path / "profile")
    try:
        browser.get(city.url + "/")
        wait_for(lambda: browser.texts("#agents tbody tr td:first-child") == ["mayor", "polecat"],
                 30, what="the agents table")
        assert browser.texts("#agents tr[data-agent='polecat'] .desired") == ["2"]
        assert browser.texts("#agents tr[data-agent='polecat'] .running") == ["2"]
        assert browser.texts("#agents tr[data-agent='mayor'] .state") == ["running"]
        assert browser.texts("#city-name") == ["dash"]
        wait_for(lambda: browser.texts("#feed-state") == ["live"], 15, what="the stream")
        assert "session.woke" in browser.texts("#feed .type")

        # A marker on the page's window: it survives only if the page is not reloaded.
        browser.run("window.gcMarker = 'same page';")
        city.gc("event", "emit", "test.browser", "--actor", "tester",
                "--message", "hello from the test")
        wait_for(lambda: browser.texts("#feed li[data-type='test.browser'] .text")
                 == ["hello from the test"], 20, what="the new event in the feed")
        # An agent's text is shown as text: the page holds the API token, so markup in
        # an event must never run.
        markup = '<img src="x" onerror="window.gcInjected = 1">'
        city.gc("event", "emit", "test.markup", "--actor", "tester", "--message", markup)
        wait_for(lambda: browser.texts("#feed li[data-type='test.markup'] .text") == [markup],
                 20, what="the markup shown as text")
        assert browser.run("return document.querySelectorAll('#feed img').length;") == 0
        assert browser.run("return window.gcInjected === undefined;") is True
        (city.dir / "want").write_text("3")
        city.poke()
        wait_for(lambda: browser.texts("#agents tr[data-agent='polecat'] .running") == ["3"],
                 20, what="the pool's new size")
        assert browser.run("return window.gcMarker;") == "same page"

        browser.click(".session[data-session='mayor']")
        wait_for(lambda: "hello-from-mayor" in "".join(browser.texts("#peek")), 15,
                 what="the mayor's output")
        shot = tmp_path / "dashboard.png"
        browser.screenshot(shot)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        keep = os.environ.get("GC_DASHBOARD_SCREENSHOT")
        if keep:
            shutil.copy(shot, keep)
    finally:
        browser.close()


def test_without_a_token_the_buttons_are_disabled(city: RunningCity, tmp_path: Path) -> None:
    browser = Browser(tmp_path / "profile")
    try:
        browser.get(city.url + "/")
        wait_for(lambda: browser.texts("#agents tbody tr td:first-child"), 30, what="agents")
        assert browser.run("return [...document.querySelectorAll('#agents button')]"
                           ".every(b => b.disabled);") is True
        browser.get(city.url + "/#token=" + city.token())
        wait_for(lambda: browser.run("return document.querySelectorAll("
                                     "'#agents button:not(:disabled)').length;") == 2,
                 30, what="enabled buttons")
        browser.click("#agents tr[data-agent='polecat'] button")
        wait_for(lambda: browser.texts("#agents tr[data-agent='polecat'] .state")
                 == ["suspended"], 30, what="polecat suspended from the page")
        assert city.get("/v0/agent/polecat").json()["suspended"] is True
    finally:
        browser.close()
