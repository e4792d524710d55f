"""G.711 throughput on 20 ms frames: our back ends side by side with audioop called directly.

    .venv/bin/python -m bench bench_g711

Samples per second for encoding and decoding real speech (tests/data/media/speech_*.wav) in
160-sample frames, and each back end's speed as a fraction of calling audioop directly. Goals:
the audioop path within 10 % of audioop (ratio >= 0.90), the table path (CPython without
audioop) at least 1/10 of audioop's speed for decoding and 1/20 for encoding; the pure
(MicroPython) path must give identical bytes, its speed is shown for information.
"""

import pathlib
import time

from firmware.core import g711, wav
from firmware.core.pcm import AUDIOOP as audioop

DATA = pathlib.Path(__file__).resolve().parents[1] / "tests" / "data" / "media"
FRAME_BYTES = 320


def speech_frames():
    pcm = b"".join(wav.read_pcm8k(p.read_bytes()) for p in sorted(DATA.glob("speech_*.wav")))
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)]


def _pass_time(fn, frames):
    start = time.perf_counter()
    for frame in frames:
        fn(frame, 2)
    return time.perf_counter() - start


def measure(variants, frames, repeats):
    """Best time per variant over `repeats` interleaved passes (one pass each, in turn)."""
    best = {name: float("inf") for name, _fn, _r in variants}
    for r in range(repeats):
        for name, fn, every in variants:
            if r % every == 0:
                best[name] = min(best[name], _pass_time(fn, frames))
    return best


def main(argv):
    if audioop is None:
        print("audioop is not available: nothing to compare with")
        return 1
    frames = speech_frames()
    samples = len(frames) * 160
    direct = {
        "PCMU": (audioop.lin2ulaw, audioop.ulaw2lin),
        "PCMA": (audioop.lin2alaw, audioop.alaw2lin),
    }
    print(
        "G.711 on %d frames of 160 samples (%.1f s of speech), backend in use: %s"
        % (len(frames), samples / 8000, g711.BACKEND)
    )
    print(
        "%-6s %-7s %-9s %14s %9s %8s  %s"
        % ("codec", "op", "path", "Msamples/s", "x audioop", "goal", "")
    )
    ok = True
    for codec in g711.CODECS:
        for op, index in (("encode", 0), ("decode", 1)):
            inputs = frames if index == 0 else [direct[codec][0](f, 2) for f in frames]
            reference = direct[codec][index]
            want = [reference(x, 2) for x in inputs]
            variants = [  # (name, function, measured every n-th pass)
                ("audioop", reference, 1),  # audioop called directly
                ("ours", (g711.encoder if index == 0 else g711.decoder)(codec), 1),
                ("table", g711.table_path()[codec][index], 1),
                ("pure", g711.PURE[codec][index], 10),
            ]
            for name, fn, _every in variants:
                assert [fn(x, 2) for x in inputs] == want, (codec, op, name)  # bit-identical
            best = measure(variants, inputs, 30)
            base = best["audioop"]
            goals = {"ours": 0.90, "table": 0.10 if index else 0.05, "pure": None, "audioop": None}
            for name, _fn, _every in variants:
                ratio = base / best[name]
                goal = goals[name]
                verdict = "" if goal is None else ("ok" if ratio >= goal else "MISSED")
                ok = ok and verdict != "MISSED"
                goal_text = "" if goal is None else ">= %.2f" % goal
                rate = samples / best[name] / 1e6
                print(
                    "%-6s %-7s %-9s %14.1f %9.3f %8s  %s"
                    % (codec, op, name, rate, ratio, goal_text, verdict)
                )
    print("all paths bit-identical: yes")
    return 0 if ok else 1
