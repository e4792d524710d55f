"""sd_notify messages arrive on a NOTIFY_SOCKET the test provides (path and abstract namespace)."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest

from firmware.runtime.sdnotify import Notifier


def receiver(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + address[1:] if address.startswith("@") else address)
    sock.settimeout(2)
    return sock


@pytest.mark.parametrize("abstract", [False, True])
def test_ready_status_stopping(tmp_path: Path, abstract: bool) -> None:
    address = f"@intercom-test-{os.getpid()}" if abstract else str(tmp_path / "notify")
    with receiver(address) as sock:
        notifier = Notifier({"NOTIFY_SOCKET": address})
        notifier.ready("registered")
        assert sock.recv(1024) == b"READY=1\nSTATUS=registered"
        notifier.status("in call")
        assert sock.recv(1024) == b"STATUS=in call"
        notifier.stopping()
        assert sock.recv(1024) == b"STOPPING=1"


@pytest.mark.timeout(10)
def test_watchdog_pings_from_the_loop(tmp_path: Path) -> None:
    address = str(tmp_path / "notify")
    env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": str(os.getpid())}

    async def run() -> int:
        notifier = Notifier(env)
        notifier.start_watchdog(asyncio.get_running_loop())
        await asyncio.sleep(0.55)  # pings at 0, 0.1, 0.2, ... s
        notifier.stop_watchdog()
        return 0

    with receiver(address) as sock:
        asyncio.run(run())
        sock.settimeout(0.05)
        pings = []
        while True:
            try:
                pings.append(sock.recv(64))
            except TimeoutError:
                break
    assert pings and set(pings) == {b"WATCHDOG=1"}
    assert 4 <= len(pings) <= 7


def test_disabled_without_socket_or_for_another_pid() -> None:
    assert not Notifier({}).enabled
    Notifier({}).ready()  # nothing to send to, and no error
    other = Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
    assert other.watchdog_s is None
