"""The audio contract over the WAV backend (in-process) and real ALSA through file-backed PCMs
(pyalsaaudio in a subprocess with its own asoundrc: no sound card needed, real alsa-lib calls)."""

from __future__ import annotations

import json
import math
import struct
import wave
from pathlib import Path

import pytest

from hal import FRAME_BYTES, load_profile, open_audio
from hal.backends.sim_audio import Loopback
from tests.hal import audio_scenario
from tests.hal.conftest import require_module, run_python

MIC_FRAMES = 25
SPEAKER_FRAMES = 30


def tone(frames: int, hz: float, amplitude: int) -> bytes:
    samples = frames * FRAME_BYTES // 2
    return b"".join(
        struct.pack("<h", round(amplitude * math.sin(2 * math.pi * hz * i / 8000)))
        for i in range(samples)
    )


def write_wav(path: Path, pcm: bytes, rate: int = 8000, channels: int = 1) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)


def read_wav(path: Path) -> tuple[tuple[int, int, int], bytes]:
    with wave.open(str(path), "rb") as wav:
        return (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()), wav.readframes(
            wav.getnframes()
        )


class WavBackend:
    prefill_frames = 0  # nothing before the first frame written
    silent_after_eof = True  # WavIn's promise

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.speaker = tmp / "speaker.wav"

    def prepare(self, mic: bytes) -> dict:
        write_wav(self.tmp / "mic.wav", mic)
        return {
            "backend": "wav",
            "microphone_wav": str(self.tmp / "mic.wav"),
            "speaker_wav": str(self.speaker),
        }

    def missing(self) -> tuple[dict, str, str]:
        path = str(self.tmp / "no-such-mic.wav")
        return (
            {"backend": "wav", "microphone_wav": path},
            "config: hardware.audio.microphone_wav",
            path,
        )

    def run(self, spec: dict) -> dict:
        return audio_scenario.run(spec)


# Playback into a WAV file, capture from a raw file (a file PCM also writes what it captures to
# `file`: /dev/null, so a capture never truncates the speaker's WAV). Not paced.
ASOUNDRC = """
pcm.hal_test_play {{ type file; slave.pcm "null"; file "{tmp}/speaker.wav"; format "wav" }}
pcm.hal_test_cap {{
    type file; slave.pcm "null"; file "/dev/null"; format "raw"; infile "{tmp}/mic.raw"
}}
pcm.hal_test {{ type asym; playback.pcm "hal_test_play"; capture.pcm "hal_test_cap" }}
"""


class AlsaFileBackend:
    prefill_frames = 2  # AlsaOut queues 40 ms of silence so the runtime's pacing has slack
    # alsa-lib's file plugin: after the infile ends, capture repeats stale buffer contents.
    # That is the test source's quirk, not the HAL's: only the frames before EOF are compared.
    silent_after_eof = False

    def __init__(self, tmp: Path) -> None:
        require_module("alsaaudio")
        self.tmp = tmp
        self.speaker = tmp / "speaker.wav"
        (tmp / "asoundrc").write_text(ASOUNDRC.format(tmp=tmp))
        self.env = {"ALSA_CONFIG_PATH": f"/usr/share/alsa/alsa.conf:{tmp}/asoundrc"}

    def prepare(self, mic: bytes) -> dict:
        (self.tmp / "mic.raw").write_bytes(mic)
        return {"backend": "alsa", "capture": "hal_test", "playback": "hal_test"}

    def missing(self) -> tuple[dict, str, str]:
        return (
            {"backend": "alsa", "capture": "hal_no_such_pcm"},
            "config: hardware.audio.capture",
            "hal_no_such_pcm",
        )

    def run(self, spec: dict) -> dict:
        result = run_python(
            "-m", "tests.hal.audio_scenario", json.dumps(spec), env=self.env, timeout=20
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture(
    params=[
        pytest.param(WavBackend, id="wav"),
        pytest.param(AlsaFileBackend, id="alsa-file", marks=pytest.mark.alsa),
    ]
)
def audio(request, tmp_path):
    return request.param(tmp_path)


def scenario(audio, tmp_path, mic: bytes, read_frames: int, play: bytes) -> dict:
    (tmp_path / "play.raw").write_bytes(play)
    spec = {
        "audio": audio.prepare(mic),
        "read_frames": read_frames,
        "play": str(tmp_path / "play.raw"),
        "captured": str(tmp_path / "captured.raw"),
    }
    return audio.run(spec)


def test_microphone_gives_whole_frames_then_silence_without_blocking(audio, tmp_path):
    mic = tone(MIC_FRAMES, 440, 12000)
    result = scenario(audio, tmp_path, mic, read_frames=MIC_FRAMES + 15, play=b"")
    assert "error" not in result, result
    captured = (tmp_path / "captured.raw").read_bytes()
    assert result["frame_sizes"] == [FRAME_BYTES]
    assert len(captured) == (MIC_FRAMES + 15) * FRAME_BYTES
    assert captured[: len(mic)] == mic
    if audio.silent_after_eof:
        assert captured[len(mic) :] == bytes(15 * FRAME_BYTES)
    assert result["read_s"] < 1.0, "reads must not wait for a clock: the runtime paces them"


def test_speaker_plays_every_frame_written(audio, tmp_path):
    play = tone(SPEAKER_FRAMES, 1000, 16000)
    result = scenario(audio, tmp_path, tone(1, 440, 100), read_frames=1, play=play)
    assert "error" not in result, result
    assert result["accepted"] == [True] * SPEAKER_FRAMES
    assert result["wrong_size_refused"]
    assert result["write_s"] < 1.0
    params, data = read_wav(audio.speaker)
    assert params == (8000, 1, 2)
    assert data.endswith(play), "frames lost or reordered on the way to the speaker"
    lead = data[: len(data) - len(play)]
    assert lead == bytes(len(lead)) and len(lead) <= audio.prefill_frames * FRAME_BYTES


def test_missing_device_is_a_clear_error(audio, tmp_path):
    overrides, key, device = audio.missing()
    result = audio.run({"audio": overrides, "read_frames": 0, "play": "", "captured": ""})
    assert result["error"].startswith(f"{key}: ")
    assert device in result["error"]


@pytest.mark.alsa
def test_alsa_missing_mixer_control_is_a_clear_error(tmp_path):
    alsa = AlsaFileBackend(tmp_path)
    overrides = {
        **alsa.prepare(b""),
        "mixer_device": "hal_test",
        "playback_mixer": "Speaker",
        "playback_volume": 50,
    }
    result = alsa.run({"audio": overrides, "read_frames": 0, "play": "", "captured": ""})
    assert result["error"].startswith(
        "config: hardware.audio.playback_mixer: mixer control 'Speaker' on 'hal_test'"
    )
    assert "amixer -D hal_test scontrols" in result["error"]


def test_wav_microphone_must_be_8k_mono_16_bit(tmp_path):
    write_wav(tmp_path / "cd.wav", bytes(4 * 441), rate=44100, channels=2)
    result = audio_scenario.run(
        {"audio": {"backend": "wav", "microphone_wav": str(tmp_path / "cd.wav")}}
    )
    assert result["error"] == (
        f"config: hardware.audio.microphone_wav: {tmp_path}/cd.wav: must be an 8000 Hz mono "
        "16-bit PCM WAV (this one is 44100 Hz, 2 channel(s), 16-bit)"
    )


def test_wav_microphone_can_loop(tmp_path):
    mic = tone(3, 440, 8000)[: 2 * FRAME_BYTES + 100]  # not a whole number of frames
    write_wav(tmp_path / "mic.wav", mic)
    profile = load_profile(
        "sim",
        overrides={"audio": {"microphone_wav": str(tmp_path / "mic.wav"), "microphone_loop": True}},
    )
    audio_in, audio_out = open_audio(profile.audio)
    captured = b"".join(audio_in.read() for _ in range(6))
    audio_in.close()
    audio_out.close()
    assert captured[: 2 * len(mic)] == mic + mic


def test_loopback_returns_the_speaker_as_the_microphone():
    loop = Loopback(depth=3)
    assert loop.input.read() == bytes(FRAME_BYTES)  # nothing played yet: silence
    frames = [bytes([n]) * FRAME_BYTES for n in range(1, 6)]
    for frame in frames:
        assert loop.output.write(frame)
    assert [loop.input.read() for _ in range(4)] == [
        *frames[2:],
        bytes(FRAME_BYTES),
    ]  # bounded: oldest dropped
    with pytest.raises(ValueError):
        loop.output.write(b"short")


def test_loopback_from_the_profile():
    audio_in, audio_out = open_audio(
        load_profile("sim", overrides={"audio": {"backend": "loopback"}}).audio
    )
    audio_out.write(b"\x01" * FRAME_BYTES)
    assert audio_in.read() == b"\x01" * FRAME_BYTES
