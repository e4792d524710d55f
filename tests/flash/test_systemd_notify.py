"""What the unit's Type=notify and WatchdogSec= rely on: `intercom run` sends READY=1 once it is
up (the HTTP API answers by then), WATCHDOG=1 from its event loop, and STOPPING=1 on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.flash.conftest import REPO, free_port, write_config


def receive(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode().split("\n")


@pytest.mark.timeout(60)
def test_intercom_run_notifies_ready_then_watchdog_then_stopping(tmp_path: Path) -> None:
    api_port = free_port()
    config = write_config(tmp_path / "door.toml", api_port)
    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(20)
        env = {**os.environ, "NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000"}
        env.pop("WATCHDOG_PID", None)
        firmware = subprocess.Popen(
            [sys.executable, "-m", "firmware", "run", "--config", str(config)],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            first = receive(sock)
            assert "READY=1" in first, first
            # READY means up: the API answers at once (systemctl restart returns only then).
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(f"http://127.0.0.1:{api_port}/api/status", timeout=5) as answer:
                assert "version" in json.load(answer)
            sock.settimeout(2)
            pings = [receive(sock) for _ in range(3)]  # every 0.1 s: half of WATCHDOG_USEC
            assert all(message == ["WATCHDOG=1"] for message in pings), pings

            firmware.send_signal(signal.SIGTERM)
            messages = []
            while "STOPPING=1" not in messages:
                messages += receive(sock)
            assert firmware.wait(timeout=15) == 0
        finally:
            if firmware.poll() is None:
                firmware.kill()
            _, errors = firmware.communicate(timeout=15)
    assert "intercom stopped" in errors
