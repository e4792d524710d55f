"""What a GPIO backend provides: logical input and output lines, built by a `PinBackend`.

A line is *logical*: True means active (pressed, door open, energised, lit). The backend applies
the wiring's polarity when it builds the line, so devices never deal with pin levels. Timing policy
(debounce, pulse length, blinking) is not the backend's business: it lives in `hal.devices`.
"""

from __future__ import annotations

from typing import Callable, Protocol


class InputLine(Protocol):
    def read(self) -> bool:
        """The current logical level (True = active)."""
        ...

    def watch(self, callback: Callable[[bool], None] | None) -> None:
        """Call `callback(active)` on every change, from any thread (None stops watching)."""
        ...

    def close(self) -> None: ...


class OutputLine(Protocol):
    def set(self, active: bool) -> None:
        """Drive the line; safe to call again with the same value, and from a signal handler."""
        ...

    def close(self) -> None:
        """Drive the line inactive and release the pin."""
        ...


class PinBackend(Protocol):
    """Builds lines for named devices (`relay`, `leds.status`) on named pins (`GPIO17`).

    `output()` must create the line already inactive, with no glitch through the active level.
    """

    def input(self, name: str, pin: str, pull: str, active_high: bool) -> InputLine: ...

    def output(self, name: str, pin: str, active_high: bool) -> OutputLine: ...

    def close(self) -> None: ...
