"""G.711 mu-law (PCMU) and A-law (PCMA) for 16-bit little-endian mono PCM.

The quantisers follow ITU-T G.711 the way the classic Sun reference code (and CPython's
`audioop`) does it: mu-law works on the 14 most significant bits with a bias of 33 and clips the
magnitude at 8159, A-law works on the 13 most significant bits and inverts the even bits. Every
16-bit sample and every 8-bit code gives exactly what `audioop.lin2ulaw`, `ulaw2lin`, `lin2alaw`
and `alaw2lin` give (the tests check all 65536 inputs and all 256 codes).

Three interchangeable back ends, chosen at import, always bit-identical:

- ``"audioop"``: the C module (stdlib up to 3.12, the `audioop-lts` package on 3.13+);
- ``"table"``: CPython without audioop: `bytes.translate` for decoding (it returns a bytearray),
  a 65536-entry table read through `operator.itemgetter` for encoding;
- ``"pure"``: a plain loop over small tables, the MicroPython path.

API (PCM is `bytes` of signed 16-bit little-endian samples; codecs are SDP names):

- ``encode(codec, pcm) -> bytes`` and ``decode(codec, payload) -> bytes``;
- ``encoder(codec)`` / ``decoder(codec)``: the per-frame function of one codec. It takes audioop's
  arguments, ``f(data, 2)`` (2 = bytes per sample, the only width), because on CPython it *is*
  audioop's C function: a Python wrapper would cost a fifth of the decoding time;
- ``ulaw_encode``, ``ulaw_decode``, ``alaw_encode``, ``alaw_decode``: the same, per law;
- ``linear_to_ulaw(sample)``, ``ulaw_to_linear(code)``, ``linear_to_alaw``, ``alaw_to_linear``:
  the scalar definitions everything else is checked against;
- ``silence(codec, samples) -> bytes``: an encoded payload of digital silence;
- ``PURE`` / ``table_path()``: the pure and table back ends as ``{"PCMU": (enc, dec), ...}``, for
  tests and benchmarks; ``BACKEND`` names the one in use. The table back end is built on its
  first use (its two 65536-entry tables are a megabyte of lists, which a firmware that encodes
  with audioop must not carry), and ``table_path()`` is None where it cannot run (MicroPython).

An odd number of PCM bytes is our own bug, not network input: ``encode`` raises ValueError (the
per-frame functions raise ValueError, or audioop.error on the audioop path).
"""

import array

from firmware.core.pcm import AUDIOOP, pcm_to_samples, samples_to_pcm
from firmware.core.pcm import NATIVE_LE as _NATIVE_LE
from firmware.core.pcm import check_pcm as _check_pcm

CODECS = ("PCMU", "PCMA")
SILENCE_CODE = {"PCMU": 0xFF, "PCMA": 0xD5}


# -- the scalar definitions ------------------------------------------------------------------------


def _bit_length(value):
    """Bits needed for a small non-negative int (MicroPython has no int.bit_length)."""
    n = 0
    while value:
        value >>= 1
        n += 1
    return n


def linear_to_ulaw(sample):
    """Encode one signed 16-bit sample as a mu-law code (0..255)."""
    magnitude = sample >> 2  # 14-bit two's complement
    if magnitude < 0:
        magnitude = -magnitude
        invert = 0x7F  # sign bit clear, the other bits inverted
    else:
        invert = 0xFF
    if magnitude > 8159:
        magnitude = 8159
    magnitude += 33  # the bias moves every segment boundary onto a power of two
    if magnitude >= 0x2000:
        return 0x7F ^ invert
    segment = _bit_length(magnitude >> 6)
    return ((segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)) ^ invert


def ulaw_to_linear(code):
    """Decode one mu-law code to a signed 16-bit sample."""
    code = ~code & 0xFF
    segment = (code >> 4) & 0x07
    magnitude = ((((code & 0x0F) << 3) + 0x84) << segment) - 0x84
    return -magnitude if code & 0x80 else magnitude


def linear_to_alaw(sample):
    """Encode one signed 16-bit sample as an A-law code (0..255)."""
    magnitude = sample >> 3  # 13-bit two's complement
    if magnitude >= 0:
        invert = 0xD5  # sign bit set, even bits inverted
    else:
        invert = 0x55
        magnitude = -magnitude - 1
    segment = _bit_length(magnitude >> 5)  # magnitude <= 4095, so segment <= 7
    shift = 1 if segment < 2 else segment
    return ((segment << 4) | ((magnitude >> shift) & 0x0F)) ^ invert


def alaw_to_linear(code):
    """Decode one A-law code to a signed 16-bit sample."""
    code ^= 0x55
    segment = (code >> 4) & 0x07
    if segment == 0:
        magnitude = ((code & 0x0F) << 4) + 8
    else:
        magnitude = (((code & 0x0F) << 4) + 0x108) << (segment - 1)
    return magnitude if code & 0x80 else -magnitude


# -- the pure path (MicroPython) -------------------------------------------------------------------
#
# Every back end's per-frame functions take audioop's arguments, (data, width), so that on CPython
# they can be audioop's own C functions with nothing in between. The width is the sample size in
# bytes and must be 2.

_ULAW_DECODE = array.array("h", [ulaw_to_linear(c) for c in range(256)])
_ALAW_DECODE = array.array("h", [alaw_to_linear(c) for c in range(256)])
_ulaw_encode_table = None  # 16384 codes indexed by (sample >> 2) + 8192, built on first use
_alaw_encode_table = None  # 8192 codes indexed by (sample >> 3) + 4096


def _check_width(width):
    if width != 2:
        raise ValueError("only 16-bit samples (width 2), not width %r" % (width,))


def _ulaw_table():
    global _ulaw_encode_table
    if _ulaw_encode_table is None:
        _ulaw_encode_table = bytes([linear_to_ulaw((i - 8192) << 2) for i in range(16384)])
    return _ulaw_encode_table


def _alaw_table():
    global _alaw_encode_table
    if _alaw_encode_table is None:
        _alaw_encode_table = bytes([linear_to_alaw((i - 4096) << 3) for i in range(8192)])
    return _alaw_encode_table


def _pure_ulaw_encode(pcm, width):
    _check_width(width)
    samples = pcm_to_samples(pcm)
    table = _ulaw_table()
    out = bytearray(len(samples))
    for i in range(len(samples)):
        out[i] = table[(samples[i] >> 2) + 8192]
    return bytes(out)


def _pure_alaw_encode(pcm, width):
    _check_width(width)
    samples = pcm_to_samples(pcm)
    table = _alaw_table()
    out = bytearray(len(samples))
    for i in range(len(samples)):
        out[i] = table[(samples[i] >> 3) + 4096]
    return bytes(out)


def _pure_ulaw_decode(payload, width):
    _check_width(width)
    table = _ULAW_DECODE
    return samples_to_pcm([table[c] for c in payload])


def _pure_alaw_decode(payload, width):
    _check_width(width)
    table = _ALAW_DECODE
    return samples_to_pcm([table[c] for c in payload])


PURE = {
    "PCMU": (_pure_ulaw_encode, _pure_ulaw_decode),
    "PCMA": (_pure_alaw_encode, _pure_alaw_decode),
}


# -- the table path (CPython without audioop) ------------------------------------------------------


def _make_table_path():
    """Encoders and decoders built on C-level bulk operations, or None where they are missing."""
    try:
        from operator import itemgetter

        memoryview(b"\x00\x00").cast("H")
        b"".translate(bytes(256))
    except (ImportError, AttributeError, TypeError, ValueError):
        return None
    if not _NATIVE_LE:
        return None

    def make_encoder(linear_to_code):
        # Indexed by the sample read as unsigned 16-bit, i.e. its two's complement bit pattern.
        table = [linear_to_code(u - 65536 if u >= 32768 else u) for u in range(65536)]

        def encode(pcm, width):
            _check_width(width)
            _check_pcm(pcm)
            n = len(pcm) >> 1
            if n > 1:
                return bytes(itemgetter(*memoryview(pcm).cast("B").cast("H"))(table))
            if n == 1:
                return bytes([table[pcm[0] | (pcm[1] << 8)]])
            return b""

        return encode

    def make_decoder(code_to_linear):
        low = bytes([code_to_linear(c) & 0xFF for c in range(256)])
        high = bytes([(code_to_linear(c) >> 8) & 0xFF for c in range(256)])

        def decode(payload, width):
            # Two translations and two strided copies; the bytearray is returned as it is (the
            # extra copy into bytes would cost a tenth of the time).
            if width != 2:
                _check_width(width)
            try:
                low_bytes = payload.translate(low)
            except AttributeError:  # a memoryview
                payload = bytes(payload)
                low_bytes = payload.translate(low)
            out = bytearray(2 * len(payload))
            out[0::2] = low_bytes
            out[1::2] = payload.translate(high)
            return out

        return decode

    return {
        "PCMU": (make_encoder(linear_to_ulaw), make_decoder(ulaw_to_linear)),
        "PCMA": (make_encoder(linear_to_alaw), make_decoder(alaw_to_linear)),
    }


def _audioop_path():
    """audioop's own functions, or None where the module is missing."""
    if AUDIOOP is None:
        return None
    return {
        "PCMU": (AUDIOOP.lin2ulaw, AUDIOOP.ulaw2lin),
        "PCMA": (AUDIOOP.lin2alaw, AUDIOOP.alaw2lin),
    }


_table = []  # [the table back end, or None], once built


def table_path():
    """The table back end (built on the first call), or None where it cannot run."""
    if not _table:
        _table.append(_make_table_path())
    return _table[0]


_AUDIOOP = _audioop_path()
if _AUDIOOP is not None:
    BACKEND, _BEST = "audioop", _AUDIOOP
elif table_path() is not None:
    BACKEND, _BEST = "table", table_path()
else:
    BACKEND, _BEST = "pure", PURE

ulaw_encode, ulaw_decode = _BEST["PCMU"]
alaw_encode, alaw_decode = _BEST["PCMA"]


def _pair(codec):
    try:
        return _BEST[codec]
    except KeyError:
        raise ValueError("unknown G.711 codec %r (expected 'PCMU' or 'PCMA')" % (codec,)) from None


def encoder(codec):
    """The per-frame PCM -> payload function for 'PCMU' or 'PCMA': call it as ``f(pcm, 2)``."""
    return _pair(codec)[0]


def decoder(codec):
    """The per-frame payload -> PCM function for 'PCMU' or 'PCMA': call it as ``f(payload, 2)``."""
    return _pair(codec)[1]


def encode(codec, pcm):
    """Encode 16-bit PCM with 'PCMU' or 'PCMA' (ValueError for an odd number of bytes)."""
    _check_pcm(pcm)
    return _pair(codec)[0](pcm, 2)


def decode(codec, payload):
    """Decode a 'PCMU' or 'PCMA' payload to 16-bit PCM."""
    return _pair(codec)[1](payload, 2)


def silence(codec, samples):
    """An encoded payload of `samples` samples of digital silence."""
    _pair(codec)
    return bytes([SILENCE_CODE[codec]]) * samples
