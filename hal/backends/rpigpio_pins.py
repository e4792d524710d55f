"""GPIO through RPi.GPIO, for older images without gpiozero's lgpio support.

RPi.GPIO's own `bouncetime` is not used: it drops edges that follow an edge within the window,
which can lose a release and leave a button "stuck". All debouncing is done by `hal.debounce`.
RPi.GPIO does not work on the Pi 5; use the gpiozero backend there.
"""

from __future__ import annotations

from typing import Any, Callable

from hal.errors import BackendMissingError, PinError

try:
    import RPi.GPIO as GPIO
except ImportError as exc:  # pragma: no cover - depends on the machine
    raise BackendMissingError(
        "board.gpio \"rpigpio\" needs RPi.GPIO: pip install 'sip-intercom[rpigpio]'"
    ) from exc
except RuntimeError as exc:  # RPi.GPIO raises this when not on a Raspberry Pi
    raise BackendMissingError(f'board.gpio "rpigpio": RPi.GPIO cannot run here: {exc}') from exc


def _channel(pin: str) -> int:
    return int(pin.removeprefix("GPIO"))


class _Input:
    def __init__(self, channel: int, active_level: int) -> None:
        self._channel = channel
        self._active_level = active_level
        self._watching = False

    def read(self) -> bool:
        return bool(GPIO.input(self._channel) == self._active_level)

    def watch(self, callback: Callable[[bool], None] | None) -> None:
        if self._watching:
            GPIO.remove_event_detect(self._channel)
            self._watching = False
        if callback is not None:
            # RPi.GPIO calls back on its own thread with the channel; read the level there.
            GPIO.add_event_detect(
                self._channel, GPIO.BOTH, callback=lambda channel: callback(self.read())
            )
            self._watching = True

    def close(self) -> None:
        self.watch(None)
        GPIO.cleanup(self._channel)


class _Output:
    def __init__(self, channel: int, active_level: int, inactive_level: int) -> None:
        self._channel = channel
        self._active_level = active_level
        self._inactive_level = inactive_level
        self._closed = False

    def set(self, active: bool) -> None:
        if not self._closed:
            GPIO.output(self._channel, self._active_level if active else self._inactive_level)

    def close(self) -> None:
        if not self._closed:
            self.set(False)
            self._closed = True
            GPIO.cleanup(self._channel)


class RpiGpioPins:
    """A `PinBackend` over RPi.GPIO, BCM numbering."""

    def __init__(self) -> None:
        GPIO.setwarnings(False)
        GPIO.setmode(GPIO.BCM)
        self._claimed: dict[int, str] = {}
        self._lines: list[Any] = []

    def input(self, name: str, pin: str, pull: str, active_high: bool) -> _Input:
        channel = self._claim(name, pin)
        pud = {"up": GPIO.PUD_UP, "down": GPIO.PUD_DOWN, "none": GPIO.PUD_OFF}[pull]
        try:
            GPIO.setup(channel, GPIO.IN, pull_up_down=pud)
        except (ValueError, RuntimeError) as exc:
            del self._claimed[channel]
            raise PinError(f"{pin}: {exc}") from exc
        line = _Input(channel, GPIO.HIGH if active_high else GPIO.LOW)
        self._lines.append(line)
        return line

    def output(self, name: str, pin: str, active_high: bool) -> _Output:
        channel = self._claim(name, pin)
        active, inactive = (GPIO.HIGH, GPIO.LOW) if active_high else (GPIO.LOW, GPIO.HIGH)
        try:
            GPIO.setup(channel, GPIO.OUT, initial=inactive)  # no glitch: level set with direction
        except (ValueError, RuntimeError) as exc:
            del self._claimed[channel]
            raise PinError(f"{pin}: {exc}") from exc
        line = _Output(channel, active, inactive)
        self._lines.append(line)
        return line

    def close(self) -> None:
        for line in self._lines:
            line.close()
        self._lines.clear()
        self._claimed.clear()

    def _claim(self, name: str, pin: str) -> int:
        channel = _channel(pin)
        if channel in self._claimed:
            raise PinError(f"{pin}: already in use by {self._claimed[channel]}")
        self._claimed[channel] = name
        return channel
