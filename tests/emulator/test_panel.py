"""The emulator end to end: `intercom emulate` as a real process, its web panel in a real headless
Chromium (Debian's, driven by Playwright): a whole door call with clicks."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.peers import free_port, require

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
INTERCOM = str(Path(sys.executable).with_name("intercom"))

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=2) as response:
        result: dict[str, object] = json.load(response)
        return result


@contextlib.contextmanager
def emulator(tmp_path: Path) -> Iterator[tuple[str, float]]:
    """`intercom emulate --no-browser` on a free port; (panel URL, seconds until /api/status)."""
    port = free_port()
    log = open(tmp_path / "emulator.log", "wb")  # noqa: SIM115 - closed below
    started = time.monotonic()
    process = subprocess.Popen(
        [
            "timeout",
            "-k",
            "5",
            "110",
            INTERCOM,
            "emulate",
            "--no-browser",
            "--audio",
            "sim",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        while True:
            try:
                get_json(url + "api/status")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() - started > 10:
                    raise AssertionError((tmp_path / "emulator.log").read_text()) from None
                time.sleep(0.02)
        yield url, time.monotonic() - started
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            assert process.wait(10) == 0, (tmp_path / "emulator.log").read_text()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            log.close()


def test_emulate_starts_within_3_seconds_and_answers_status(tmp_path: Path) -> None:
    with emulator(tmp_path) as (url, seconds):
        status = get_json(url + "api/status")
        flat = get_json(url + "api/emulator")
    assert seconds < 3.0, f"took {seconds:.2f} s"
    assert status["registration"] == {"state": "DISABLED"}
    assert flat["flat"]["state"] == "IDLE"  # type: ignore[index]
    assert "door audio: simulated" in (tmp_path / "emulator.log").read_text()


def test_a_whole_door_call_with_clicks(tmp_path: Path) -> None:
    if not os.path.exists(CHROMIUM):
        require("chromium")  # skips locally, fails in CI
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with emulator(tmp_path) as (url, _), sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url)
            expect = sync_api.expect
            expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "live")

            page.get_by_test_id("call-button").click()
            expect(page.get_by_test_id("flat-ringing")).to_be_visible(timeout=5000)
            expect(page.get_by_test_id("door-state")).to_have_attribute("data-state", "CALLING")
            page.get_by_test_id("flat-answer").click()
            expect(page.get_by_test_id("flat-state")).to_have_attribute("data-state", "IN_CALL")
            expect(page.get_by_test_id("door-state")).to_have_attribute("data-state", "IN_CALL")

            page.get_by_test_id("flat-open").click()
            relay = page.get_by_test_id("relay-state")
            expect(relay).to_have_attribute("data-state", "on", timeout=5000)
            page.screenshot(path=str(ARTIFACTS / "emulator-door-open.png"))
            expect(relay).to_have_attribute("data-state", "off", timeout=6000)  # pulse_ms 3000

            page.get_by_test_id("flat-hangup").click()
            expect(page.get_by_test_id("door-state")).to_have_attribute("data-state", "IDLE")
            labels = page.locator("[data-testid=ladder-arrow]").evaluate_all(
                "arrows => arrows.map(a => a.dataset.label)"
            )
            for label in ("INVITE", "180 Ringing", "200 OK", "ACK", "BYE"):
                assert label in labels, labels
            assert labels.index("INVITE") < labels.index("ACK") < labels.index("BYE")
            page.screenshot(path=str(ARTIFACTS / "emulator-after-call.png"))
        finally:
            browser.close()
    assert errors == [], errors
