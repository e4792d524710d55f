"""G.711 against stored audioop vectors (runs under MicroPython too; see test_g711_cpython.py)."""

from firmware.core import g711
from firmware.core.pcm import pcm_to_samples, samples_to_pcm
from tests.core.support import raises, read_data

STRIDE = 13  # as in tests/data/media/make_g711_vectors.py
INPUTS = list(range(-32768, 32768, STRIDE))
LAWS = (
    ("PCMU", g711.linear_to_ulaw, g711.ulaw_to_linear, "ulaw"),
    ("PCMA", g711.linear_to_alaw, g711.alaw_to_linear, "alaw"),
)


def _vectors(law):
    encoded = read_data("media/g711_encode_%s.bin" % law)
    decoded = list(pcm_to_samples(read_data("media/g711_decode_%s.bin" % law)))
    assert len(encoded) == len(INPUTS) and len(decoded) == 256
    return encoded, decoded


def test_scalar_definitions_match_audioop_vectors():
    for _codec, encode, decode, law in LAWS:
        encoded, decoded = _vectors(law)
        bad = [s for i, s in enumerate(INPUTS) if encode(s) != encoded[i]]
        assert not bad, (law, bad[:5])
        assert [decode(c) for c in range(256)] == decoded, law


def test_every_backend_matches_the_vectors():
    pcm = samples_to_pcm(INPUTS)
    codes = bytes(range(256))
    paths = [("pure", g711.PURE), ("best", None)]
    if g711.table_path() is not None:
        paths.append(("table", g711.table_path()))
    for codec, _enc, _dec, law in LAWS:
        encoded, decoded = _vectors(law)
        for name, path in paths:
            enc, dec = path[codec] if path else (g711.encoder(codec), g711.decoder(codec))
            assert enc(pcm, 2) == encoded, (name, codec)
            assert list(pcm_to_samples(dec(codes, 2))) == decoded, (name, codec)


def test_known_codes():
    # (sample, mu-law, A-law): silence, -1 LSB, the extremes (G.711 tables, audioop agrees)
    table = [(0, 0xFF, 0xD5), (-1, 0x7E, 0x55), (32767, 0x80, 0xAA), (-32768, 0x00, 0x2A)]
    for sample, ulaw, alaw in table:
        assert g711.linear_to_ulaw(sample) == ulaw, sample
        assert g711.linear_to_alaw(sample) == alaw, sample
    decoded = [(0xFF, 0, 848), (0x80, 32124, 5504), (0x00, -32124, -5504), (0xD5, 716, 8)]
    for code, ulaw, alaw in decoded:
        assert g711.ulaw_to_linear(code) == ulaw, code
        assert g711.alaw_to_linear(code) == alaw, code


def test_round_trip_error_stays_within_the_segment_step():
    # The quantisation step doubles with each segment: at most 1/16 of the magnitude (+ 2 LSB of
    # the 13/14-bit grid near zero), never more.
    for codec, _e, _d, _law in LAWS:
        samples = list(range(-32000, 32001, 97))
        out = pcm_to_samples(g711.decode(codec, g711.encode(codec, samples_to_pcm(samples))))
        for i, s in enumerate(samples):
            assert abs(s - out[i]) <= abs(s) // 16 + 16, (codec, s, out[i])


def test_bulk_edge_lengths():
    for codec, encode, decode, _law in LAWS:
        for n in (0, 1, 2, 161):
            samples = [(i * 7919) % 65536 - 32768 for i in range(n)]
            pcm = samples_to_pcm(samples)
            assert g711.encode(codec, pcm) == bytes(encode(s) for s in samples)
            payload = bytes((i * 37) & 0xFF for i in range(n))
            assert list(pcm_to_samples(g711.decode(codec, payload))) == [decode(c) for c in payload]


def test_misuse_raises_clearly():
    for codec in g711.CODECS:
        exc = raises(ValueError, g711.encode, codec, b"\x01\x02\x03")
        assert "16-bit" in str(exc)
        exc = raises(ValueError, g711.PURE[codec][0], b"\x01", 2)
        assert "16-bit" in str(exc)
        for path in (g711.PURE, g711.table_path()):
            if path is not None:
                raises(ValueError, path[codec][0], b"\x00\x00", 1)
                raises(ValueError, path[codec][1], b"\x00", 4)
    exc = raises(ValueError, g711.encoder, "G722")
    assert "G722" in str(exc)
    raises(ValueError, g711.decode, "opus", b"")


def test_silence_payload_decodes_to_near_zero():
    for codec in g711.CODECS:
        payload = g711.silence(codec, 160)
        assert len(payload) == 160
        assert max(abs(s) for s in pcm_to_samples(g711.decode(codec, payload))) <= 8
    assert g711.silence("PCMU", 2) == b"\xff\xff"
    assert g711.silence("PCMA", 1) == b"\xd5"
