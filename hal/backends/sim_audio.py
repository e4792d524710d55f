"""Audio without a sound card: WAV files, a loopback, silence. The runtime's reads and writes
pace them: every `read()` returns a frame."""

from __future__ import annotations

import wave
from collections import deque
from pathlib import Path

from hal.audio import FRAME_BYTES, FRAME_SAMPLES, SAMPLE_BYTES, SAMPLE_RATE, SILENCE, check_frame
from hal.errors import AudioDeviceError
from hal.profile import AudioConfig

READ_FRAMES = 50 * FRAME_SAMPLES  # WavIn reads a second at a time


class SilentIn:
    """A microphone in a quiet room."""

    xruns = 0

    def read(self) -> bytes | None:
        return SILENCE

    def close(self) -> None:
        pass


class DiscardOut:
    """A speaker nobody listens to."""

    xruns = 0
    dropped = 0

    def write(self, frame: bytes) -> bool:
        check_frame(frame)
        return True

    def close(self) -> None:
        pass


class WavIn:
    """The microphone plays a WAV file (8 kHz mono 16-bit), then silence, or loops it."""

    xruns = 0

    def __init__(self, path: Path, loop: bool, where: str) -> None:
        try:
            self._wav = wave.open(str(path), "rb")  # noqa: SIM115 - open until close()
        except FileNotFoundError as exc:
            raise AudioDeviceError(f"{where}: {path}: no such file") from exc
        except (OSError, EOFError, wave.Error) as exc:
            raise AudioDeviceError(f"{where}: {path}: not a readable WAV file ({exc})") from exc
        params = (self._wav.getframerate(), self._wav.getnchannels(), self._wav.getsampwidth())
        if params != (SAMPLE_RATE, 1, SAMPLE_BYTES) or self._wav.getcomptype() != "NONE":
            self._wav.close()
            raise AudioDeviceError(
                f"{where}: {path}: must be an {SAMPLE_RATE} Hz mono 16-bit PCM WAV "
                f"(this one is {params[0]} Hz, {params[1]} channel(s), {8 * params[2]}-bit)"
            )
        self._loop = loop
        self._ended = False
        # Read a second at a time: wave's readframes() costs as much per 20 ms frame as per second.
        self._buffer = b""
        self._pos = 0

    def _readframes(self, frames: int) -> bytes:
        """wave's readframes(), served from the buffer."""
        want = frames * SAMPLE_BYTES
        if len(self._buffer) - self._pos < want:
            chunks = [self._buffer[self._pos :]]
            size = len(chunks[0])
            while size < want:
                more = self._wav.readframes(READ_FRAMES)
                if not more:
                    break
                chunks.append(more)
                size += len(more)
            self._buffer = b"".join(chunks)
            self._pos = 0
        data = self._buffer[self._pos : self._pos + want]
        self._pos += len(data)
        return data

    def _rewind(self) -> None:
        self._wav.rewind()
        self._buffer = b""
        self._pos = 0

    def read(self) -> bytes | None:
        if self._ended:
            return SILENCE
        data = self._readframes(FRAME_SAMPLES)
        if len(data) < FRAME_BYTES and self._loop and self._wav.getnframes() > 0:
            self._rewind()
            data += self._readframes(FRAME_SAMPLES - len(data) // SAMPLE_BYTES)
        if len(data) < FRAME_BYTES:
            self._ended = True
        return data.ljust(FRAME_BYTES, b"\0")

    def close(self) -> None:
        self._wav.close()


class WavOut:
    """The speaker records into a WAV file (8 kHz mono 16-bit); valid after every write."""

    xruns = 0
    dropped = 0

    def __init__(self, path: Path, where: str) -> None:
        try:
            self._wav = wave.open(str(path), "wb")  # noqa: SIM115 - open until close()
        except OSError as exc:
            raise AudioDeviceError(f"{where}: {path}: cannot write ({exc.strerror})") from exc
        self._wav.setnchannels(1)
        self._wav.setsampwidth(SAMPLE_BYTES)
        self._wav.setframerate(SAMPLE_RATE)
        self._closed = False

    def write(self, frame: bytes) -> bool:
        check_frame(frame)
        self._wav.writeframes(frame)
        return True

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._wav.close()


def open_wav(config: AudioConfig) -> tuple[SilentIn | WavIn, DiscardOut | WavOut]:
    audio_in: SilentIn | WavIn = SilentIn()
    if config.microphone_wav is not None:
        audio_in = WavIn(
            config.microphone_wav, config.microphone_loop, config.where("microphone_wav")
        )
    audio_out: DiscardOut | WavOut = DiscardOut()
    if config.speaker_wav is not None:
        try:
            audio_out = WavOut(config.speaker_wav, config.where("speaker_wav"))
        except AudioDeviceError:
            audio_in.close()
            raise
    return audio_in, audio_out


class Loopback:
    """Speaker to microphone: a frame written now is read back by the next read.

    At most `depth` frames wait (older ones are dropped); with nothing waiting the microphone
    hears silence, as a real one would.
    """

    def __init__(self, depth: int = 50) -> None:
        self._frames: deque[bytes] = deque(maxlen=depth)
        self.input = _LoopbackIn(self._frames)
        self.output = _LoopbackOut(self._frames)


class _LoopbackIn:
    xruns = 0

    def __init__(self, frames: deque[bytes]) -> None:
        self._frames = frames

    def read(self) -> bytes | None:
        return self._frames.popleft() if self._frames else SILENCE

    def close(self) -> None:
        self._frames.clear()


class _LoopbackOut:
    xruns = 0
    dropped = 0

    def __init__(self, frames: deque[bytes]) -> None:
        self._frames = frames

    def write(self, frame: bytes) -> bool:
        check_frame(frame)
        self._frames.append(bytes(frame))
        return True

    def close(self) -> None:
        pass
