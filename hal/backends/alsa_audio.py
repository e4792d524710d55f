"""ALSA audio through pyalsaaudio, non-blocking, paced by the runtime.

pyalsaaudio reports an xrun as a negative count (-EPIPE) and has already re-prepared the stream
when it does, so recovering is: count it, refill the playback buffer with a little silence, carry
on. The call never ends because of an xrun. Other ALSA errors (a USB card unplugged) raise
`AudioDeviceError`.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

from hal.audio import FRAME_BYTES, FRAME_SAMPLES, SAMPLE_RATE, SILENCE, check_frame
from hal.errors import AudioDeviceError, BackendMissingError
from hal.profile import AudioConfig

try:
    import alsaaudio
except ImportError as exc:  # pragma: no cover - depends on the machine
    raise BackendMissingError(
        "audio.backend \"alsa\" needs pyalsaaudio: pip install 'sip-intercom[alsa]' "
        "(it builds against libasound2-dev)"
    ) from exc

PERIODS = 4  # ALSA buffer: 4 x 20 ms
PREFILL_FRAMES = 2  # silence queued before playback (re)starts: 40 ms of slack for the pacing
MAX_PENDING = 4 * FRAME_BYTES  # capture bytes held back at most (bounded latency)


class _Pcm(Protocol):
    def read(self) -> tuple[int, bytes]: ...

    def write(self, data: bytes) -> int: ...

    def drain(self) -> int: ...

    def close(self) -> None: ...


def describe_error(exc: Exception, device: str) -> str:
    """Turn an ALSA error into a sentence that says what to do."""
    text = str(exc)
    lowered = text.lower()
    if "busy" in lowered:
        return f"{device}: busy: another program is using it (find it with `fuser -v /dev/snd/*`)"
    if "no such" in lowered or "cannot find card" in lowered:
        return f"{device}: not found (list devices with `arecord -L` / `aplay -L`): {text}"
    if "permission denied" in lowered:
        return f"{device}: permission denied (add the user to the 'audio' group): {text}"
    return f"{device}: {text}"


class AlsaIn:
    xruns: int

    def __init__(self, pcm: _Pcm, device: str, where: str) -> None:
        self._pcm = pcm
        self._device = device
        self._where = where
        self._pending = bytearray()
        self.xruns = 0

    def read(self) -> bytes | None:
        try:
            count, data = self._pcm.read()
        except alsaaudio.ALSAAudioError as exc:
            reason = describe_error(exc, self._device)
            raise AudioDeviceError(f"{self._where}: capture failed: {reason}") from exc
        if count < 0:  # overrun: audio was lost; pyalsaaudio has re-prepared the stream
            self.xruns += 1
            self._pending.clear()
            return None
        self._pending += data
        if len(self._pending) > MAX_PENDING:
            del self._pending[: len(self._pending) - FRAME_BYTES]
        if len(self._pending) < FRAME_BYTES:
            return None
        frame = bytes(self._pending[:FRAME_BYTES])
        del self._pending[:FRAME_BYTES]
        return frame

    def close(self) -> None:
        self._pcm.close()


class AlsaOut:
    xruns: int
    dropped: int

    def __init__(self, pcm: _Pcm, device: str, where: str) -> None:
        self._pcm = pcm
        self._device = device
        self._where = where
        self.xruns = 0
        self.dropped = 0
        self._closed = False
        self._prefill()

    def write(self, frame: bytes) -> bool:
        check_frame(frame)
        written = self._write(frame)
        if written < 0:  # underrun: the stream was re-prepared; give it slack, then the frame
            self.xruns += 1
            self._prefill()
            written = self._write(frame)
        if written <= 0:
            self.dropped += 1
            return False
        return True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Play out the last frames (at most the 80 ms buffer). A non-blocking drain may refuse:
        # then the tail is lost, nothing else.
        with contextlib.suppress(alsaaudio.ALSAAudioError):
            self._pcm.drain()
        self._pcm.close()

    def _prefill(self) -> None:
        for _ in range(PREFILL_FRAMES):
            self._write(SILENCE)

    def _write(self, data: bytes) -> int:
        try:
            return self._pcm.write(data)
        except alsaaudio.ALSAAudioError as exc:
            reason = describe_error(exc, self._device)
            raise AudioDeviceError(f"{self._where}: playback failed: {reason}") from exc


def _open_pcm(kind: int, device: str, where: str) -> Any:
    try:
        pcm = alsaaudio.PCM(
            kind,
            alsaaudio.PCM_NONBLOCK,
            device=device,
            rate=SAMPLE_RATE,
            channels=1,
            format=alsaaudio.PCM_FORMAT_S16_LE,
            periodsize=FRAME_SAMPLES,
            periods=PERIODS,
        )
    except alsaaudio.ALSAAudioError as exc:
        raise AudioDeviceError(f"{where}: {describe_error(exc, device)}") from exc
    info = pcm.info()
    got = (info.get("rate"), info.get("channels"), info.get("format_name"))
    if got != (SAMPLE_RATE, 1, "S16_LE"):
        pcm.close()
        raise AudioDeviceError(
            f"{where}: {device}: cannot do {SAMPLE_RATE} Hz mono S16_LE (it offers {got[0]} Hz, "
            f"{got[1]} channel(s), {got[2]}); use a converting device such as plughw:CARD=...,DEV=0"
        )
    return pcm


def _set_volume(config: AudioConfig, mixer_key: str, volume_key: str, kind: int) -> None:
    control = getattr(config, mixer_key)
    volume = getattr(config, volume_key)
    if control is None or volume is None:
        return
    device = config.mixer_device
    try:
        mixer = alsaaudio.Mixer(control=control, device=device)
    except alsaaudio.ALSAAudioError as exc:
        raise AudioDeviceError(
            f"{config.where(mixer_key)}: mixer control {control!r} on {device!r}: {exc} "
            f"(list the controls with `amixer -D {device} scontrols`)"
        ) from exc
    try:
        mixer.setvolume(volume, pcmtype=kind)
    except alsaaudio.ALSAAudioError as exc:
        where = config.where(volume_key)
        raise AudioDeviceError(f"{where}: cannot set {control!r}: {exc}") from exc
    finally:
        mixer.close()


def open_alsa(config: AudioConfig) -> tuple[AlsaIn, AlsaOut]:
    _set_volume(config, "playback_mixer", "playback_volume", alsaaudio.PCM_PLAYBACK)
    _set_volume(config, "capture_mixer", "capture_volume", alsaaudio.PCM_CAPTURE)
    capture = _open_pcm(alsaaudio.PCM_CAPTURE, config.capture, config.where("capture"))
    try:
        playback = _open_pcm(alsaaudio.PCM_PLAYBACK, config.playback, config.where("playback"))
    except AudioDeviceError:
        capture.close()
        raise
    return (
        AlsaIn(capture, config.capture, config.where("capture")),
        AlsaOut(playback, config.playback, config.where("playback")),
    )
