"""Events the HAL reports to the runtime, always on the runtime's loop thread.

Timestamps are milliseconds on the scheduler's clock (`scheduler.time() * 1000`), the clock the
runtime's `now_ms` comes from. `at_ms` is when the thing happened at the pin (the start of the
steady level), which is earlier than when the event is delivered: a press is only known to be a
press once it has lasted the minimum press length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class ButtonPressed:
    at_ms: float


@dataclass(frozen=True)
class ButtonHeld:
    """The button has been held for the profile's `button.hold_ms`; sent once per press."""

    at_ms: float
    held_ms: float


@dataclass(frozen=True)
class ButtonReleased:
    at_ms: float
    held_ms: float


@dataclass(frozen=True)
class DoorOpened:
    at_ms: float


@dataclass(frozen=True)
class DoorClosed:
    at_ms: float


# Why the relay changed state.
COMMAND = "command"  # pulse()/on()/off() from the runtime
PULSE_END = "pulse_end"  # the pulse timer fired
WATCHDOG = "watchdog"  # enforce_deadline() found the pulse overdue and switched it off


@dataclass(frozen=True)
class RelaySwitched:
    at_ms: float
    energised: bool
    reason: str


HalEvent = Union[ButtonPressed, ButtonHeld, ButtonReleased, DoorOpened, DoorClosed, RelaySwitched]
