"""Outputs off on SIGTERM, SIGINT, SIGHUP and at interpreter exit.

`open_hal()` already closes the HAL at interpreter exit (atexit) and `with open_hal(...)` on any
error. Python's default SIGTERM/SIGHUP handling ends the process without running either, hence
`guard_outputs()`: its handlers switch every output off *first*, then raise `SystemExit(128 +
signal)` (`KeyboardInterrupt` for SIGINT) so `with` blocks and `finally` clauses unwind.

A runtime that later installs its own handlers (`loop.add_signal_handler`) replaces these and
must call `hal.all_off()` first thing in them. Nothing helps against SIGKILL or a power cut: the
relay stays where it was until the next start, which switches it off before anything else
(see `open_hal`), and the board's boot pull keeps the relay module off meanwhile (board/README.md).
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Callable

from hal.factory import Hal

GUARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def guard_outputs(hal: Hal) -> Callable[[], None]:
    """Install the handlers (main thread only); return a function restoring the previous ones."""

    def handler(signum: int, frame: FrameType | None) -> None:
        hal.all_off()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, handler) for sig in GUARDED_SIGNALS}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
