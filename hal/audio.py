"""Audio in and out: 16-bit signed little-endian mono at 8 kHz, in 20 ms frames of 320 bytes.

Reads and writes never block. The runtime paces them from its own clock (one `read()` and one
`write()` per 20 ms tick); the devices do not, because a sound card's clock cannot be trusted to
be there (ALSA's `null` and `file` PCMs are unpaced, a USB card drifts).

    audio_in, audio_out = open_audio(profile.audio)
    frame = audio_in.read()          # 320 bytes, or None if no full frame is ready yet
    audio_out.write(frame)           # False if the device had no room (the frame is dropped)

Backends (`audio.backend` in the profile): `alsa` (pyalsaaudio), `wav` (microphone from a WAV
file, speaker into a WAV file), `loopback` (what the speaker plays comes back as the microphone,
for measuring the audio path), `none` (silence in, nothing out).
"""

from __future__ import annotations

from typing import Protocol

from hal.profile import AudioConfig

SAMPLE_RATE = 8000
SAMPLE_BYTES = 2
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 160
FRAME_BYTES = FRAME_SAMPLES * SAMPLE_BYTES  # 320
SILENCE = bytes(FRAME_BYTES)


class AudioIn(Protocol):
    xruns: int  # overruns recovered from (audio was lost, the stream went on)

    def read(self) -> bytes | None:
        """One 320-byte frame, or None if a whole frame is not available yet. Never blocks."""
        ...

    def close(self) -> None: ...


class AudioOut(Protocol):
    xruns: int  # underruns recovered from
    dropped: int  # frames refused because the device buffer was full

    def write(self, frame: bytes) -> bool:
        """Queue one 320-byte frame; False if the device had no room. Never blocks."""
        ...

    def close(self) -> None:
        """Play out what is queued (briefly) and release the device."""
        ...


def check_frame(frame: bytes) -> None:
    if len(frame) != FRAME_BYTES:
        raise ValueError(f"audio frames are {FRAME_BYTES} bytes (20 ms), not {len(frame)}")


def open_audio(config: AudioConfig) -> tuple[AudioIn, AudioOut]:
    """Open the profile's audio input and output. Raises `AudioDeviceError` naming the device."""
    if config.backend == "alsa":
        from hal.backends.alsa_audio import open_alsa

        return open_alsa(config)
    from hal.backends import sim_audio

    if config.backend == "wav":
        return sim_audio.open_wav(config)
    if config.backend == "loopback":
        loop = sim_audio.Loopback()
        return loop.input, loop.output
    return sim_audio.SilentIn(), sim_audio.DiscardOut()
