"""Checks on the audio the peers recorded: how long a tone was heard (Goertzel, 200 ms windows)."""

from __future__ import annotations

import wave
from pathlib import Path

from firmware.core import wav
from firmware.runtime.flat import tone_pcm
from tests.runtime.audio_check import tone_share

WINDOW_BYTES = 3200  # 200 ms of 8 kHz 16-bit mono

# The tones of the tests: what the door's microphone plays, and what the flats' phones play.
# 425 Hz (the door's European ringback, on its own speaker while it calls) is far from all.
DOOR_HZ = 1000
FLAT_HZ = 600
LINPHONE_HZ = 800


def write_tone(path: Path, frequency_hz: float, seconds: float = 60) -> Path:
    """An 8 kHz mono 16-bit WAV of a steady sine (loops without a click)."""
    path.write_bytes(wav.write(tone_pcm(frequency_hz, seconds)))
    return path


def read_pcm(path: Path) -> bytes:
    """The samples of an 8 kHz mono 16-bit WAV."""
    with wave.open(str(path)) as reader:
        params = (reader.getframerate(), reader.getnchannels(), reader.getsampwidth())
        assert params == (8000, 1, 2), f"{path}: {params}"
        return reader.readframes(reader.getnframes())


def seconds_of_tone(pcm: bytes, frequency_hz: float, share: float = 0.8) -> float:
    """How many seconds of pcm are dominated by the tone (share of the energy in 200 ms)."""
    windows = [pcm[i : i + WINDOW_BYTES] for i in range(0, len(pcm) - WINDOW_BYTES + 1, 3200)]
    return 0.2 * sum(1 for w in windows if tone_share(w, frequency_hz) > share)
