"""Call progress tones and beeps, generated as 8 kHz S16LE PCM.

- ``render(components, start, count)``: `count` samples of a sum of sines from sample index
  `start` on; ``components`` is a list of ``(frequency_hz, level_dbm0)``.
- ``Tone(components, cadence, repeat=True)``: a tone with an on/off cadence (a list of
  ``(on_ms, off_ms)``); ``Tone.read(samples)`` returns the next `samples` samples and
  ``Tone.done`` says when a non-repeating tone has ended (then it reads silence).
- ``ringback(country)``, ``busy(country)``, ``confirmation()``: ready-made tones.
  Countries: ``RINGBACK`` and ``BUSY`` keys (de, eu, at, ch, fr, it, nl, us, ca, uk/gb, jp, au).

Levels follow G.711: 0 dBm0 is a sine of peak 22651 in 16-bit PCM (the mu-law digital
milliwatt), so full scale is about +3.2 dBm0.
"""

import math

from firmware.core.pcm import samples_to_pcm

RATE = 8000
DBM0_PEAK = 22651.0


def amplitude(level_dbm0):
    """Peak amplitude (16-bit PCM) of a sine at `level_dbm0`."""
    return DBM0_PEAK * 10.0 ** (level_dbm0 / 20.0)


def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def period_samples(components):
    """Samples after which a sum of integer-frequency sines repeats exactly (None if > 1 s)."""
    period = 1
    for frequency, _level in components:
        if frequency != int(frequency):
            return None
        p = RATE // _gcd(RATE, int(frequency))
        period = period * p // _gcd(period, p)
    return period if period <= RATE else None


def render(components, start, count):
    """`count` samples (bytes) of the sum of sines, from sample index `start`."""
    parts = [(2.0 * math.pi * f / RATE, amplitude(level)) for f, level in components]
    period = period_samples(components)
    out = []
    for n in range(start, start + count):
        if period:
            n %= period  # keeps the phase argument small and the waveform exactly periodic
        value = 0.0
        for omega, amp in parts:
            value += amp * math.sin(omega * n)
        v = int(value + 0.5) if value >= 0 else -int(-value + 0.5)
        out.append(32767 if v > 32767 else -32768 if v < -32768 else v)
    return samples_to_pcm(out)


class Tone:
    """A tone with a cadence, read frame by frame (see the module docstring)."""

    def __init__(self, components, cadence, repeat=True):
        self.components = list(components)
        self.cadence = [(int(on), int(off)) for on, off in cadence]
        if not self.cadence or any(on < 0 or off < 0 for on, off in self.cadence):
            raise ValueError("cadence must be a non-empty list of (on_ms, off_ms)")
        self.repeat = repeat
        self.done = False
        self._segment = 0
        self._offset = 0  # samples into the current (on + off) segment
        period = period_samples(self.components)
        self._cycle = render(self.components, 0, period) if period else None

    def remaining(self):
        """Samples until a non-repeating tone is done (a very large number if it repeats)."""
        if self.repeat:
            return 1 << 30
        total = -self._offset
        for on_ms, off_ms in self.cadence[self._segment :]:
            total += (on_ms + off_ms) * RATE // 1000
        return total

    def _on_samples(self, start, count):
        if self._cycle is None:
            return render(self.components, start, count)
        cycle = self._cycle
        size = len(cycle) >> 1
        parts = []
        start %= size
        while count > 0:
            take = min(count, size - start)
            parts.append(cycle[2 * start : 2 * (start + take)])
            count -= take
            start = 0
        return b"".join(parts)

    def read(self, samples):
        """The next `samples` samples (bytes)."""
        parts = []
        while samples > 0:
            if self.done:
                parts.append(bytes(2 * samples))
                break
            on_ms, off_ms = self.cadence[self._segment]
            n_on = on_ms * RATE // 1000
            n_total = n_on + off_ms * RATE // 1000
            take = min(samples, n_total - self._offset)
            if take > 0:
                on_from = self._offset
                on_to = min(self._offset + take, n_on)
                if on_to > on_from:
                    parts.append(self._on_samples(on_from, on_to - on_from))
                silent = take - max(0, on_to - on_from)
                if silent:
                    parts.append(bytes(2 * silent))
                self._offset += take
                samples -= take
            if self._offset >= n_total:
                self._offset = 0
                self._segment += 1
                if self._segment == len(self.cadence):
                    self._segment = 0
                    if not self.repeat:
                        self.done = True
        return b"".join(parts)


# Ringback and busy tones (ITU-T E.180 supplement 2 and national specifications).
# Each entry: (components, cadence); levels are per component.
_EU_RINGBACK = ([(425, -13)], [(1000, 4000)])
_US_RINGBACK = ([(440, -19), (480, -19)], [(2000, 4000)])
_UK_RINGBACK = ([(400, -19), (450, -19)], [(400, 200), (400, 2000)])

RINGBACK = {
    "de": _EU_RINGBACK,
    "eu": _EU_RINGBACK,
    "at": _EU_RINGBACK,
    "ch": _EU_RINGBACK,
    "nl": _EU_RINGBACK,
    "it": _EU_RINGBACK,
    "fr": ([(440, -13)], [(1500, 3500)]),
    "us": _US_RINGBACK,
    "ca": _US_RINGBACK,
    "uk": _UK_RINGBACK,
    "gb": _UK_RINGBACK,
    "au": ([(400, -19), (425, -19), (450, -19)], [(400, 200), (400, 2000)]),
    "jp": ([(400, -13)], [(1000, 2000)]),
}

_EU_BUSY = ([(425, -13)], [(480, 480)])
_CEPT_BUSY = ([(425, -13)], [(500, 500)])
_US_BUSY = ([(480, -24), (620, -24)], [(500, 500)])
_UK_BUSY = ([(400, -13)], [(375, 375)])
BUSY = {
    "de": _EU_BUSY,
    "eu": _EU_BUSY,
    "at": _EU_BUSY,
    "ch": _CEPT_BUSY,
    "nl": _CEPT_BUSY,
    "it": _CEPT_BUSY,
    "fr": ([(440, -13)], [(500, 500)]),
    "us": _US_BUSY,
    "ca": _US_BUSY,
    "uk": _UK_BUSY,
    "gb": _UK_BUSY,
    "au": ([(425, -13)], [(375, 375)]),
    "jp": ([(400, -13)], [(500, 500)]),
}

DEFAULT_COUNTRY = "de"


def _lookup(table, country):
    key = (country or DEFAULT_COUNTRY).lower()
    if key not in table:
        raise ValueError("no tone for country %r (known: %s)" % (country, ", ".join(sorted(table))))
    return table[key]


def ringback(country=DEFAULT_COUNTRY):
    """Ringback tone ("it is ringing at the other end") of a country, repeating."""
    components, cadence = _lookup(RINGBACK, country)
    return Tone(components, cadence)


def busy(country=DEFAULT_COUNTRY):
    """Busy tone of a country, repeating."""
    components, cadence = _lookup(BUSY, country)
    return Tone(components, cadence)


def confirmation():
    """Door-opened confirmation: three short rising beeps, played once (440 ms)."""
    return _Sequence(
        [
            Tone([(880, -10)], [(80, 40)], repeat=False),
            Tone([(1100, -10)], [(80, 40)], repeat=False),
            Tone([(1320, -10)], [(120, 80)], repeat=False),
        ]
    )


class _Sequence:
    """Non-repeating tones played one after another (same interface as Tone)."""

    def __init__(self, tones):
        self._tones = tones
        self.done = False

    def read(self, samples):
        parts = []
        while samples > 0 and self._tones:
            tone = self._tones[0]
            # A non-repeating tone turns done exactly at its end, so read no further than that.
            chunk = tone.read(min(samples, tone.remaining()))
            parts.append(chunk)
            samples -= len(chunk) >> 1
            if tone.done:
                self._tones.pop(0)
        if samples > 0:
            parts.append(bytes(2 * samples))
        self.done = not self._tones
        return b"".join(parts)
