"""Build every device of a board from its profile: `open_hal(profile, scheduler, on_event)`.

    profile = profile_from_config(config.get("hardware"))   # or load_profile("rpi-4", ...)
    with open_hal(profile, loop, on_event=queue_event) as hal:
        guard_outputs(hal)                       # outputs off on SIGTERM/SIGINT/exit
        hal.relay.pulse(3000)

The relay is built first, so a restart drives it off before anything else can fail. If any later
device cannot be built, everything built so far is closed (outputs off) before the error is raised.
"""

from __future__ import annotations

import atexit
from types import TracebackType
from typing import Any

from hal.audio import AudioIn, AudioOut, open_audio
from hal.backends.sim import SimPins
from hal.devices import Button, DoorSensor, EventSink, Led, Relay
from hal.errors import PinError
from hal.lines import InputLine, OutputLine, PinBackend
from hal.profile import BoardProfile
from hal.scheduler import Scheduler


class Hal:
    """The board's devices. A device the profile does not define is None (`leds` is then empty)."""

    def __init__(self, profile: BoardProfile, pins: PinBackend | None) -> None:
        self.profile = profile
        self.pins = pins
        self.button: Button | None = None
        self.relay: Relay | None = None
        self.leds: dict[str, Led] = {}
        self.door_sensor: DoorSensor | None = None
        self.audio_in: AudioIn | None = None
        self.audio_out: AudioOut | None = None
        self._reserved: dict[str, str] = {}
        self._closed = False

    @property
    def sim(self) -> SimPins | None:
        """The simulated board's controls (`press()`, `history`...) when `board.gpio` is "sim"."""
        return self.pins if isinstance(self.pins, SimPins) else None

    def all_off(self) -> None:
        """Every output off, now, without events. Safe to call again, and from a signal handler."""
        if self.relay is not None:
            self.relay.force_off()
        for led in self.leds.values():
            led.force_off()

    def close(self) -> None:
        """Outputs off, then release every pin and audio device. Safe to call again."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        parts: list[Any] = [self.relay, *self.leds.values(), self.button, self.door_sensor]
        parts += [self.audio_in, self.audio_out, self.pins]
        steps = [self.all_off, *(part.close for part in parts if part is not None)]
        first_error: Exception | None = None
        for step in steps:
            try:
                step()
            except Exception as exc:  # close the rest anyway; report the first failure
                first_error = first_error or exc
        if first_error is not None:
            raise first_error

    def __enter__(self) -> Hal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def reserve(self, key: str, pin: str) -> None:
        if pin in self._reserved:
            raise PinError(
                f"{self.profile.where(key)}: {pin} is already reserved by {self._reserved[pin]}"
            )
        self._reserved[pin] = key


def default_pins(profile: BoardProfile, scheduler: Scheduler) -> PinBackend | None:
    """The backend `board.gpio` names; its library is imported only now."""
    if profile.gpio == "sim":
        return SimPins(scheduler, profile.sim.state_file)
    if profile.gpio == "gpiozero":
        from hal.backends.gpiozero_pins import GpiozeroPins

        return GpiozeroPins()
    if profile.gpio == "rpigpio":
        from hal.backends.rpigpio_pins import RpiGpioPins

        return RpiGpioPins()
    return None


def open_hal(
    profile: BoardProfile,
    scheduler: Scheduler,
    on_event: EventSink,
    *,
    pins: PinBackend | None = None,
    audio: tuple[AudioIn, AudioOut] | None = None,
) -> Hal:
    """Build the board's devices. `pins`/`audio` replace the profile's backends (tests)."""
    if pins is None:
        pins = default_pins(profile, scheduler)
    hal = Hal(profile, pins)
    atexit.register(hal.close)
    try:
        _build(hal, profile, scheduler, on_event)
        hal.audio_in, hal.audio_out = audio if audio is not None else open_audio(profile.audio)
    except BaseException:
        hal.close()
        raise
    return hal


def _build(hal: Hal, profile: BoardProfile, scheduler: Scheduler, on_event: EventSink) -> None:
    if profile.relay is not None:  # first: a restart switches the strike off before anything else
        relay = profile.relay
        line = _output(hal, "relay", relay.pin, relay.active_high)
        hal.relay = Relay(line, relay, scheduler, on_event)
    for name, led in sorted(profile.leds.items()):
        hal.leds[name] = Led(_output(hal, f"leds.{name}", led.pin, led.active_high), scheduler)
    if profile.button is not None:
        button = profile.button
        line_in = _input(hal, "button", button.pin, button.pull, button.active_high)
        hal.button = Button(line_in, button, scheduler, on_event)
    if profile.door_sensor is not None:
        door = profile.door_sensor
        line_in = _input(hal, "door_sensor", door.pin, door.pull, door.active_high)
        hal.door_sensor = DoorSensor(line_in, door, scheduler, on_event)


def _reserve(hal: Hal, name: str, pin: str) -> PinBackend:
    """Reserve `pin` for the device `name` (`relay`, `leds.status`); return the backend."""
    key = f"{name}.pin"
    if hal.pins is None:
        raise PinError(f'{hal.profile.where(key)}: board.gpio is "none": this board has no pins')
    hal.reserve(key, pin)
    return hal.pins


def _output(hal: Hal, name: str, pin: str, active_high: bool) -> OutputLine:
    pins = _reserve(hal, name, pin)
    try:
        return pins.output(name, pin, active_high)
    except PinError as exc:
        raise PinError(f"{hal.profile.where(f'{name}.pin')}: {exc}") from exc


def _input(hal: Hal, name: str, pin: str, pull: str, active_high: bool) -> InputLine:
    pins = _reserve(hal, name, pin)
    try:
        return pins.input(name, pin, pull, active_high)
    except PinError as exc:
        raise PinError(f"{hal.profile.where(f'{name}.pin')}: {exc}") from exc
