"""Call progress tones: cadences, frequencies and levels, measured on the generated PCM."""

import math

from firmware.core import tones
from firmware.core.pcm import pcm_to_samples
from tests.core.support import raises


def read_all(tone, ms, chunk=160):
    out = []
    remaining = ms * 8
    while remaining > 0:
        n = min(chunk, remaining)
        out.extend(pcm_to_samples(tone.read(n)))
        remaining -= n
    return out


def segments(samples):
    """[(is_on, length_ms)] of the on/off pattern."""
    out = []
    for i in range(0, len(samples), 8):  # 1 ms resolution
        on = any(samples[i : i + 8])
        if out and out[-1][0] == on:
            out[-1][1] += 1
        else:
            out.append([on, 1])
    return [(on, ms) for on, ms in out]


def power(samples, frequency):
    """Normalised power of one frequency (single DFT bin), 1.0 for a unit-amplitude sine."""
    re = im = 0.0
    w = 2 * math.pi * frequency / 8000
    for i, v in enumerate(samples):
        re += v * math.cos(w * i)
        im += v * math.sin(w * i)
    return (re * re + im * im) * 4 / (len(samples) ** 2)


def test_ringback_cadences_per_country():
    table = [
        ("de", [(True, 1000), (False, 4000)] * 2),
        ("eu", [(True, 1000), (False, 4000)] * 2),
        ("us", [(True, 2000), (False, 4000)] * 2),
        ("ca", [(True, 2000), (False, 4000)] * 2),
        ("uk", [(True, 400), (False, 200), (True, 400), (False, 2000)] * 2),
        ("fr", [(True, 1500), (False, 3500)] * 2),
    ]
    for country, pattern in table:
        total = sum(ms for _on, ms in pattern)
        assert segments(read_all(tones.ringback(country), total)) == pattern, country


def test_busy_cadences():
    table = [("de", 480), ("us", 500), ("uk", 375)]
    for country, half in table:
        pattern = [(True, half), (False, half)] * 3
        assert segments(read_all(tones.busy(country), 6 * half)) == pattern, country


def test_frequencies_and_levels():
    # (tone, ms to skip, [(frequency, dBm0)])
    table = [
        (tones.ringback("de"), 0, [(425, -13)]),
        (tones.ringback("us"), 0, [(440, -19), (480, -19)]),
        (tones.ringback("uk"), 0, [(400, -19), (450, -19)]),
        (tones.busy("us"), 0, [(480, -24), (620, -24)]),
    ]
    for tone, _skip, components in table:
        on = read_all(tone, 200)
        for frequency, level in components:
            want = (tones.amplitude(level) / 32768) ** 2
            got = power([v / 32768 for v in on], frequency)
            assert abs(10 * math.log10(got / want)) < 0.3, (frequency, level)
        assert power([v / 32768 for v in on], 1000) < 1e-4
    assert abs(tones.amplitude(0) - 22651) < 1 and abs(tones.amplitude(-20) - 2265.1) < 0.1


def test_reading_in_any_chunk_size_gives_the_same_audio():
    whole = read_all(tones.ringback("uk"), 3200, chunk=160)
    assert read_all(tones.ringback("uk"), 3200, chunk=37) == whole
    assert read_all(tones.ringback("uk"), 3200, chunk=1000) == whole
    # The cached cycle and direct rendering agree.
    assert list(pcm_to_samples(tones.render([(400, -19), (450, -19)], 0, 3200))) == whole[:3200]


def test_confirmation_beeps_once():
    beep = tones.confirmation()
    samples = read_all(beep, 600)
    assert beep.done
    pattern = segments(samples)
    assert [on for on, _ms in pattern] == [True, False, True, False, True, False]
    assert [ms for _on, ms in pattern[:5]] == [80, 40, 80, 40, 120]
    assert not any(samples[440 * 8 :])
    want = (tones.amplitude(-10) / 32768) ** 2
    for i, frequency in ((0, 880), (1, 1100), (2, 1320)):
        got = power([v / 32768 for v in samples[i * 960 : i * 960 + 640]], frequency)
        assert abs(10 * math.log10(got / want)) < 0.3, frequency


def test_render_and_period():
    assert tones.period_samples([(425, 0)]) == 320
    assert tones.period_samples([(440, 0), (480, 0)]) == 200
    assert tones.period_samples([(697, 0), (1209, 0)]) == 8000
    assert tones.period_samples([(697.5, 0)]) is None
    loud = pcm_to_samples(tones.render([(1000, 3)], 0, 80))
    assert max(loud) <= 32767 and min(loud) >= -32768


def test_bad_requests():
    raises(ValueError, tones.ringback, "xx")
    exc = raises(ValueError, tones.busy, "mars")
    assert "de" in str(exc)
    raises(ValueError, tones.Tone, [(425, -13)], [])
    raises(ValueError, tones.Tone, [(425, -13)], [(100, -1)])
    assert tones.ringback(None).cadence == [(1000, 4000)]
