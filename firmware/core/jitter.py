"""Adaptive jitter buffer for one audio stream (codec-agnostic, keyed by RTP timestamp).

Model. Every packet has a *transit* time: arrival time minus its RTP timestamp, both in samples.
The smallest transit over the last one to two seconds is the path's base delay; a packet's
*relative delay* is how much later than that it came. The buffer plays the timestamp
``play_ts`` at a moment when the fastest packets have waited ``delay`` ms:

    delay = now - play_ts - min_transit          (in ms)

and keeps ``delay`` near a target that follows the peak relative delay (plus half a frame),
between ``min_delay_ms`` (the start, 40 ms) and ``max_delay_ms``. The peak is the second largest
relative delay seen (one stray packet is not jitter), and it decays with a time constant of
``calm_ms``: the target grows at once on a spike and shrinks when the path calms. Late packets
count too: they are the evidence.

- Too much delay (target + one frame): one frame is dropped (``skipped``), at most one
  adjustment per ``ADJUST_MS``. Clock drift of a faster sender ends up here, so the buffer stays
  bounded.
- Too little (target - one frame): one frame of concealment is inserted without moving
  ``play_ts`` (``stretched``), same rate limit. An empty buffer does the same (``underruns``):
  the stream slides later, as it must when the sender is slower or the path got slower. After
  ``UNDERRUN_IDLE_MS`` without audio the buffer goes idle and buffers afresh.
- A missing frame with later ones present is concealed and skipped (``lost``), unless the later
  ones have already waited the target: then ``play_ts`` jumps to them (end of a silence).
- Packets behind ``play_ts`` are ``late``, repeats are ``duplicates``; a packet whose transit
  is more than ``RESYNC_MS`` off (the sender restarted its clock) is held, and a second one that
  agrees with it flushes the buffer and restarts it on the new timeline (``resyncs``).
- 32-bit timestamp wrap is unwrapped to an unbounded "extended" timestamp.

``get(now_ms)`` returns ``(kind, payload, samples)``: ``FRAME`` with the payload to decode,
``CONCEAL`` for `samples` of concealment, ``IDLE`` while nothing is being played (silence). A
``FRAME`` right after a skipped frame has ``kind == SPLICE`` so the caller can smooth the seam.
"""

FRAME = "frame"
SPLICE = "splice"
CONCEAL = "conceal"
IDLE = "idle"

PUT_OK = "ok"
PUT_LATE = "late"
PUT_DUPLICATE = "duplicate"
PUT_HELD = "held"
PUT_RESYNC = "resync"
PUT_EMPTY = "empty"


class JitterBuffer:
    RESYNC_MS = 1000  # a transit this far off means a new timeline, not jitter
    WINDOW_MS = 1000  # base delay = min transit over the last one to two windows
    ADJUST_MS = 200  # at most one skip or stretch this often
    UNDERRUN_IDLE_MS = 300  # after this long with nothing to play, go idle and rebuffer

    def __init__(
        self, clock_rate=8000, min_delay_ms=40, max_delay_ms=300, calm_ms=8000, frame_samples=160
    ):
        if not 0 < min_delay_ms <= max_delay_ms:
            raise ValueError("need 0 < min_delay_ms <= max_delay_ms")
        self.rate = clock_rate // 1000  # samples per ms
        self.min_delay_ms = min_delay_ms
        self.max_delay_ms = max_delay_ms
        self.calm_ms = calm_ms
        self.frame_samples = frame_samples  # duration of the newest packet, used to conceal
        self.capacity = (max_delay_ms + 2 * self.ADJUST_MS) * self.rate  # samples buffered at most
        # counters
        self.received = 0
        self.late = 0
        self.duplicates = 0
        self.lost = 0
        self.skipped = 0
        self.stretched = 0
        self.underruns = 0
        self.overflow = 0
        self.resyncs = 0
        self.concealed_samples = 0
        self.reset()

    def reset(self):
        """Forget everything (a new source): the next packet starts buffering afresh."""
        self._frames = []  # [ext_ts, samples, payload], sorted by ext_ts
        # Numbers that are undefined until something happened carry a flag instead of None, so
        # that they can be machine integers where the core is compiled.
        self.playing = False  # False: idle
        self.play_ts = 0  # extended timestamp of the next sample to play
        self._played = False
        self._played_until = 0  # play_ts survives idling here: older packets are late
        self._measured = False  # a packet has been measured since the reset: these are valid
        self._last_ext = 0  # the newest extended timestamp
        self._base = 0  # the path's base delay: the smaller of the windows' min transits
        self._peak_at_ms = 0
        self._win_start_ms = 0
        self._win_empty = True
        self._win_min = 0  # min transit in the current window
        self._prev_empty = True
        self._prev_min = 0  # ... and in the previous one
        self._peak_ms = 0.0
        self._second_ms = 0.0
        self.target_ms = float(self.min_delay_ms)
        self._pending = None  # [ext_ts, samples, payload, transit, now_ms] off the timeline
        self._next_adjust_ms = 0  # set when playing starts
        self._underrun_samples = 0
        self._spliced = False

    # -- input -------------------------------------------------------------------------------

    def put(self, timestamp, payload, now_ms, samples=-1):
        """Add a packet's payload (`samples` defaults to len(payload), right for G.711)."""
        if samples < 0:
            samples = len(payload)
        if samples <= 0:
            return PUT_EMPTY
        if self._measured:  # unwrap the 32-bit timestamp next to the newest one
            delta = (timestamp - self._last_ext) & 0xFFFFFFFF
            if delta >= 0x80000000:
                delta -= 0x100000000
            ext = self._last_ext + delta
        else:
            ext = self._last_ext = timestamp
        transit = now_ms * self.rate - ext
        if self._measured:
            relative = transit - self._base
            limit = self.RESYNC_MS * self.rate
            if relative > limit or relative < -limit:
                return self._off_timeline(ext, samples, payload, transit, now_ms)
        self._pending = None
        self._measure(transit, now_ms)  # late packets too: they are the evidence of jitter
        if self._played and ext < self._played_until:
            self.late += 1
            return PUT_LATE
        return self._store(ext, samples, payload)

    def _off_timeline(self, ext, samples, payload, transit, now_ms):
        """A packet far off the timeline: held, or with the held one a new timeline."""
        pending = self._pending
        if pending is None or abs(transit - pending[3]) > self.RESYNC_MS * self.rate:
            self._pending = [ext, samples, payload, transit, now_ms]
            return PUT_HELD
        self.resyncs += 1
        self.reset()
        self._last_ext = ext
        self._measure(pending[3], pending[4])
        self._store(pending[0], pending[1], pending[2])
        self._measure(transit, now_ms)
        self._store(ext, samples, payload)
        return PUT_RESYNC

    def _measure(self, transit, now_ms):
        """Note a packet's transit against the min transit before it."""
        # The two largest relative delays seen, both fading with calm_ms: the target follows
        # the second, so one stray packet does not move it but a spike (a burst of late
        # packets) or recurring jitter does.
        if self._measured:
            relative_ms = (transit - self._base) / self.rate
            elapsed = now_ms - self._peak_at_ms
            if elapsed > 0:
                fade = self.calm_ms / (elapsed + self.calm_ms)
                self._peak_ms *= fade
                self._second_ms *= fade
        else:
            relative_ms = 0.0
        self._peak_at_ms = now_ms
        if relative_ms > self._peak_ms:
            self._second_ms = self._peak_ms
            self._peak_ms = relative_ms
        elif relative_ms > self._second_ms:
            self._second_ms = relative_ms
        target = self._second_ms + self.frame_samples / (2 * self.rate)
        if target < self.min_delay_ms:
            target = self.min_delay_ms
        elif target > self.max_delay_ms:
            target = self.max_delay_ms
        self.target_ms = target
        # The min transit of the current window and of the previous one.
        if not self._measured or now_ms - self._win_start_ms >= 2 * self.WINDOW_MS:
            self._prev_empty = True
            self._win_empty = True
            self._win_start_ms = now_ms
        elif now_ms - self._win_start_ms >= self.WINDOW_MS:
            self._prev_min = self._win_min
            self._prev_empty = self._win_empty
            self._win_empty = True
            self._win_start_ms = now_ms
        if self._win_empty or transit < self._win_min:
            self._win_min = transit
            self._win_empty = False
        if self._prev_empty or self._win_min < self._prev_min:
            self._base = self._win_min
        else:
            self._base = self._prev_min
        self._measured = True

    def _store(self, ext, samples, payload):
        frames = self._frames
        i = len(frames)
        while i > 0 and frames[i - 1][0] > ext:
            i -= 1
        if i > 0 and frames[i - 1][0] == ext:
            self.duplicates += 1
            return PUT_DUPLICATE
        if ext > self._last_ext:  # put() set it at the first packet since the reset
            self._last_ext = ext
        frames.insert(i, [ext, samples, payload])
        self.received += 1
        self.frame_samples = samples
        # Bounded: beyond the capacity the oldest audio goes (it could not be played in time).
        start = self.play_ts if self.playing else frames[0][0]
        while frames and frames[-1][0] + frames[-1][1] - start > self.capacity:
            dropped = frames.pop(0)
            self.overflow += 1
            start = frames[0][0] if frames else dropped[0] + dropped[1]
            if self.playing:
                self.play_ts = self._played_until = start
                self._played = True
        return PUT_OK

    # -- output ------------------------------------------------------------------------------

    def delay_ms(self, now_ms):
        """How long the fastest packets wait before being played (None while idle)."""
        if not self.playing or not self._measured:
            return None
        return (now_ms * self.rate - self.play_ts - self._base) / self.rate

    def buffered_ms(self):
        """Audio held, from the play position to the end of the newest packet."""
        if not self._frames:
            return 0
        start = self.play_ts if self.playing else self._frames[0][0]
        return (self._frames[-1][0] + self._frames[-1][1] - start) / self.rate

    def _conceal(self, samples):
        self._underrun_samples += samples
        self.concealed_samples += samples
        if self._underrun_samples >= self.UNDERRUN_IDLE_MS * self.rate:
            self.playing = False  # the peer went quiet: rebuffer when it comes back
            self._underrun_samples = 0
        return (CONCEAL, None, samples)

    def get(self, now_ms):
        """The next thing to play: (FRAME or SPLICE, payload, samples), (CONCEAL, None, n) or
        (IDLE, None, 0)."""
        result = self._next(now_ms)
        if self.playing:
            self._played = True
            self._played_until = self.play_ts
        return result

    def _next(self, now_ms):
        frames = self._frames
        while frames and self._played and frames[0][0] < self._played_until:
            frames.pop(0)  # overlapped by what was played (packets of uneven size)
            self.late += 1
        target = self.target_ms * self.rate
        step = self.frame_samples
        # Packets of timestamp t have waited `now - t` samples (the fastest of them: their transit
        # is the min transit, which every buffered packet has been measured into).
        now = now_ms * self.rate - self._base if frames else 0
        if not self.playing:
            # Start at the tick nearest the target, not the first one after it: ticks come every
            # frame, so this centres the delay on the target instead of half a frame above.
            start = target - step // 2
            if not frames or now - frames[0][0] < start:
                return (IDLE, None, 0)
            # Packets released together (RTP source probation holds the first one back) make
            # the oldest wait too long: start with the newest that has waited enough.
            while len(frames) > 1 and now - frames[1][0] >= start:
                frames.pop(0)
                self.skipped += 1
            self.playing = True
            self.play_ts = frames[0][0]
            self._next_adjust_ms = now_ms + self.ADJUST_MS
        if not frames:
            self.underruns += 1
            return self._conceal(step)
        head = frames[0]
        if head[0] > self.play_ts:
            gap = head[0] - self.play_ts
            if now - head[0] < target:
                if gap > step:
                    gap = step
                self.play_ts += gap
                self.lost += 1
                return self._conceal(gap)
            self.play_ts = head[0]  # the gap was a silence, or it is too late to fill it
            self._spliced = True
        elif now_ms >= self._next_adjust_ms:
            waited = now - self.play_ts
            if waited >= target + step and len(frames) > 1:
                frames.pop(0)
                self.play_ts = head[0] + head[1]
                self.skipped += 1
                self._next_adjust_ms = now_ms + self.ADJUST_MS
                self._spliced = True
                return self._next(now_ms)
            if waited + step <= target:
                self.stretched += 1
                self._next_adjust_ms = now_ms + self.ADJUST_MS
                return self._conceal(step)
        frames.pop(0)
        self.play_ts = head[0] + head[1]
        self._underrun_samples = 0
        kind = SPLICE if self._spliced else FRAME
        self._spliced = False
        return (kind, head[2], head[1])
