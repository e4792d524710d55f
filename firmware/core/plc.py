"""Packet loss concealment for 8 kHz speech, after ITU-T G.711 Appendix I.

The idea of Appendix I: keep a short history of the output; when a packet is missing, find the
pitch period of the last 20 ms by normalised cross-correlation and play the last period again and
again, smoothing every seam by overlap-add (OLA):

- at the start of an erasure the last quarter period of the history is cross-faded with the
  quarter before the period, so that looping back over the period is seamless. To be able to
  change samples that were "already" played, all output is delayed by a quarter of the longest
  period (30 samples, 3.75 ms);
- after the first and the second 10 ms of an erasure one more period of the history is added to
  the loop (up to three), cross-faded, so a long erasure does not buzz on a single period;
- the synthetic signal fades linearly to silence;
- the first good frame after an erasure is cross-faded with the continued synthetic signal, over
  a longer stretch the longer the erasure was (up to 10 ms).

Deviation: Appendix I fades by 20 % per 10 ms after the first 10 ms (silent after 60 ms). We fade
at half that rate (silent after 110 ms), so that bursts of up to five lost 20 ms packets stay
continuous sound rather than dropping to silence, which is what a listener notices most.

``Concealer.good(pcm, splice=False)`` takes every received frame (bytes, S16LE) and returns the
same amount of audio, delayed by 3.75 ms; ``splice=True`` says the frame does not follow the
previous one (the jitter buffer dropped a frame) and makes the seam an OLA too.
``Concealer.conceal(samples)`` returns `samples` samples of concealment.
"""

import math

from firmware.core.pcm import dot as _dot
from firmware.core.pcm import pcm_to_samples, samples_to_pcm

PITCH_MIN = 40  # samples: 200 Hz
PITCH_MAX = 120  # 66.7 Hz
CORRELATION_LEN = 160  # 20 ms compared with the same span one period back
MIN_POWER = 250  # below this the correlation is not normalised by the (noise) energy
OVERLAP_MAX = PITCH_MAX // 4  # also the output delay
HISTORY = 3 * PITCH_MAX + OVERLAP_MAX
UNIT = 80  # 10 ms
FADE_START = UNIT  # full level for the first 10 ms
FADE_LEN = 10 * UNIT  # then linearly to silence over 100 ms
END_OVERLAP_STEP = 32  # the closing OLA grows by 4 ms per further 10 ms of erasure


def _clamp(value):
    if value > 32767:
        return 32767
    if value < -32768:
        return -32768
    return value


def find_pitch(history):
    """Pitch period in samples (PITCH_MIN..PITCH_MAX) of the end of `history` (list of ints).

    Compares the last CORRELATION_LEN samples with the same span `period` samples earlier and
    picks the period with the best correlation normalised by the earlier span's energy: a coarse
    search on every second sample and period, then the neighbours at full resolution. An odd
    period may come out doubled (its multiple matches better on the even grid), which loops just
    as seamlessly.
    """
    end = len(history)
    recent = history[end - CORRELATION_LEN : end]
    recent_even = recent[0::2]

    def score(period, step):
        start = end - CORRELATION_LEN - period
        earlier = history[start : start + CORRELATION_LEN : step]
        energy = _dot(earlier, earlier)
        if energy < MIN_POWER:
            energy = MIN_POWER
        return _dot(earlier, recent_even if step == 2 else recent) / math.sqrt(energy)

    best_period = PITCH_MAX
    best = score(PITCH_MAX, 2)
    for period in range(PITCH_MAX - 2, PITCH_MIN - 1, -2):
        s = score(period, 2)
        if s >= best:  # ties go to the shorter period
            best, best_period = s, period
    coarse = best_period
    best_period = min(coarse + 1, PITCH_MAX)
    best = score(best_period, 1)
    for period in range(best_period - 1, max(coarse - 1, PITCH_MIN) - 1, -1):
        s = score(period, 1)
        if s > best:
            best, best_period = s, period
    return best_period


def _gain(erased):
    """Level of the synthetic signal `erased` samples into an erasure."""
    if erased < FADE_START:
        return 1.0
    g = 1.0 - (erased - FADE_START) / FADE_LEN
    return g if g > 0.0 else 0.0


class Concealer:
    """G.711 Appendix I style concealment for one stream (see the module docstring)."""

    def __init__(self):
        self.reset()

    def reset(self):
        self._history = bytes(2 * HISTORY)  # PCM of the last HISTORY samples, not yet delayed
        self._erased = 0  # samples concealed in the current erasure
        self._pitch = PITCH_MAX
        self._overlap = 0
        self._loop = None  # the pitch buffer: history samples, end blended for looping
        self._original_tail = None
        self._span = 0  # how many samples at the end of _loop are played in a loop
        self._pos = 0  # position in that loop

    def _push(self, pcm):
        """Append to the history and return the same amount of audio, OVERLAP_MAX late."""
        history = self._history  # always 2 * HISTORY bytes
        n = len(pcm)
        if 2 * OVERLAP_MAX <= n <= 2 * HISTORY:
            # The same bytes as the general case below, with one copy less of each.
            self._history = history[n:] + pcm
            return history[-2 * OVERLAP_MAX :] + pcm[: n - 2 * OVERLAP_MAX]
        out = (history[-2 * OVERLAP_MAX :] + pcm)[:n]
        self._history = (history + pcm)[-2 * HISTORY :]
        return out

    def _blend_tail(self):
        """Cross-fade the original last quarter period into the samples one loop span earlier."""
        loop = self._loop
        n = self._overlap
        end = len(loop)
        earlier = end - self._span - n
        tail = self._original_tail
        for i in range(n):
            t = (i + 1) / n
            loop[end - n + i] = int((1.0 - t) * tail[i] + t * loop[earlier + i])

    def _begin(self):
        history = list(pcm_to_samples(self._history))
        self._pitch = find_pitch(history)
        self._overlap = self._pitch >> 2
        self._loop = history
        self._original_tail = history[-self._overlap :]
        self._span = self._pitch
        self._pos = 0
        self._blend_tail()
        # The blended tail has not been played yet (it is inside the output delay): use it.
        self._history = samples_to_pcm(history)

    def _read(self, n):
        loop = self._loop
        base = len(loop) - self._span
        out = []
        for _ in range(n):
            out.append(loop[base + self._pos])
            self._pos += 1
            if self._pos == self._span:
                self._pos = 0
        return out

    def _widen(self):
        """Loop over one more pitch period, cross-fading from the old loop to the new."""
        n = self._overlap
        saved = self._pos
        old = self._read(n)
        self._pos = saved
        while self._pos >= self._pitch:
            self._pos -= self._pitch
        self._span += self._pitch
        self._blend_tail()
        new = self._read(n)
        for i in range(n):
            t = (i + 1) / (n + 1)
            new[i] = int((1.0 - t) * old[i] + t * new[i])
        return new

    def conceal(self, samples):
        """`samples` samples of concealment (bytes)."""
        if self._erased == 0:
            self._begin()
        out = []
        while len(out) < samples:
            erased = self._erased
            if erased >= FADE_START + FADE_LEN:
                rest = samples - len(out)
                out.extend([0] * rest)
                self._erased += rest
                break
            if erased in (UNIT, 2 * UNIT) and self._span < 3 * self._pitch:
                chunk = self._widen()[: samples - len(out)]
            else:
                boundary = (
                    UNIT if erased < UNIT else 2 * UNIT if erased < 2 * UNIT else erased + samples
                )
                chunk = self._read(min(samples - len(out), boundary - erased))
            for i in range(len(chunk)):
                chunk[i] = _clamp(int(chunk[i] * _gain(erased + i)))
            out.extend(chunk)
            self._erased += len(chunk)
        return self._push(samples_to_pcm(out))

    def good(self, pcm, splice=False):
        """Play a received frame (bytes); returns as many bytes, OVERLAP_MAX samples late."""
        if self._erased == 0 and splice and len(pcm) >= 2:
            self._begin()
            self._erased = 1
        if self._erased:
            units = (self._erased + UNIT - 1) // UNIT
            n = self._overlap + (units - 1) * END_OVERLAP_STEP
            if n > UNIT:
                n = UNIT
            real = pcm_to_samples(pcm)
            if n > len(real):
                n = len(real)
            synthetic = self._read(n)
            for i in range(n):
                t = (i + 1) / (n + 1)
                g = _gain(self._erased + i)
                real[i] = _clamp(int((1.0 - t) * g * synthetic[i] + t * real[i]))
            pcm = samples_to_pcm(real)
            self._erased = 0
        return self._push(pcm)
