"""MD5 message digest (RFC 1321) in pure Python, for digest authentication on MicroPython.

MicroPython has no ``hashlib.md5``; CPython's runtime injects ``hashlib.md5`` instead, and the tests
check that both give the same digests. MD5 is broken as a general hash; SIP digest authentication
(RFC 3261, RFC 8760) still needs it because that is what almost every PBX offers.
"""

import struct

_MASK = 0xFFFFFFFF

# T[i] = floor(abs(sin(i + 1)) * 2**32) (RFC 1321 section 3.4), written out so that no float
# precision of the platform can change them.
_T = (
    0xD76AA478, 0xE8C7B756, 0x242070DB, 0xC1BDCEEE,
    0xF57C0FAF, 0x4787C62A, 0xA8304613, 0xFD469501,
    0x698098D8, 0x8B44F7AF, 0xFFFF5BB1, 0x895CD7BE,
    0x6B901122, 0xFD987193, 0xA679438E, 0x49B40821,
    0xF61E2562, 0xC040B340, 0x265E5A51, 0xE9B6C7AA,
    0xD62F105D, 0x02441453, 0xD8A1E681, 0xE7D3FBC8,
    0x21E1CDE6, 0xC33707D6, 0xF4D50D87, 0x455A14ED,
    0xA9E3E905, 0xFCEFA3F8, 0x676F02D9, 0x8D2A4C8A,
    0xFFFA3942, 0x8771F681, 0x6D9D6122, 0xFDE5380C,
    0xA4BEEA44, 0x4BDECFA9, 0xF6BB4B60, 0xBEBFBC70,
    0x289B7EC6, 0xEAA127FA, 0xD4EF3085, 0x04881D05,
    0xD9D4D039, 0xE6DB99E5, 0x1FA27CF8, 0xC4AC5665,
    0xF4292244, 0x432AFF97, 0xAB9423A7, 0xFC93A039,
    0x655B59C3, 0x8F0CCC92, 0xFFEFF47D, 0x85845DD1,
    0x6FA87E4F, 0xFE2CE6E0, 0xA3014314, 0x4E0811A1,
    0xF7537E82, 0xBD3AF235, 0x2AD7D2BB, 0xEB86D391,
)  # fmt: skip

_SHIFTS = ((7, 12, 17, 22), (5, 9, 14, 20), (4, 11, 16, 23), (6, 10, 15, 21))


def _round(r):
    """(constant, message word index, left rotation) for the 16 steps of round r (0..3)."""
    steps = []
    for i in range(16):
        n = 16 * r + i
        word = (i, 5 * i + 1, 3 * i + 5, 7 * i)[r] % 16
        steps.append((_T[n], word, _SHIFTS[r][i % 4]))
    return tuple(steps)


_ROUND1 = _round(0)
_ROUND2 = _round(1)
_ROUND3 = _round(2)
_ROUND4 = _round(3)
_HEX = tuple("%02x" % i for i in range(256))


def _compress(state, x):
    """One 64-byte block (as 16 little-endian words x) into the state (a, b, c, d)."""
    a, b, c, d = state
    for t, k, s in _ROUND1:
        f = (a + (d ^ (b & (c ^ d))) + t + x[k]) & _MASK
        a, d, c = d, c, b
        b = (b + ((f << s) | (f >> (32 - s)))) & _MASK
    for t, k, s in _ROUND2:
        f = (a + (c ^ (d & (b ^ c))) + t + x[k]) & _MASK
        a, d, c = d, c, b
        b = (b + ((f << s) | (f >> (32 - s)))) & _MASK
    for t, k, s in _ROUND3:
        f = (a + (b ^ c ^ d) + t + x[k]) & _MASK
        a, d, c = d, c, b
        b = (b + ((f << s) | (f >> (32 - s)))) & _MASK
    for t, k, s in _ROUND4:
        f = (a + (c ^ (b | (d ^ _MASK))) + t + x[k]) & _MASK
        a, d, c = d, c, b
        b = (b + ((f << s) | (f >> (32 - s)))) & _MASK
    return (
        (state[0] + a) & _MASK,
        (state[1] + b) & _MASK,
        (state[2] + c) & _MASK,
        (state[3] + d) & _MASK,
    )


def md5_digest(data):
    """The 16-byte MD5 digest of data (bytes, bytearray or memoryview)."""
    data = bytes(data)
    bits = 8 * len(data)
    # Padding (RFC 1321 sections 3.1 and 3.2): 0x80, zeros up to 56 mod 64, 64-bit length.
    tail = data[len(data) & ~63 :] + b"\x80"
    tail += b"\x00" * ((56 - len(tail)) % 64)
    tail += struct.pack("<II", bits & _MASK, (bits >> 32) & _MASK)
    state = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476)
    unpack = struct.unpack
    for offset in range(0, len(data) & ~63, 64):
        state = _compress(state, unpack("<16I", data[offset : offset + 64]))
    for offset in range(0, len(tail), 64):
        state = _compress(state, unpack("<16I", tail[offset : offset + 64]))
    return struct.pack("<4I", state[0], state[1], state[2], state[3])


def md5_hex(data):
    """The MD5 digest of data as 32 lowercase hex digits (the shape digest auth injects)."""
    return "".join([_HEX[byte] for byte in md5_digest(data)])
