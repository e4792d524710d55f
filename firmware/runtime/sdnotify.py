"""systemd's notify protocol (sd_notify(3)): READY, STATUS, STOPPING and the watchdog keep-alive.

The keep-alive is sent from a timer on the event loop itself, so a hung loop stops it and systemd
restarts the service after WatchdogSec. Without NOTIFY_SOCKET (not under systemd) it does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

log = logging.getLogger("intercom.systemd")


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        # An address starting with '@' is in the abstract namespace.
        self.address = "\0" + path[1:] if path.startswith("@") else path
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        wanted = usec.isdigit() and (not pid or pid == str(os.getpid()))
        self.watchdog_s = int(usec) / 1e6 if wanted else None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, *fields: str) -> None:
        if not self.address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto("\n".join(fields).encode(), self.address)
        except OSError as exc:
            log.warning("sd_notify failed: %s", exc)

    def ready(self, status: str = "") -> None:
        self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, status: str) -> None:
        self.notify(f"STATUS={status}")

    def stopping(self) -> None:
        self.stop_watchdog()
        self.notify("STOPPING=1")

    def start_watchdog(self, loop: asyncio.AbstractEventLoop) -> None:
        """Ping at half the watchdog interval, from the loop."""
        if self.watchdog_s is None or not self.address:
            return
        interval = self.watchdog_s / 2

        def ping() -> None:
            self.notify("WATCHDOG=1")
            self._timer = loop.call_later(interval, ping)

        ping()

    def stop_watchdog(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
