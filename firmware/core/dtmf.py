"""DTMF: RFC 4733 telephone events, SIP INFO bodies, in-band detection and generation.

Digits are the characters of ``DIGITS`` ("0".."9", "*", "#", "A".."D"). Three ways in, one out:

- ``Rfc4733Receiver.receive(timestamp, payload)``: a digit when a new event starts, None for the
  updates, end packets and retransmissions of an event already seen (events are told apart by
  RTP timestamp, RFC 4733 section 2.5.2). A press whose first packets were lost still counts.
- ``parse_info(content_type, body)``: ``(digit, duration_ms or None)`` from a SIP INFO body of
  type ``application/dtmf-relay`` (``Signal=5\\r\\nDuration=160``) or ``application/dtmf``.
- ``DtmfDetector.feed(pcm)``: digits heard in decoded audio (see the class docstring).
- ``DtmfMerger.accept(digit, source, now_ms)``: one digit stream: a digit that another source
  already reported within ``window_ms`` is the same key press signalled twice and is dropped.

And out: ``Rfc4733Sender`` (event packets with the marker bit on the first, the growing duration
and the end packet sent three times, all at the event's start timestamp) and ``InbandSender``
(the tone pairs themselves, for peers without telephone-event). ``TelephoneEvent`` is the 4-byte
payload. Bad network input raises ``DtmfError`` (a ValueError with a ``reason``).
"""

import math

from firmware.core import tones
from firmware.core.pcm import AUDIOOP as _AUDIOOP
from firmware.core.pcm import dot as _dot
from firmware.core.pcm import pcm_to_samples, samples_to_pcm

DIGITS = "0123456789*#ABCD"  # index = RFC 4733 event code
LOW_HZ = (697, 770, 852, 941)
HIGH_HZ = (1209, 1336, 1477, 1633)
KEYPAD = ("123A", "456B", "789C", "*0#D")  # rows: LOW_HZ, columns: HIGH_HZ

SOURCE_RFC4733 = "rfc4733"
SOURCE_INFO = "info"
SOURCE_INBAND = "inband"


class DtmfError(ValueError):
    """Bad DTMF signalling from the network; ``reason`` says why in a fixed phrase."""

    def __init__(self, reason, detail=""):
        super().__init__(reason + (": " + detail if detail else ""))
        self.reason = reason


def event_code(digit):
    """RFC 4733 event code of a digit; ValueError for anything else."""
    i = DIGITS.find(str(digit).upper()) if len(str(digit)) == 1 else -1
    if i < 0:
        raise ValueError("not a DTMF digit: %r" % (digit,))
    return i


def _keypad_tones(digit):
    for row in range(4):
        col = KEYPAD[row].find(digit)
        if col >= 0:
            return LOW_HZ[row], HIGH_HZ[col]
    raise ValueError("not a DTMF digit: %r" % (digit,))


# -- RFC 4733 ------------------------------------------------------------------------------------


class TelephoneEvent:
    """The RFC 4733 payload: event code, end bit, volume (-dBm0) and duration (timestamp units)."""

    def __init__(self, event, end=False, volume=10, duration=0):
        self.event = event
        self.end = end
        self.volume = volume
        self.duration = duration

    def __repr__(self):
        return "TelephoneEvent(%d, end=%s, volume=%d, duration=%d)" % (
            self.event,
            self.end,
            self.volume,
            self.duration,
        )

    def __eq__(self, other):
        return isinstance(other, TelephoneEvent) and self.__dict__ == other.__dict__

    @property
    def digit(self):
        """The DTMF digit, or None for other events (flash, tones of RFC 4734)."""
        return DIGITS[self.event] if self.event < 16 else None

    @classmethod
    def parse(cls, payload):
        if len(payload) < 4:
            raise DtmfError("truncated event", "%d bytes, need 4" % len(payload))
        return cls(
            payload[0],
            bool(payload[1] & 0x80),
            payload[1] & 0x3F,
            (payload[2] << 8) | payload[3],
        )

    def serialize(self):
        if not (0 <= self.event <= 255 and 0 <= self.volume <= 63 and 0 <= self.duration <= 0xFFFF):
            raise ValueError("telephone event field out of range: %r" % (self,))
        return bytes(
            [
                self.event,
                (0x80 if self.end else 0) | self.volume,
                self.duration >> 8,
                self.duration & 0xFF,
            ]
        )


def _ts_diff(a, b):
    """a - b for 32-bit RTP timestamps, as a signed number."""
    d = (a - b) & 0xFFFFFFFF
    return d - 0x100000000 if d >= 0x80000000 else d


class Rfc4733Receiver:
    """Turns telephone-event packets into one digit per key press (see the module docstring)."""

    RECENT = 8  # events remembered to recognise late retransmissions
    SEGMENT_SLACK = 1000  # timestamp units: a full segment ends within a frame or so of 0xFFFF
    STRAY_WINDOW = 4 * 8000  # older packets than the newest event up to 4 s back are strays

    def __init__(self):
        self._recent = []  # [timestamp, event, end, duration], newest last

    def receive(self, timestamp, payload):
        """The digit of a newly started event, else None. Raises DtmfError for a bad payload."""
        event = TelephoneEvent.parse(payload)
        if event.digit is None:
            return None
        recent = self._recent
        for entry in recent:
            if entry[0] == timestamp and entry[1] == event.event:
                entry[2] = entry[2] or event.end  # update, end or retransmission
                if event.duration > entry[3]:
                    entry[3] = event.duration
                return None
        if recent:
            last = recent[-1]
            age = _ts_diff(timestamp, last[0])
            if -self.STRAY_WINDOW < age < 0:
                return None  # a stray packet of an event older than the newest one
            if (
                last[1] == event.event
                and not last[2]
                and last[3] >= 0xFFFF - self.SEGMENT_SLACK
                and age <= last[3] + self.SEGMENT_SLACK
            ):
                # A long event goes on in a new segment (RFC 4733 section 2.5.1.3): the previous
                # one ran to the maximum duration and this one starts where it ended.
                recent.append([timestamp, event.event, event.end, event.duration])
                del recent[: -self.RECENT]
                return None
        recent.append([timestamp, event.event, event.end, event.duration])
        del recent[: -self.RECENT]
        return event.digit


class Rfc4733Sender:
    """Schedules telephone-event packets for queued digits, one call to ``tick`` per frame.

    ``tick(timestamp, samples)`` is given the media time and length of the frame about to be
    sent. It returns None when no event is being sent (send audio), else a list of
    ``(payload, marker, timestamp)`` to send in place of the audio of that frame.
    """

    def __init__(self, duration_ms=100, gap_ms=60, volume=10, clock_rate=8000):
        self.rate = clock_rate // 1000
        self.duration = duration_ms * self.rate
        self.gap = gap_ms * self.rate
        self.volume = volume
        self._queue = []
        self._code = None
        self._start = 0
        self._elapsed = 0
        self._ends_sent = 0
        self._gap_left = 0

    @property
    def busy(self):
        return bool(self._queue) or self._code is not None

    def queue(self, digits):
        codes = [event_code(d) for d in digits]  # all or nothing: a bad digit raises first
        self._queue.extend(codes)

    def tick(self, timestamp, samples):
        if self._code is None:
            if self._gap_left > 0:
                self._gap_left -= samples
                return None
            if not self._queue:
                return None
            self._code = self._queue.pop(0)
            self._start = timestamp
            self._elapsed = 0
            self._ends_sent = 0
        first = self._elapsed == 0
        if self._ends_sent == 0:
            self._elapsed += samples
            if self._elapsed > 0xFFFF:
                self._elapsed = 0xFFFF
        end = self._elapsed >= self.duration
        payload = TelephoneEvent(self._code, end, self.volume, self._elapsed).serialize()
        if end:
            self._ends_sent += 1
            if self._ends_sent == 3:  # the end packet goes out three times (section 2.5.1.4)
                self._code = None
                self._gap_left = self.gap
        return [(payload, first, self._start)]


class InbandSender:
    """Replaces the captured audio by DTMF tone pairs for peers without telephone-event."""

    LOW_DBM0 = -9  # the high group 2 dB stronger, as telephones send it
    HIGH_DBM0 = -7

    def __init__(self, duration_ms=100, gap_ms=60):
        self.duration = duration_ms * 8
        self.gap = gap_ms * 8
        self._queue = []
        self._components = None
        self._pos = 0

    @property
    def busy(self):
        return bool(self._queue) or self._components is not None

    def queue(self, digits):
        pairs = [_keypad_tones(str(d).upper()) for d in digits]
        self._queue.extend(pairs)

    def tick(self, pcm):
        """The frame to send instead of `pcm` (the same length), or `pcm` itself when idle."""
        samples = len(pcm) >> 1
        if self._components is None:
            if not self._queue:
                return pcm
            low, high = self._queue.pop(0)
            self._components = [(low, self.LOW_DBM0), (high, self.HIGH_DBM0)]
            self._pos = 0
        on = self.duration - self._pos
        if on > samples:
            on = samples
        elif on < 0:
            on = 0
        out = tones.render(self._components, self._pos, on) if on else b""
        self._pos += samples
        if self._pos >= self.duration + self.gap:
            self._components = None
        return out + bytes(2 * (samples - on))


# -- SIP INFO --------------------------------------------------------------------------------------


def _signal_digit(signal):
    s = signal.strip().upper()
    if len(s) == 1 and s in DIGITS:
        return s
    if s.isdigit() and 10 <= int(s) <= 15:
        return DIGITS[int(s)]  # some send the RFC 4733 event code: 10 for *, 11 for #
    raise DtmfError("bad signal", repr(signal))


def parse_info(content_type, body):
    """(digit, duration_ms or None) from a SIP INFO body; raises DtmfError."""
    media_type = content_type.split(";")[0].strip().lower()
    if media_type not in ("application/dtmf-relay", "application/dtmf"):
        raise DtmfError("unsupported content type", media_type)
    if not isinstance(body, str):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeError:
            raise DtmfError("body is not text") from None
    text = body.strip()
    if media_type == "application/dtmf" and "=" not in text:
        return _signal_digit(text), None
    signal = duration = None
    for line in text.replace("\r", "\n").split("\n"):
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.strip().lower()
        if key == "signal":
            signal = value
        elif key == "duration":
            value = value.strip()
            if not value.isdigit():
                raise DtmfError("bad duration", repr(value))
            duration = int(value)
    if signal is None:
        raise DtmfError("no signal", repr(text[:40]))
    return _signal_digit(signal), duration


# -- in-band detection -----------------------------------------------------------------------------


BLOCK = 160  # 20 ms analysis window: 50 Hz resolution separates the 70 Hz spaced tones
HOP = 80  # a new window every 10 ms
REF_AMPLITUDE = 1 << 14


class DtmfDetector:
    """In-band DTMF detection in the spirit of ITU-T Q.24.

    Every 10 ms a 20 ms window of the decoded audio is analysed at the eight DTMF frequencies:
    for each, the power of the single DFT bin at exactly that frequency, which is what the
    Goertzel algorithm computes. Goertzel gets it by a recursion over the samples; here it is the
    equivalent pair of correlations with 16-bit cosine and sine references, because that form
    can be handed to C code on CPython (see below) and stays exact. A window is a hit when

    - the window has the energy of one tone at ``min_level_dbm0`` (-30) and each tone has it;
    - each tone beats the other three of its group by ``REL_PEAK_DB`` (8 dB);
    - twist: the high tone is at most ``NORMAL_TWIST_DB`` weaker and at most
      ``REVERSE_TWIST_DB`` stronger than the low one (9 and 5 dB: Q.24's 8 and 4 dB with a
      margin for the measurement);
    - the two tones carry at least ``TONE_SHARE`` of the window's energy. Speech, even loud or
      whistled vowels, spreads its energy over many harmonics and fails this; a real pair 1.5 %
      off frequency still passes.

    Two hits in a row for the same key (30 ms of tone, so 40 ms tones are always caught) report
    the key once; two windows without it (a 40 ms pause) end the press.

    The correlations and the energy are exact integers; on CPython they are computed by the C
    ``audioop`` (``findfactor`` gives sum(x*r)/sum(r*r) to within an ulp, which times sum(r*r)
    rounds back to the exact integer; ``rms`` is reproduced in the pure path exactly), so the
    fast and the pure path give the same decisions bit for bit.
    """

    REL_PEAK_DB = 8
    NORMAL_TWIST_DB = 9
    REVERSE_TWIST_DB = 5
    TONE_SHARE = 0.45

    def __init__(self, min_level_dbm0=-30, fast=None):
        if fast is None:
            fast = _AUDIOOP is not None
        if fast and _AUDIOOP is None:
            raise ValueError("the fast path needs audioop")
        self.fast = fast
        n = BLOCK
        self._refs = []  # per frequency: (cos samples, sin samples, cos bytes, sin bytes, Rc, Rs)
        for f in LOW_HZ + HIGH_HZ:
            w = 2.0 * math.pi * f / 8000
            c = [round(REF_AMPLITUDE * math.cos(w * i)) for i in range(n)]
            s = [round(REF_AMPLITUDE * math.sin(w * i)) for i in range(n)]
            self._refs.append((c, s, samples_to_pcm(c), samples_to_pcm(s), _dot(c, c), _dot(s, s)))
        # A tone of mean square m gives a bin power of about m * A^2 * N / 2.
        unit = REF_AMPLITUDE * REF_AMPLITUDE * n // 2
        tone_ms = tones.amplitude(min_level_dbm0) ** 2 / 2
        self._min_power = int(tone_ms * unit)
        self._min_rms = int(math.sqrt(tone_ms))
        self._unit = unit
        self._rel_peak = 10.0 ** (self.REL_PEAK_DB / 10.0)
        self._normal_twist = 10.0 ** (-self.NORMAL_TWIST_DB / 10.0)
        self._reverse_twist = 10.0 ** (self.REVERSE_TWIST_DB / 10.0)
        self._tail = b""
        self._candidate = None
        self._hits = 0
        self._misses = 0
        self._current = None

    # The two arithmetic kernels: exact integers on both paths.

    def _rms(self, block, samples):
        if self.fast:
            return _AUDIOOP.rms(block, 2)
        total = _dot(samples, samples)
        return int(math.sqrt(total / len(samples)))

    def _power(self, block, samples, k):
        c, s, cb, sb, rc, rs = self._refs[k]
        if self.fast:
            findfactor = _AUDIOOP.findfactor
            re = round(findfactor(block, cb) * rc)
            im = round(findfactor(block, sb) * rs)
        else:
            re = _dot(samples, c)
            im = _dot(samples, s)
        return re * re + im * im

    def _best(self, block, samples, first):
        powers = [self._power(block, samples, first + k) for k in range(4)]
        best = 0
        for k in range(1, 4):
            if powers[k] > powers[best]:
                best = k
        top = powers[best]
        if top < self._min_power:
            return None, 0
        limit = top / self._rel_peak
        for k in range(4):
            if k != best and powers[k] > limit:
                return None, 0
        return best, top

    def analyse(self, block):
        """The key a 20 ms window (BLOCK samples, bytes) holds, or None."""
        samples = None if self.fast else pcm_to_samples(block)
        rms = self._rms(block, samples)
        if rms < self._min_rms:
            return None
        row, row_power = self._best(block, samples, 0)
        if row is None:
            return None
        col, col_power = self._best(block, samples, 4)
        if col is None:
            return None
        if (
            col_power < row_power * self._normal_twist
            or col_power > row_power * self._reverse_twist
        ):
            return None
        # Tone energy 2P/(A^2 N) against the window's energy N*rms^2.
        if row_power + col_power < self.TONE_SHARE * self._unit * BLOCK * rms * rms:
            return None
        return KEYPAD[row][col]

    def feed(self, pcm):
        """Digits whose key press starts in this audio (bytes, S16LE)."""
        data = self._tail + pcm
        found = []
        start = 0
        while len(data) - start >= 2 * BLOCK:
            key = self.analyse(data[start : start + 2 * BLOCK])
            start += 2 * HOP
            if key is None:
                self._candidate = None
                self._hits = 0
                self._misses += 1
                if self._misses >= 2:
                    self._current = None  # a pause: the same key may come again
                continue
            self._misses = 0
            if key == self._candidate:
                self._hits += 1
            else:
                self._candidate = key
                self._hits = 1
            if self._hits >= 2 and key != self._current:
                self._current = key
                found.append(key)
        self._tail = data[start:]
        return found

    def reset(self):
        self._tail = b""
        self._candidate = None
        self._hits = self._misses = 0
        self._current = None


# -- one digit stream ------------------------------------------------------------------------------


class DtmfMerger:
    """Deduplicates key presses reported by several sources (see the module docstring)."""

    LIMIT = 32  # presses remembered at most (a flood of events cannot grow the list)

    def __init__(self, window_ms=1000):
        self.window_ms = window_ms
        self._recent = []  # [digit, [sources], time_ms], oldest first

    def accept(self, digit, source, now_ms):
        """True if this is a new key press, False if another source already reported it."""
        recent = [e for e in self._recent if now_ms - e[2] <= self.window_ms]
        self._recent = recent
        for entry in recent:
            if entry[0] == digit and source not in entry[1]:
                entry[1].append(source)
                return False
        recent.append([digit, [source], now_ms])
        del recent[: -self.LIMIT]
        return True
