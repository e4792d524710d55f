"""G.711: every 16-bit input and every 8-bit code, on every path, against audioop itself."""

import array
import subprocess
import sys

from firmware.core import g711
from firmware.core.pcm import AUDIOOP as audioop
from tests.core.support import read_data

ALL_PCM = array.array("h", range(-32768, 32768)).tobytes()
ALL_CODES = bytes(range(256))
REFERENCE = {
    "PCMU": (audioop.lin2ulaw, audioop.ulaw2lin),
    "PCMA": (audioop.lin2alaw, audioop.alaw2lin),
}


def test_audioop_is_available_and_selected_on_cpython():
    assert audioop is not None
    assert g711.BACKEND == "audioop"
    assert g711.table_path() is not None


def test_all_65536_inputs_and_256_codes_on_every_path():
    for codec, (lin2code, code2lin) in REFERENCE.items():
        want_codes = lin2code(ALL_PCM, 2)
        want_pcm = code2lin(ALL_CODES, 2)
        for name, path in (("pure", g711.PURE), ("table", g711.table_path())):
            encode, decode = path[codec]
            assert encode(ALL_PCM, 2) == want_codes, (name, codec)
            assert decode(ALL_CODES, 2) == want_pcm, (name, codec)
        assert g711.encode(codec, ALL_PCM) == want_codes
        assert g711.decode(codec, ALL_CODES) == want_pcm
        scalar = g711.linear_to_ulaw if codec == "PCMU" else g711.linear_to_alaw
        assert bytes(scalar(s) for s in range(-32768, 32768)) == want_codes


def test_the_audioop_path_is_audioop_itself():
    assert g711.encoder("PCMU") is audioop.lin2ulaw and g711.decoder("PCMA") is audioop.alaw2lin


def test_paths_accept_bytearray_and_memoryview():
    pcm = ALL_PCM[:640]
    for codec in g711.CODECS:
        want = g711.PURE[codec][0](pcm, 2)
        best = {c: (g711.encoder(c), g711.decoder(c)) for c in g711.CODECS}
        for path in (g711.table_path(), best):
            encode, decode = path[codec]
            assert encode(bytearray(pcm), 2) == want
            assert encode(memoryview(pcm), 2) == want
            assert decode(memoryview(want), 2) == g711.PURE[codec][1](want, 2)


def test_stored_vectors_are_what_audioop_gives():
    pcm = array.array("h", range(-32768, 32768, 13)).tobytes()
    assert read_data("media/g711_encode_ulaw.bin") == audioop.lin2ulaw(pcm, 2)
    assert read_data("media/g711_encode_alaw.bin") == audioop.lin2alaw(pcm, 2)
    assert read_data("media/g711_decode_ulaw.bin") == audioop.ulaw2lin(ALL_CODES, 2)
    assert read_data("media/g711_decode_alaw.bin") == audioop.alaw2lin(ALL_CODES, 2)


def test_the_table_path_is_built_only_when_asked_for():
    # Its tables are a megabyte of lists: a firmware that encodes with audioop must not build them.
    code = "import firmware.core.g711 as g; print(g.BACKEND, g._table)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["audioop", "[]"]
