"""Writes the G.711 reference vectors the MicroPython tests compare against (needs CPython's
audioop: the stdlib module up to 3.12, the audioop-lts package on 3.13+).

    .venv/bin/python tests/data/media/make_g711_vectors.py

g711_encode_ulaw.bin, g711_encode_alaw.bin: the code for every 13th 16-bit sample value,
    -32768, -32755, ... (5042 values; 13 is odd so both even and odd values are covered).
g711_decode_ulaw.bin, g711_decode_alaw.bin: the S16LE sample of each code 0..255 (512 bytes).
"""

import array
import pathlib

import audioop  # the audioop-lts package provides the same module name

HERE = pathlib.Path(__file__).resolve().parent
STRIDE = 13


def main():
    samples = array.array("h", range(-32768, 32768, STRIDE))
    assert array.array("h", [1]).tobytes() == b"\x01\x00", "run on a little-endian host"
    pcm = samples.tobytes()
    codes = bytes(range(256))
    (HERE / "g711_encode_ulaw.bin").write_bytes(audioop.lin2ulaw(pcm, 2))
    (HERE / "g711_encode_alaw.bin").write_bytes(audioop.lin2alaw(pcm, 2))
    (HERE / "g711_decode_ulaw.bin").write_bytes(audioop.ulaw2lin(codes, 2))
    (HERE / "g711_decode_alaw.bin").write_bytes(audioop.alaw2lin(codes, 2))


if __name__ == "__main__":
    main()
