"""GPIO through gpiozero: every Pi, the Pi 5 included (gpiozero picks lgpio there).

gpiozero reserves the pins, applies the polarity and creates outputs already at their inactive
level. Its own timing features (bounce_time, blink) are not used: their threads would be timing
policy outside the scheduler. Tests pass `gpiozero.pins.mock.MockFactory(revision=...)`.
"""

from __future__ import annotations

from typing import Any, Callable

from hal.errors import BackendMissingError, PinError

try:
    from gpiozero import DigitalInputDevice, GPIOZeroError, OutputDevice
except ImportError as exc:  # pragma: no cover - depends on the machine
    raise BackendMissingError(
        "board.gpio \"gpiozero\" needs gpiozero: pip install 'sip-intercom[gpio]'"
    ) from exc

_PULL_UP = {"up": True, "down": False, "none": None}


class _Input:
    def __init__(self, device: Any, invert: bool) -> None:
        self._device = device
        self._invert = invert  # gpiozero's idea of "active" is the opposite of ours
        self._watching = False

    def read(self) -> bool:
        return bool(self._device.is_active) != self._invert

    def watch(self, callback: Callable[[bool], None] | None) -> None:
        if callback is None:
            if self._watching:
                self._device.when_activated = None
                self._device.when_deactivated = None
                self._watching = False
            return
        invert = self._invert
        self._device.when_activated = lambda: callback(not invert)
        self._device.when_deactivated = lambda: callback(invert)
        self._watching = True

    def close(self) -> None:
        self.watch(None)
        self._device.close()


class _Output:
    def __init__(self, device: Any) -> None:
        self._device = device

    def set(self, active: bool) -> None:
        if self._device.closed:
            return  # closed means released, inactive: nothing left to drive
        if active:
            self._device.on()
        else:
            self._device.off()

    def close(self) -> None:
        if not self._device.closed:
            self._device.off()
            self._device.close()


class GpiozeroPins:
    """A `PinBackend` over a gpiozero pin factory (None: gpiozero's default for this board)."""

    def __init__(self, pin_factory: Any = None) -> None:
        self._factory = pin_factory
        self._devices: list[Any] = []

    def input(self, name: str, pin: str, pull: str, active_high: bool) -> _Input:
        pull_up = _PULL_UP[pull]
        try:
            device = DigitalInputDevice(
                pin,
                pull_up=pull_up,
                active_state=active_high if pull_up is None else None,
                pin_factory=self._factory,
            )
        except GPIOZeroError as exc:
            raise PinError(f"{pin}: {exc}") from exc
        self._devices.append(device)
        # With a pull resistor gpiozero takes the opposite level as active (pull-up: low).
        invert = pull_up is not None and pull_up == active_high
        return _Input(device, invert)

    def output(self, name: str, pin: str, active_high: bool) -> _Output:
        try:
            device = OutputDevice(
                pin, active_high=active_high, initial_value=False, pin_factory=self._factory
            )
        except GPIOZeroError as exc:
            raise PinError(f"{pin}: {exc}") from exc
        self._devices.append(device)
        return _Output(device)

    def close(self) -> None:
        for device in self._devices:
            if not device.closed:
                device.close()
        self._devices.clear()
