"""MD5 (RFC 1321): the test suite of RFC 1321 appendix A.5 and the padding boundaries."""

from firmware.core.md5 import md5_digest, md5_hex

RFC1321_SUITE = (
    (b"", "d41d8cd98f00b204e9800998ecf8427e"),
    (b"a", "0cc175b9c0f1b6a831c399e269772661"),
    (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
    (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
    (b"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
    (
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        "d174ab98d277d9f5a5611c2c9f419d9f",
    ),
    (b"1234567890" * 8, "57edf4a22be3c955ac49da2e2107b67a"),
)

# Digests (from CPython's hashlib) of bytes((7 * i + 3) & 255 for i in range(n)): the lengths where
# the padding spills into a second block (56), fills one exactly (64) or crosses into a third.
BOUNDARIES = (
    (55, "52c0e574e1198de5fe3f8f11440dcb1b"),
    (56, "46c9907fc908ee68b1e7b8e71286a518"),
    (57, "1c805dd236c35cab25fcb1bc73802c51"),
    (63, "a62f6d59e837867693f042f5b8f5a236"),
    (64, "7160b8fb5e9e4023d549c3971fbaeead"),
    (65, "70bd662e7aefbda85a0f7244167b7897"),
    (119, "e84905d4214f4d1ca56c2cdcc152b143"),
    (120, "e3eb5a6c8669ea01a8c185b8abc8a5dc"),
    (128, "10b2da1a82f16d99a81a7203fe9f02cb"),
)


def test_rfc1321_test_suite():
    for data, expected in RFC1321_SUITE:
        assert md5_hex(data) == expected, data


def test_padding_boundaries():
    for n, expected in BOUNDARIES:
        assert md5_hex(bytes([(7 * i + 3) & 255 for i in range(n)])) == expected, n


def test_digest_is_16_bytes_matching_the_hex_form():
    digest = md5_digest(b"abc")
    assert len(digest) == 16
    assert "".join(["%02x" % b for b in digest]) == "900150983cd24fb0d6963f7d28e17f72"


def test_accepts_bytearray_and_memoryview():
    assert md5_hex(bytearray(b"abc")) == "900150983cd24fb0d6963f7d28e17f72"
    assert md5_hex(memoryview(b"xabcx")[1:4]) == "900150983cd24fb0d6963f7d28e17f72"


def test_one_bit_changes_the_digest():
    assert md5_hex(b"abd") != md5_hex(b"abc")
    assert md5_hex(b"\x00" * 64) != md5_hex(b"\x00" * 65)
