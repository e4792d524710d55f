"""16-bit PCM helpers shared by the media modules (S16LE bytes <-> sample values, sums).

``pcm_to_samples(pcm)`` gives an ``array('h')``, ``samples_to_pcm(seq)`` the bytes back (on any
host byte order); ``dot(a, b)`` is the exact integer sum of products (in C on CPython).
"""

import array
import struct

NATIVE_LE = bytes(array.array("h", [1])) == b"\x01\x00"


def check_pcm(pcm):
    if len(pcm) & 1:
        raise ValueError("PCM must be whole 16-bit samples, got %d bytes" % len(pcm))


def pcm_to_samples(pcm):
    """PCM bytes -> array('h') of sample values."""
    check_pcm(pcm)
    if NATIVE_LE:
        return array.array("h", pcm)
    return array.array("h", struct.unpack("<%dh" % (len(pcm) >> 1), pcm))


def samples_to_pcm(samples):
    """A sequence of ints in -32768..32767 -> PCM bytes."""
    if NATIVE_LE:
        return bytes(array.array("h", samples))
    return struct.pack("<%dh" % len(samples), *samples)


try:
    from operator import mul as _mul

    def dot(a, b):
        """Sum of a[i] * b[i] (exact integers)."""
        return sum(map(_mul, a, b))

except ImportError:  # MicroPython's operator module has no mul

    def dot(a, b):
        """Sum of a[i] * b[i] (exact integers)."""
        total = 0
        for i in range(len(a)):
            total += a[i] * b[i]
        return total


def _load_audioop():
    """CPython's C audioop (stdlib up to 3.12, `audioop-lts` on 3.13+), or None."""
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.11/3.12 announce its removal
            import audioop
    except ImportError:
        return None
    return audioop


AUDIOOP = _load_audioop()
