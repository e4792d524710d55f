"""Errors raised by the HAL. Each message names what to fix: the profile key, pin or device."""

from __future__ import annotations


class HalError(Exception):
    """Base class of every error the HAL raises on purpose."""


class ProfileError(HalError, ValueError):
    """A board profile or a `[hardware]` override is invalid.

    The message starts with where the bad value came from, then the key:
    `board/rpi-4.toml: relay.max_pulse_ms: ...` or `config: hardware.relay.pin: ...`.
    """


class PinError(HalError):
    """A pin cannot be used: unknown on this board, or already reserved by another device."""


class AudioDeviceError(HalError):
    """An audio device is missing, busy, or cannot do 8 kHz 16-bit mono."""


class BackendMissingError(HalError):
    """The library a backend needs (gpiozero, RPi.GPIO, pyalsaaudio) is not installed."""
