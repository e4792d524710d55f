"""xrun recovery and error reporting of the ALSA backend.

A file-backed PCM never under- or overruns (it is not paced), so these tests feed AlsaIn/AlsaOut
a PCM object that answers the way pyalsaaudio 0.11 documents: read() -> (frames, data) with
(-EPIPE, b"") after an overrun, write() -> frames written, 0 when the buffer is full and -EPIPE
after an underrun; in both xrun cases pyalsaaudio has already re-prepared the stream.
"""

from __future__ import annotations

import errno
from collections import deque

import pytest

from hal import FRAME_BYTES, AudioDeviceError
from tests.hal.conftest import require_module


@pytest.fixture
def alsaaudio():
    return require_module("alsaaudio")


@pytest.fixture
def alsa_audio(alsaaudio):
    return require_module("hal.backends.alsa_audio")


WHERE = "board/rpi-4.toml: audio.capture"


class ScriptedPcm:
    def __init__(self, reads=(), writes=()):
        self.reads = deque(reads)
        self.write_results = deque(writes)
        self.written: list[bytes] = []
        self.closed = 0
        self.drain_error: Exception | None = None

    def read(self):
        step = self.reads.popleft() if self.reads else (0, b"")
        if isinstance(step, Exception):
            raise step
        return step

    def write(self, data):
        result = self.write_results.popleft() if self.write_results else len(data) // 2
        if isinstance(result, Exception):
            raise result
        if result > 0:
            self.written.append(data)
        return result

    def drain(self):
        if self.drain_error:
            raise self.drain_error
        return 0

    def close(self):
        self.closed += 1


A, B = b"\x01" * FRAME_BYTES, b"\x02" * FRAME_BYTES


def test_overrun_is_counted_and_the_stream_goes_on(alsa_audio):
    pcm = ScriptedPcm(reads=[(160, A), (-errno.EPIPE, b""), (160, B)])
    audio_in = alsa_audio.AlsaIn(pcm, "hw:1", WHERE)
    assert audio_in.read() == A
    assert audio_in.read() is None
    assert audio_in.xruns == 1
    assert audio_in.read() == B


def test_partial_periods_are_joined_into_whole_frames(alsa_audio):
    pcm = ScriptedPcm(reads=[(0, b""), (100, A[:200]), (60, A[200:]), (160, B)])
    audio_in = alsa_audio.AlsaIn(pcm, "hw:1", WHERE)
    assert [audio_in.read() for _ in range(4)] == [None, None, A, B]


def test_capture_latency_stays_bounded_when_the_card_delivers_faster(alsa_audio):
    # A card that hands over two frames per call while the runtime takes one per call.
    pcm = ScriptedPcm(reads=[(320, A + B)] * 100)
    audio_in = alsa_audio.AlsaIn(pcm, "hw:1", WHERE)
    frames = [audio_in.read() for _ in range(100)]
    assert all(frame in (A, B) for frame in frames)
    assert len(audio_in._pending) <= alsa_audio.MAX_PENDING


def test_underrun_refills_and_plays_the_frame(alsa_audio):
    prefill = [160] * alsa_audio.PREFILL_FRAMES
    pcm = ScriptedPcm(writes=[*prefill, 160, -errno.EPIPE, *prefill, 160])
    audio_out = alsa_audio.AlsaOut(pcm, "hw:1", WHERE)
    assert audio_out.write(A)
    assert audio_out.write(B)
    assert audio_out.xruns == 1
    silence = bytes(FRAME_BYTES)
    assert pcm.written == [
        *[silence] * alsa_audio.PREFILL_FRAMES,
        A,
        *[silence] * alsa_audio.PREFILL_FRAMES,
        B,
    ]


def test_full_buffer_drops_the_frame_without_blocking(alsa_audio):
    pcm = ScriptedPcm(writes=[160, 160, 0])
    audio_out = alsa_audio.AlsaOut(pcm, "hw:1", WHERE)
    assert audio_out.write(A) is False
    assert audio_out.dropped == 1


def test_wrong_frame_size_is_refused(alsa_audio):
    audio_out = alsa_audio.AlsaOut(ScriptedPcm(), "hw:1", WHERE)
    with pytest.raises(ValueError, match="320 bytes"):
        audio_out.write(A[:-2])


def test_a_device_that_disappears_mid_call_is_a_clear_error(alsaaudio, alsa_audio):
    pcm = ScriptedPcm(reads=[alsaaudio.ALSAAudioError("No such device [hw:1]")])
    with pytest.raises(
        AudioDeviceError, match=r"^board/rpi-4.toml: audio.capture: capture failed: hw:1: not found"
    ):
        alsa_audio.AlsaIn(pcm, "hw:1", WHERE).read()


def test_close_survives_a_refused_drain_and_closes_once(alsaaudio, alsa_audio):
    pcm = ScriptedPcm()
    pcm.drain_error = alsaaudio.ALSAAudioError("Resource temporarily unavailable [hw:1]")
    audio_out = alsa_audio.AlsaOut(pcm, "hw:1", WHERE)
    audio_out.close()
    audio_out.close()
    assert pcm.closed == 1


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Device or resource busy [hw:1]", "hw:1: busy: another program is using it"),
        (
            "No such file or directory [hw:7]",
            "hw:1: not found (list devices with `arecord -L` / `aplay -L`)",
        ),
        ("Permission denied [hw:1]", "hw:1: permission denied (add the user to the 'audio' group)"),
        ("Invalid argument [hw:1]", "hw:1: Invalid argument [hw:1]"),
    ],
)
def test_errors_say_what_to_do(message, expected, alsaaudio, alsa_audio):
    assert alsa_audio.describe_error(alsaaudio.ALSAAudioError(message), "hw:1").startswith(expected)
