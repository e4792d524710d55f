"""WavIn reads ahead in blocks: the frames must be exactly those of frame-by-frame reading."""

import wave
from pathlib import Path

import pytest

from hal.audio import FRAME_BYTES, FRAME_SAMPLES
from hal.backends.sim_audio import READ_FRAMES, WavIn


def _reference(path: Path, loop: bool, count: int) -> list[bytes]:
    """The frame-by-frame reader WavIn replaced (one readframes() per 20 ms)."""
    out = []
    ended = False
    with wave.open(str(path), "rb") as w:
        for _ in range(count):
            if ended:
                out.append(bytes(FRAME_BYTES))
                continue
            data = w.readframes(FRAME_SAMPLES)
            if len(data) < FRAME_BYTES and loop and w.getnframes() > 0:
                w.rewind()
                data += w.readframes(FRAME_SAMPLES - len(data) // 2)
            if len(data) < FRAME_BYTES:
                ended = True
            out.append(data.ljust(FRAME_BYTES, b"\0"))
    return out


@pytest.mark.parametrize(
    "samples", [0, 1, 79, 80, 100, 159, 160, 161, 1000, READ_FRAMES - 1, READ_FRAMES + 7]
)
@pytest.mark.parametrize("loop", [False, True])
def test_block_reads_give_the_same_frames(tmp_path: Path, samples: int, loop: bool) -> None:
    path = tmp_path / "mic.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes((i * 7 + 3) & 0xFF for i in range(2 * samples)))
    count = 3 * (samples // FRAME_SAMPLES) + 5
    mic = WavIn(path, loop, "test")
    try:
        assert [mic.read() for _ in range(count)] == _reference(path, loop, count)
    finally:
        mic.close()
