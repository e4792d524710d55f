"""One HAL per backend, with the same handles for every test: drive an input at its pin, read an
output's pin level. The contract tests are written against `Rig` only."""

from __future__ import annotations

import dataclasses
import sys
import types
from typing import Any

from hal import Hal, ManualScheduler, load_profile, open_hal
from hal.profile import BoardProfile

BACKENDS = ("sim", "gpiozero-mock", "rpigpio-fake")

# Two wirings: as the boards ship, and every polarity turned around (an active-low relay module
# on a pin pulled up at boot, a button to 3V3, an LED sinking current, a door contact open = low).
WIRINGS: dict[str, dict[str, Any]] = {
    "as-shipped": {},
    "inverted": {
        "relay": {"pin": "GPIO4", "active_high": False},
        "button": {"pull": "down", "active_high": True},
        "door_sensor": {"pull": "down", "active_high": False},
        "leds": {"status": {"active_high": False}},
    },
}

NO_AUDIO = {"audio": {"backend": "none"}}


def device_config(profile: BoardProfile, device: str) -> Any:
    if device.startswith("leds."):
        return profile.leds[device.removeprefix("leds.")]
    return getattr(profile, device)


class Rig:
    """A HAL on one backend, driven by a ManualScheduler."""

    backend: str

    def __init__(self, profile: BoardProfile, scheduler: ManualScheduler) -> None:
        self.profile = profile
        self.scheduler = scheduler
        self.events: list[Any] = []
        self.hal: Hal

    def on_event(self, event: Any) -> None:
        """Collect events with times rounded to the microsecond (the clock is a float)."""
        times = {
            f.name: round(getattr(event, f.name), 3)
            for f in dataclasses.fields(event)
            if f.name.endswith("_ms")
        }
        self.events.append(dataclasses.replace(event, **times))

    def now_ms(self) -> float:
        return self.scheduler.time() * 1000.0

    def advance(self, ms: float) -> None:
        self.scheduler.advance_ms(ms)

    def drive(self, device: str, active: bool) -> None:
        """The outside world: press the button, open the door (logical level, at the pin)."""
        config = device_config(self.profile, device)
        self.drive_pin(config.pin, active == config.active_high)

    def is_active(self, device: str) -> bool:
        """Whether the output's *pin* is at its active level (relay energised, LED lit)."""
        config = device_config(self.profile, device)
        return self.pin_level(config.pin) == config.active_high

    def boot_level_active(self, device: str) -> bool:
        """Whether the output's pin was at its active level before the HAL existed (boot pull)."""
        config = device_config(self.profile, device)
        return self.pin_levels(config.pin)[0] == config.active_high

    def ever_driven_active(self, device: str) -> bool:
        """Whether the HAL ever drove the output's pin to its active level."""
        config = device_config(self.profile, device)
        return config.active_high in self.pin_levels(config.pin)[1:]

    # per backend

    def drive_pin(self, pin: str, high: bool) -> None:
        raise NotImplementedError

    def pin_level(self, pin: str) -> bool:
        raise NotImplementedError

    def pin_levels(self, pin: str) -> list[bool]:
        """Every level the pin had: first the one before the HAL was built, then each change."""
        raise NotImplementedError

    def close(self) -> None:
        self.hal.close()


class SimRig(Rig):
    backend = "sim"

    def __init__(self, wiring: dict[str, Any], scheduler: ManualScheduler, **hal: Any) -> None:
        super().__init__(load_profile("sim", overrides=wiring), scheduler)
        self.hal = open_hal(self.profile, scheduler, self.on_event, **hal)
        self._names = {config: name for name, config in self.profile.pins().items()}

    def _device(self, pin: str) -> str:
        return self._names[pin].removesuffix(".pin")

    def drive_pin(self, pin: str, high: bool) -> None:
        device = self._device(pin)
        assert self.hal.sim is not None
        self.hal.sim.set_input(device, high == device_config(self.profile, device).active_high)

    def pin_level(self, pin: str) -> bool:
        device = self._device(pin)
        assert self.hal.sim is not None
        active = self.hal.sim.outputs()[device]
        return active == device_config(self.profile, device).active_high

    def pin_levels(self, pin: str) -> list[bool]:
        device = self._device(pin)
        active_high = device_config(self.profile, device).active_high
        assert self.hal.sim is not None
        changes = [change.active for change in self.hal.sim.changes(device)]
        return [active == active_high for active in [False, *changes]]


class GpiozeroRig(Rig):
    backend = "gpiozero-mock"

    def __init__(self, wiring: dict[str, Any], scheduler: ManualScheduler, **hal: Any) -> None:
        from gpiozero.pins.mock import MockFactory

        from hal.backends.gpiozero_pins import GpiozeroPins

        profile = load_profile("rpi-4", overrides={**wiring, **NO_AUDIO})
        super().__init__(profile, scheduler)
        self.factory = MockFactory(revision=profile.revision)
        preset_boot_pulls(profile, lambda pin, up: self._preset(pin, up))
        self.hal = open_hal(
            profile, scheduler, self.on_event, pins=GpiozeroPins(self.factory), **hal
        )

    def _preset(self, pin: str, up: bool) -> None:
        mock = self.factory.pin(pin)
        mock.pull = "up" if up else "down"
        mock.clear_states()

    def drive_pin(self, pin: str, high: bool) -> None:
        mock = self.factory.pin(pin)
        mock.drive_high() if high else mock.drive_low()

    def pin_level(self, pin: str) -> bool:
        return bool(self.factory.pin(pin).state)

    def pin_levels(self, pin: str) -> list[bool]:
        return [bool(state.state) for state in self.factory.pin(pin).states]

    def close(self) -> None:
        super().close()
        self.factory.close()


class RpiGpioRig(Rig):
    backend = "rpigpio-fake"

    def __init__(self, wiring: dict[str, Any], scheduler: ManualScheduler, **hal: Any) -> None:
        from tests.hal import fake_rpigpio

        self.gpio = fake_rpigpio.make_module()
        package = types.ModuleType("RPi")
        package.GPIO = self.gpio  # type: ignore[attr-defined]
        self._saved = {
            name: sys.modules.get(name) for name in ("RPi", "RPi.GPIO", "hal.backends.rpigpio_pins")
        }
        sys.modules.update({"RPi": package, "RPi.GPIO": self.gpio})
        sys.modules.pop("hal.backends.rpigpio_pins", None)
        profile = load_profile(
            "rpi-4", overrides={**wiring, **NO_AUDIO, "board": {"gpio": "rpigpio"}}
        )
        super().__init__(profile, scheduler)
        self.gpio.setmode(self.gpio.BCM)
        preset_boot_pulls(profile, self._preset)
        self.hal = open_hal(profile, scheduler, self.on_event, **hal)

    def _preset(self, pin: str, up: bool) -> None:
        channel = int(pin.removeprefix("GPIO"))
        self.gpio.state["pins"][channel] = {
            "direction": None,
            "level": int(up),
            "levels": [int(up)],
            "callback": None,
        }

    def drive_pin(self, pin: str, high: bool) -> None:
        self.gpio.drive(int(pin.removeprefix("GPIO")), int(high))

    def pin_level(self, pin: str) -> bool:
        return bool(self.gpio.state["pins"][int(pin.removeprefix("GPIO"))]["level"])

    def pin_levels(self, pin: str) -> list[bool]:
        return [
            bool(level)
            for level in self.gpio.state["pins"][int(pin.removeprefix("GPIO"))]["levels"]
        ]

    def close(self) -> None:
        try:
            super().close()
        finally:
            for name, module in self._saved.items():
                if module is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = module


def preset_boot_pulls(profile: BoardProfile, preset: Any) -> None:
    """Put every output pin at the level the SoC's boot pull gives it, before the HAL exists."""
    assert profile.boot_pull_up is not None
    for key, pin in profile.pins().items():
        if not key.endswith(("button.pin", "door_sensor.pin")):
            preset(pin, pin in profile.boot_pull_up)


def make_rig(
    backend: str, wiring: str = "as-shipped", scheduler: ManualScheduler | None = None, **hal: Any
) -> Rig:
    rig_class = {"sim": SimRig, "gpiozero-mock": GpiozeroRig, "rpigpio-fake": RpiGpioRig}[backend]
    return rig_class(WIRINGS[wiring], scheduler or ManualScheduler(), **hal)
