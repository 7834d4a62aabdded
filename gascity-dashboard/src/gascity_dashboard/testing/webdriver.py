"""A minimal W3C WebDriver client for Debian's chromium + chromium-driver.

A few endpoints of the standard protocol over urllib are all the dashboard test needs,
so the test needs no browser download and no extra package.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from gascity.testing import wait_for
from gascity.testing.support import free_port

__all__ = ["Browser", "browser_available"]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1400,900",
]
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C web element key


def browser_available() -> bool:
    return CHROMIUM is not None and CHROMEDRIVER is not None


class Browser:
    def __init__(self, profile: Path) -> None:
        if not (CHROMIUM and CHROMEDRIVER):
            # A failure, never a skip: CI installs both (.ci/run), so the page is always tested.
            raise RuntimeError("the dashboard test needs Debian's chromium and chromium-driver "
                               "(apt-get install chromium chromium-driver)")
        self.port = free_port()
        self.log = profile.parent / "chromedriver.log"
        self.driver = subprocess.Popen(
            [CHROMEDRIVER, f"--port={self.port}", f"--log-path={self.log}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        wait_for(self._driver_ready, 30, what="chromedriver")
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM,
                                   "args": [*FLAGS, f"--user-data-dir={profile}"]},
        }}}
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _driver_ready(self) -> bool:
        try:
            return bool(self._call("GET", "/status").get("ready"))
        except OSError:
            return False

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return json.loads(resp.read())["value"]
        except urllib.error.HTTPError as err:
            raise AssertionError(f"webdriver {method} {path}: {err.read().decode()}") from None

    def _s(self, path: str) -> str:
        return f"/session/{self.session}{path}"

    def get(self, url: str) -> None:
        self._call("POST", self._s("/url"), {"url": url})

    def run(self, script: str, *args: Any) -> Any:
        return self._call("POST", self._s("/execute/sync"), {"script": script, "args": list(args)})

    def texts(self, css: str) -> list[str]:
        # One script, not find-then-read: the page re-renders its tables as data arrives,
        # and an element found a moment ago may be gone ("stale") when read.
        found = self.run("return [...document.querySelectorAll(arguments[0])]"
                         ".map(e => e.innerText.trim());", css)
        return [str(t) for t in found]

    def click(self, css: str) -> None:
        for attempt in range(5):
            found = self._call("POST", self._s("/element"),
                               {"using": "css selector", "value": css})
            try:
                self._call("POST", self._s(f"/element/{found[ELEMENT]}/click"), {})
                return
            except AssertionError as exc:
                if "stale element" not in str(exc) or attempt == 4:
                    raise

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self._call("GET", self._s("/screenshot"))))

    def close(self) -> None:
        try:
            self._call("DELETE", self._s(""))
        except (OSError, AssertionError):
            pass
        self.driver.terminate()
        try:
            self.driver.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.driver.kill()
            self.driver.wait()
        time.sleep(0)
