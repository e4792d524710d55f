"""WAV reading and writing, including what sox writes and what broken writers leave behind."""

import struct

from firmware.core import wav
from firmware.core.wav import WavError
from tests.core.support import raises, read_data


def chunk(name, body):
    return name + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b"")


def fmt(tag=1, channels=1, rate=8000, bits=16, extra=b""):
    align = channels * bits // 8
    return chunk(
        b"fmt ", struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits) + extra
    )


def riff(*chunks):
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_reads_the_sox_speech_files():
    for name, seconds in (("speech_en", 2.85), ("speech_de", 3.48)):
        pcm = wav.read_pcm8k(read_data("media/%s.wav" % name))
        assert abs(len(pcm) / 16000 - seconds) < 0.01, name
        audio = wav.parse(read_data("media/%s.wav" % name))
        assert (audio.sample_rate, audio.channels, audio.bits) == (8000, 1, 16)
        assert abs(audio.duration_ms - seconds * 1000) < 10


def test_write_then_read():
    pcm = bytes(range(256)) * 5
    data = wav.write(pcm)
    assert len(data) == 44 + len(pcm) and data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt "
    assert wav.read_pcm8k(data) == pcm
    assert wav.parse(wav.write(pcm, 16000)).sample_rate == 16000
    raises(ValueError, wav.write, b"\x00")


def test_tolerated_variations():
    pcm = b"\x01\x00\x02\x00\x03\x00"
    table = [
        (
            "LIST chunk of odd size first",
            riff(chunk(b"LIST", b"INFOabc"), fmt(), chunk(b"data", pcm)),
        ),
        ("data size never patched", riff(fmt()) + b"data\xff\xff\xff\xff" + pcm),
        ("trailing odd byte", riff(fmt()) + b"data" + struct.pack("<I", 7) + pcm + b"\x09"),
        (
            "WAVE_FORMAT_EXTENSIBLE with PCM",
            riff(
                fmt(0xFFFE, extra=struct.pack("<HHIH", 22, 16, 4, 1) + b"\x00" * 14),
                chunk(b"data", pcm),
            ),
        ),
    ]
    for name, data in table:
        assert wav.read_pcm8k(data) == pcm, name


def test_clear_errors():
    pcm = b"\x00\x00" * 4
    table = [
        (b"", "not a WAV file", "only 0 bytes"),
        (b"RIFX" + b"\x00" * 40, "not a WAV file", "RIFF"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "not a WAV file", "WAVE"),
        (riff(chunk(b"data", pcm)), "missing fmt chunk", "data chunk comes first"),
        (riff(fmt()), "missing data chunk", ""),
        (riff(chunk(b"LIST", b"x")), "missing fmt chunk", ""),
        (riff(fmt(tag=3, bits=32), chunk(b"data", pcm)), "unsupported format", "format tag 3"),
        (riff(fmt(bits=12), chunk(b"data", pcm)), "bad fmt chunk", "12 bit"),
        (riff(chunk(b"fmt ", b"\x01\x00"), chunk(b"data", pcm)), "bad fmt chunk", ""),
    ]
    for data, reason, detail in table:
        exc = raises(WavError, wav.parse, data)
        assert exc.reason == reason and detail in str(exc), (reason, str(exc))
    mismatches = [
        (riff(fmt(rate=16000), chunk(b"data", pcm)), "16000 Hz"),
        (riff(fmt(channels=2), chunk(b"data", pcm)), "2 channel"),
        (riff(fmt(bits=8), chunk(b"data", pcm)), "8-bit"),
    ]
    for data, detail in mismatches:
        exc = raises(WavError, wav.read_pcm8k, data)
        assert exc.reason == "unsupported format" and detail in str(exc), str(exc)
        assert "8000 Hz mono 16-bit" in str(exc)
