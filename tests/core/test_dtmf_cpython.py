"""The C-accelerated DTMF kernels give the pure path's exact integers and decisions."""

import random

from firmware.core import dtmf, g711, wav
from firmware.core.pcm import AUDIOOP, pcm_to_samples, samples_to_pcm
from tests.core.support import read_data
from tests.core.test_dtmf import SPEECH, tone_train


def test_fast_kernels_are_exact():
    rng = random.Random(4733)
    fast = dtmf.DtmfDetector(fast=True)
    pure = dtmf.DtmfDetector(fast=False)
    blocks = [bytes(320), b"\xff\x7f" * 160, b"\x00\x80" * 160]
    blocks += [rng.randbytes(320) for _ in range(300)]
    for block in blocks:
        samples = pcm_to_samples(block)
        assert fast._rms(block, None) == pure._rms(block, samples) == AUDIOOP.rms(block, 2)
        for k in range(8):
            assert fast._power(block, None, k) == pure._power(block, samples, k)


def test_fast_and_pure_paths_decide_the_same():
    signals = [tone_train(dtmf.DIGITS, lead_samples=lead) for lead in (0, 51)]
    signals += [tone_train("147*", level_dbm0=level) for level in (-30, -31, -32, -33, -34)]
    signals += [wav.read_pcm8k(read_data("media/%s.wav" % name)) for name in SPEECH]
    rng = random.Random(1)
    noise = [int(rng.gauss(0, 3000)) for _ in range(8000)]
    signals.append(samples_to_pcm([max(-32768, min(32767, v)) for v in noise]))
    for pcm in signals:
        pcm = g711.decode("PCMU", g711.encode("PCMU", pcm))
        fast = dtmf.DtmfDetector(fast=True)
        pure = dtmf.DtmfDetector(fast=False)
        for i in range(0, len(pcm) - 319, 160):
            block = pcm[i : i + 320]
            assert fast.analyse(block) == pure.analyse(block), i
