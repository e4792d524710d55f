"""Hardware abstraction: button, relay, LEDs, door sensor and audio, over swappable backends.

    from hal import load_profile, open_hal, guard_outputs

    profile = profile_from_config(config.get("hardware"))   # [hardware] profile = "rpi-4"
    with open_hal(profile, loop, on_event) as hal:
        guard_outputs(hal)
        ...

Importing `hal` imports no hardware library: gpiozero, RPi.GPIO and alsaaudio are imported only
when a profile chooses their backend.
"""

from hal.audio import FRAME_BYTES, FRAME_MS, SAMPLE_RATE, AudioIn, AudioOut, open_audio
from hal.devices import LED_PATTERNS, Button, DoorSensor, Led, LedPattern, Relay
from hal.errors import AudioDeviceError, BackendMissingError, HalError, PinError, ProfileError
from hal.events import (
    ButtonHeld,
    ButtonPressed,
    ButtonReleased,
    DoorClosed,
    DoorOpened,
    HalEvent,
    RelaySwitched,
)
from hal.factory import Hal, open_hal
from hal.profile import BoardProfile, available_profiles, load_profile, profile_from_config
from hal.safety import guard_outputs
from hal.scheduler import ManualScheduler, Scheduler

__all__ = [
    "FRAME_BYTES",
    "FRAME_MS",
    "LED_PATTERNS",
    "SAMPLE_RATE",
    "AudioDeviceError",
    "AudioIn",
    "AudioOut",
    "BackendMissingError",
    "BoardProfile",
    "Button",
    "ButtonHeld",
    "ButtonPressed",
    "ButtonReleased",
    "DoorClosed",
    "DoorOpened",
    "DoorSensor",
    "Hal",
    "HalError",
    "HalEvent",
    "Led",
    "LedPattern",
    "ManualScheduler",
    "PinError",
    "ProfileError",
    "Relay",
    "RelaySwitched",
    "Scheduler",
    "available_profiles",
    "guard_outputs",
    "load_profile",
    "open_audio",
    "open_hal",
    "profile_from_config",
]
