"""The pure-Python MD5 gives the same digests as CPython's hashlib (the runtime's fast path)."""

import hashlib
import random
import time

from firmware.core.md5 import md5_hex


def test_matches_hashlib_for_every_length_up_to_300():
    rng = random.Random(1321)
    for n in range(301):
        data = bytes(rng.getrandbits(8) for _ in range(n))
        assert md5_hex(data) == hashlib.md5(data).hexdigest(), n


def test_matches_hashlib_on_block_boundaries_with_every_byte_value():
    for n in (55, 56, 63, 64, 65, 127, 128, 129):
        for fill in (0x00, 0x80, 0xFF):
            data = bytes([fill]) * n
            assert md5_hex(data) == hashlib.md5(data).hexdigest(), (n, fill)


def test_matches_hashlib_on_a_larger_input():
    data = bytes(range(256)) * 40
    assert md5_hex(data) == hashlib.md5(data).hexdigest()


def test_is_fast_enough_for_digest_auth():
    # A digest response hashes three short strings; a REGISTER every minute is nothing, but a
    # regression to a slow implementation (no tables, per-bit loops) should not go unnoticed.
    start = time.perf_counter()
    for _ in range(300):
        md5_hex(b"door:asterisk:secret")
    assert time.perf_counter() - start < 1.0
