"""Packet loss concealment: continuity under random loss, smooth seams, pitch, fading."""

import math

from firmware.core import plc, wav
from firmware.core.pcm import pcm_to_samples, samples_to_pcm
from tests.core.support import FakeRandom, read_data

FRAME = 160
DELAY = plc.OVERLAP_MAX  # the concealer's output delay in samples


def voiced(seconds):
    """A vowel-like signal: a gliding 120..160 Hz fundamental, two harmonics, slow tremolo."""
    out = []
    phase = 0.0
    for i in range(int(8000 * seconds)):
        phase += 2 * math.pi * (140 + 20 * math.sin(2 * math.pi * 0.7 * i / 8000)) / 8000
        amp = 6000 * (1 + 0.3 * math.sin(2 * math.pi * 3 * i / 8000))
        out.append(
            int(
                amp
                * (
                    math.sin(phase)
                    + 0.5 * math.sin(2 * phase + 0.3)
                    + 0.25 * math.sin(3 * phase + 1)
                )
            )
        )
    return out


def loss_pattern(frames, percent, seed):
    rng = FakeRandom(seed)
    return [rng.getrandbits(16) < percent * 65536 // 100 for _ in range(frames)]


def conceal_stream(samples, lost, concealer=None):
    """Play samples frame by frame, concealing the lost ones; output aligned with the input."""
    c = concealer or plc.Concealer()
    pcm = samples_to_pcm(samples)
    out = []
    for k, is_lost in enumerate(lost):
        frame = pcm[2 * FRAME * k : 2 * FRAME * (k + 1)]
        out.append(c.conceal(FRAME) if is_lost else c.good(frame))
    return list(pcm_to_samples(b"".join(out)))[DELAY:]


def zero_fill(samples, lost):
    out = list(samples[: FRAME * len(lost)])
    for k, is_lost in enumerate(lost):
        if is_lost:
            out[FRAME * k : FRAME * (k + 1)] = [0] * FRAME
    return out


def zero_runs(x, min_len=40):
    """(start, length) of runs of exact zeros of at least min_len samples (5 ms)."""
    runs = []
    start = None
    for i, v in enumerate(x + [1]):
        if v == 0 and start is None:
            start = i
        elif v != 0 and start is not None:
            if i - start >= min_len:
                runs.append((start, i - start))
            start = None
    return runs


def max_step(x):
    return max(abs(x[i] - x[i - 1]) for i in range(1, len(x)))


def rms(x):
    return math.sqrt(sum(v * v for v in x) / len(x)) if x else 0.0


def test_good_frames_pass_unchanged_just_delayed():
    signal = voiced(0.2)
    out = conceal_stream(signal, [False] * (len(signal) // FRAME))
    assert out == signal[: len(out)] and len(out) == len(signal) - DELAY


def test_twenty_percent_loss_stays_continuous_on_a_voiced_signal():
    signal = voiced(4)
    frames = len(signal) // FRAME
    for seed in (1, 2, 3):
        lost = loss_pattern(frames, 20, seed)
        assert 0.12 < sum(lost) / frames < 0.28
        out = conceal_stream(signal, lost)
        assert zero_runs(out) == [], seed
        # No clicks: no step between samples (much) larger than the signal itself makes.
        assert max_step(out[FRAME:]) <= 1.1 * max_step(signal), seed
        # The same check catches the naive approach (silence for every lost packet).
        naive = zero_fill(signal, lost)
        assert zero_runs(naive) != [] and max_step(naive) > 1.5 * max_step(signal)


def test_ten_to_thirty_percent_loss_keeps_the_level():
    signal = voiced(3)
    frames = len(signal) // FRAME
    for percent in (10, 30):
        lost = loss_pattern(frames, percent, 7)
        out = conceal_stream(signal, lost)
        for k in range(1, frames - 1):
            if lost[k] and not lost[k - 1]:  # the first concealed frame of each burst
                got = rms(out[FRAME * k : FRAME * (k + 1)])
                assert got > 0.5 * rms(signal[FRAME * k : FRAME * (k + 1)]), (percent, k)


def test_speech_after_voiced_audio_is_never_replaced_by_silence():
    speech = list(pcm_to_samples(wav.read_pcm8k(read_data("media/speech_en.wav"))))
    frames = len(speech) // FRAME
    checked = 0
    for seed in (1, 2, 3, 4):
        lost = loss_pattern(frames, 20, seed)
        out = conceal_stream(speech, lost)
        for k in range(1, frames - 1):
            before = speech[FRAME * (k - 1) : FRAME * k]
            if lost[k] and not lost[k - 1] and rms(before) > 1000:
                checked += 1
                assert zero_runs(out[FRAME * k : FRAME * (k + 1)]) == [], (seed, k)
    assert checked > 40


def test_a_burst_fades_out_and_comes_back_smoothly():
    signal = voiced(1.5)
    frames = len(signal) // FRAME
    lost = [20 <= k < 28 for k in range(frames)]  # 160 ms lost
    out = conceal_stream(signal, lost)
    levels = [rms(out[FRAME * k : FRAME * (k + 1)]) for k in range(19, 30)]
    reference = [rms(signal[FRAME * k : FRAME * (k + 1)]) for k in range(19, 30)]
    assert levels[1] > 0.7 * reference[1]  # the first 20 ms at (nearly) full level
    assert levels[1] > levels[3] > levels[5]  # then fading
    fade_end = 20 * FRAME + plc.FADE_START + plc.FADE_LEN
    assert all(v == 0 for v in out[fade_end : 28 * FRAME])  # silent after 110 ms
    assert out[29 * FRAME : 30 * FRAME] == signal[29 * FRAME : 30 * FRAME]  # and back
    assert max_step(out[FRAME:]) <= 1.1 * max_step(signal)


def test_pitch_detection():
    for period in (40, 53, 67, 80, 101, 120):
        # Glottal-like excitation: a decaying 700 Hz ring restarted every period.
        ring = [
            int(6000 * math.exp(-i / 25) * math.sin(2 * math.pi * 700 * i / 8000))
            for i in range(period)
        ]
        voice = [ring[i % period] for i in range(plc.HISTORY)]
        found = plc.find_pitch(voice)
        # The coarse search looks at even lags only, so an odd period may come out doubled:
        # that loops just as seamlessly (Appendix I behaves the same way).
        assert min(abs(found - k * period) for k in (1, 2)) <= 1, (period, found)
    sine = [int(8000 * math.sin(2 * math.pi * 100 * i / 8000)) for i in range(plc.HISTORY)]
    assert plc.find_pitch(sine) == 80
    assert plc.PITCH_MIN <= plc.find_pitch([0] * plc.HISTORY) <= plc.PITCH_MAX


def test_splice_smooths_a_dropped_frame():
    signal = voiced(0.5)
    pcm = samples_to_pcm(signal)
    frames = [pcm[2 * FRAME * k : 2 * FRAME * (k + 1)] for k in range(len(signal) // FRAME)]
    for splice in (False, True):
        c = plc.Concealer()
        out = []
        for k, frame in enumerate(frames):
            if k == 10:
                continue  # the jitter buffer skipped this one
            out.append(c.good(frame, splice and k == 11))
        samples = list(pcm_to_samples(b"".join(out)))
        seam = 10 * FRAME + DELAY
        step = max_step(samples[seam - 5 : seam + 5])
        if splice:
            assert step <= max_step(signal)
        else:
            assert step > max_step(signal)  # the raw cut is a click (the test can tell)


def test_concealment_of_nothing_is_silence_and_odd_sizes_work():
    c = plc.Concealer()
    assert c.conceal(160) == bytes(320)
    c.good(samples_to_pcm(voiced(0.1)))
    for n in (1, 7, 80, 81, 333):
        assert len(c.conceal(n)) == 2 * n
    assert len(c.good(b"\x01\x00" * 5)) == 10


def test_good_frames_of_any_size_are_the_stream_delayed():
    # Frames shorter than the delay, longer than the history and in between (two code paths).
    stream = bytes((i * 37) & 0xFF for i in range(2 * 4000))
    sizes = [2, 58, 60, 62, 320, 958, 960, 962, 1000, 320, 2, 320]
    concealer = plc.Concealer()
    out = b""
    pos = 0
    for size in sizes:
        frame = stream[pos : pos + size]
        pos += size
        result = concealer.good(frame)
        assert len(result) == size
        out += result
    assert out == (bytes(2 * DELAY) + stream)[:pos]
