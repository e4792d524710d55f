"""WAV (RIFF/WAVE) files of 16-bit PCM, as the intercom keeps its prompts and recordings.

- ``parse(data) -> WavAudio``: any integer-PCM WAV (format 1, or WAVE_FORMAT_EXTENSIBLE with the
  PCM sub-format): ``sample_rate``, ``channels``, ``bits``, ``pcm`` (the data chunk as stored).
  Unknown chunks (LIST, fact, ...) are skipped, odd chunk sizes honour the pad byte, and a data
  size larger than the file (a writer that never patched the header) is cut to what is there.
- ``read_pcm8k(data) -> bytes``: the samples of an 8 kHz mono 16-bit WAV, ready for the media
  path; any other format is an error that says what was found.
- ``write(pcm, sample_rate=8000) -> bytes``: a canonical 44-byte-header mono 16-bit WAV.

Every problem raises ``WavError`` (a ValueError) with a ``reason`` phrase.
"""

import struct

FORMAT_PCM = 1
FORMAT_EXTENSIBLE = 0xFFFE


class WavError(ValueError):
    def __init__(self, reason, detail=""):
        super().__init__(reason + (": " + detail if detail else ""))
        self.reason = reason


class WavAudio:
    def __init__(self, sample_rate, channels, bits, pcm):
        self.sample_rate = sample_rate
        self.channels = channels
        self.bits = bits
        self.pcm = pcm

    def __repr__(self):
        return "WavAudio(%d Hz, %d ch, %d bit, %d bytes)" % (
            self.sample_rate,
            self.channels,
            self.bits,
            len(self.pcm),
        )

    @property
    def duration_ms(self):
        frame = self.channels * self.bits // 8
        return len(self.pcm) // frame * 1000 // self.sample_rate


def parse(data):
    """Parse a WAV file (bytes) into a WavAudio; raises WavError."""
    if len(data) < 12:
        raise WavError("not a WAV file", "only %d bytes" % len(data))
    if data[0:4] != b"RIFF":
        raise WavError("not a WAV file", "no RIFF header (starts with %r)" % bytes(data[0:4]))
    if data[8:12] != b"WAVE":
        raise WavError("not a WAV file", "RIFF form is %r, not WAVE" % bytes(data[8:12]))
    offset = 12
    fmt = None
    while offset + 8 <= len(data):
        chunk_id = bytes(data[offset : offset + 4])
        size = struct.unpack_from("<I", data, offset + 4)[0]
        body = offset + 8
        if chunk_id == b"fmt ":
            if size < 16 or body + size > len(data):
                raise WavError("bad fmt chunk", "%d bytes" % size)
            tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from(
                "<HHIIHH", data, body
            )
            if tag == FORMAT_EXTENSIBLE:
                if size < 40:
                    raise WavError("bad fmt chunk", "WAVE_FORMAT_EXTENSIBLE needs 40 bytes")
                tag = struct.unpack_from("<H", data, body + 24)[0]  # the sub-format GUID starts
            if tag != FORMAT_PCM:
                raise WavError("unsupported format", "format tag %d, need integer PCM (1)" % tag)
            if channels < 1 or rate < 1 or bits not in (8, 16, 24, 32):
                raise WavError("bad fmt chunk", "%d ch, %d Hz, %d bit" % (channels, rate, bits))
            if block_align != channels * bits // 8:
                raise WavError("bad fmt chunk", "block align %d" % block_align)
            fmt = (rate, channels, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise WavError("missing fmt chunk", "data chunk comes first")
            end = body + size
            if end > len(data):
                end = len(data)  # a streaming writer left the size unpatched
            frame = fmt[1] * fmt[2] // 8
            end -= (end - body) % frame
            return WavAudio(fmt[0], fmt[1], fmt[2], bytes(data[body:end]))
        offset = body + size + (size & 1)
    if fmt is None:
        raise WavError("missing fmt chunk")
    raise WavError("missing data chunk")


def read_pcm8k(data):
    """The S16LE samples of an 8 kHz mono 16-bit WAV; raises WavError for anything else."""
    audio = parse(data)
    if (audio.sample_rate, audio.channels, audio.bits) != (8000, 1, 16):
        raise WavError(
            "unsupported format",
            "need 8000 Hz mono 16-bit, got %d Hz, %d channel(s), %d-bit"
            % (audio.sample_rate, audio.channels, audio.bits),
        )
    return audio.pcm


def write(pcm, sample_rate=8000):
    """A mono 16-bit WAV file holding `pcm` (S16LE bytes)."""
    if len(pcm) & 1:
        raise ValueError("PCM must be whole 16-bit samples")
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(pcm),
        b"WAVE",
        b"fmt ",
        16,
        FORMAT_PCM,
        1,
        sample_rate,
        sample_rate * 2,
        2,
        16,
        b"data",
        len(pcm),
    )
    return header + bytes(pcm)
