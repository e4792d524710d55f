"""Jitter buffer scenarios: a sender every 20 ms, a network (delays as a table or a function),
and the audio pump pulling every 20 ms. Payloads are the packet numbers, so the order of what is
played can be checked exactly."""

from firmware.core import jitter
from firmware.core.jitter import CONCEAL, FRAME, IDLE, SPLICE, JitterBuffer
from tests.core.support import FakeRandom

FRAME_MS = 20
BASE_TS = 1000000


def simulate(arrivals, end_ms, jb=None, pull_phase_ms=7):
    """arrivals: [(arrival_ms, timestamp, number)]. Returns (jb, played, trace) where played is
    the numbers in the order they were played and trace is [(now_ms, kind, number or None)]."""
    jb = jb or JitterBuffer()
    arrivals = sorted(arrivals, key=lambda a: a[0])
    i = 0
    played = []
    trace = []
    now = pull_phase_ms
    while now <= end_ms:
        while i < len(arrivals) and arrivals[i][0] <= now:
            arrival, ts, number = arrivals[i]
            jb.put(ts & 0xFFFFFFFF, number, arrival, 160)
            i += 1
        kind, payload, _samples = jb.get(now)
        if kind in (FRAME, SPLICE):
            played.append(payload)
        trace.append((now, kind, payload))
        now += FRAME_MS
    return jb, played, trace


def stream(count, delay_ms=5, start_ms=1000, first=0, base_ts=BASE_TS):
    """Packets first.. sent every 20 ms, each taking delay_ms(n) ms (or a constant)."""
    out = []
    for n in range(first, first + count):
        delay = delay_ms(n) if callable(delay_ms) else delay_ms
        if delay is not None:
            out.append((start_ms + FRAME_MS * n + delay, base_ts + 160 * n, n))
    return out


def _conceals_between(trace, first_number, last_number):
    """CONCEAL results between playing first_number and last_number."""
    start = end = None
    for i, (_now, _kind, number) in enumerate(trace):
        if number == first_number and start is None:
            start = i
        if number == last_number:
            end = i
    return sum(1 for _n, kind, _p in trace[start:end] if kind == CONCEAL)


def _without(*gone):
    return [n for n in range(400) if n not in gone]


LOST = (100, 101, 102, 103, 104, 300)


def _lossy(n):
    return None if n in LOST else 5


def _freeze(n):
    return 5 + (210 - n) * FRAME_MS if 200 <= n < 210 else 5  # 200..209 come with 210


def _scenarios():
    restarted = stream(200) + stream(200, first=200, base_ts=BASE_TS + 123456789)
    return [
        # name, arrivals, played in this order, late + duplicates, concealed, skipped at most
        ("steady", stream(400), _without(), 0, 0, 0),
        ("odd ones overtake", stream(400, lambda n: 15 if n % 2 == 0 else 0), _without(), 0, 0, 0),
        ("5 lost in a row, 1", stream(400, _lossy), _without(*LOST), 0, 6, 0),
        ("all sent twice", stream(400) + stream(400, 9), _without(), 400, 0, 0),
        ("one 300 ms late", stream(400, lambda n: 300 if n == 100 else 5), _without(100), 1, 1, 0),
        ("200 ms freeze, burst", stream(400, _freeze), _without(), 0, 8, 4),
        ("timestamp wraps", stream(400, base_ts=(1 << 32) - 160 * 100), _without(), 0, 0, 0),
        ("stray packet", stream(400) + [(4009, 777, 9999)], _without(), 0, 0, 0),
        ("clock restart", restarted, _without(199), 0, None, 0),
    ]


def test_scenarios():
    for name, arrivals, order, dropped, concealed, skips in _scenarios():
        jb, played, trace = simulate(arrivals, max(a[0] for a in arrivals) + 400)
        assert sorted(played) == played and len(set(played)) == len(played), name
        missing = [n for n in order if n not in played]
        assert len(missing) <= jb.skipped <= skips and set(played) <= set(order), (name, missing)
        assert jb.late + jb.duplicates == dropped, (name, jb.late, jb.duplicates)
        if concealed is not None:
            assert _conceals_between(trace, order[0], order[-1]) == concealed, name
        assert jb.overflow == 0, name


def test_steady_stream_starts_at_about_40_ms_and_keeps_time():
    jb, _, trace = simulate(stream(500), 1000 + 20 * 520)
    first_play = next(now for now, _kind, n in trace if n == 0)
    assert 40 <= first_play - (1000 + 5) < 60  # starts about 40 ms after the first packet
    at = {n: now for now, kind, n in trace if kind in (FRAME, SPLICE)}
    assert at[499] - at[0] == 499 * FRAME_MS and jb.target_ms == 40


def test_loss_is_concealed_in_place_without_moving_the_clock():
    lost = set(range(100, 105))
    _, _, trace = simulate(stream(400, lambda n: None if n in lost else 5), 1000 + 20 * 420)
    at = {n: now for now, kind, n in trace if kind in (FRAME, SPLICE)}
    assert at[105] - at[99] == 6 * FRAME_MS and at[399] - at[0] == 399 * FRAME_MS


def test_a_200_ms_spike_grows_the_delay_then_it_shrinks_when_calm():
    # The network freezes for 200 ms: packets 200..209 arrive together with packet 210.
    def delay(n):
        return 5 + (210 - n) * FRAME_MS if 200 <= n < 210 else 5

    jb, played, trace = simulate(stream(1600, delay), 1000 + 20 * 1620)
    assert played[:200] == list(range(200))
    assert jb.late == 0 and jb.lost == 0  # the freeze was waited out, nothing thrown away
    assert sorted(played) == played and len(played) >= 1600 - jb.skipped
    assert jb.skipped >= 5  # ... and the extra delay was given back afterwards
    at = {n: now for now, kind, n in trace if kind in (FRAME, SPLICE)}
    assert at[1599] - (1000 + 20 * 1599 + 5) < 100
    assert jb.target_ms < 100


def test_target_follows_the_measured_jitter():
    rng = FakeRandom(11)
    jb, played, _ = simulate(stream(3000, lambda n: rng.getrandbits(16) * 80 // 65536), 62000)
    assert sorted(played) == played
    assert jb.late <= 30  # at most 1 % too late
    assert 60 <= jb.target_ms <= 120
    calm = JitterBuffer()
    simulate(stream(3000, 5), 62000, calm)
    assert calm.target_ms == 40


def test_recurring_late_packets_raise_the_delay_instead_of_being_lost_each_time():
    # Every tenth packet is 60 ms late: the first one is lost, then the delay grows to cover it.
    jb, played, _ = simulate(stream(1000, lambda n: 65 if n % 10 == 5 else 5), 1000 + 20 * 1020)
    assert jb.late <= 2 and jb.stretched >= 1
    assert 60 <= jb.target_ms <= 80
    assert played[-500:] == list(range(500, 1000))


def test_a_restarted_timeline_resyncs_after_two_packets():
    arrivals = stream(250) + stream(250, first=250, base_ts=BASE_TS + 123456789)
    jb, played, _ = simulate(arrivals, 1000 + 20 * 520)
    assert jb.resyncs == 1
    assert played[:249] == list(range(249)) and played[-250:] == list(range(250, 500))
    jb2, _, _ = simulate(stream(300) + [(1000 + 20 * 150 + 9, 777, 9999)], 1000 + 20 * 320)
    assert jb2.resyncs == 0  # one stray packet does not flush the buffer


def test_reset_for_a_new_source():
    jb, _, _ = simulate(stream(100), 1000 + 20 * 110)
    jb.reset()
    jb, played2, _ = simulate(stream(100, start_ms=4000, base_ts=5), 4000 + 20 * 110, jb)
    assert played2 == list(range(100))


def _drift_run(sender_ms_per_frame, packets):
    arrivals = [
        (1000 + int(n * sender_ms_per_frame) + 5, BASE_TS + 160 * n, n) for n in range(packets)
    ]
    jb = JitterBuffer()
    now = 7
    peak = 0
    played = []
    i = 0
    end = arrivals[-1][0]
    while now < end:
        while i < len(arrivals) and arrivals[i][0] <= now:
            jb.put(arrivals[i][1], arrivals[i][2], arrivals[i][0], 160)
            i += 1
        kind, payload, _ = jb.get(now)
        if kind in (FRAME, SPLICE):
            played.append(payload)
        if jb.buffered_ms() > peak:
            peak = jb.buffered_ms()
        now += FRAME_MS
    return jb, played, peak


def test_clock_drift_of_one_percent_stays_bounded():
    packets = 9000  # three minutes: 1.8 s of drift if nothing were done
    fast, played, peak = _drift_run(19.8, packets)  # the peer's clock is 1 % fast
    assert peak <= 100, peak
    assert 60 <= fast.skipped <= 120, fast.skipped  # ~90 frames had to go
    assert sorted(played) == played and fast.late == 0
    slow, played, peak = _drift_run(20.2, packets)  # 1 % slow
    assert peak <= 100, peak
    assert 60 <= slow.stretched + slow.underruns <= 120
    assert played == list(range(len(played))) and len(played) >= packets - 5  # nothing dropped


def test_silence_between_talkspurts():
    # 100 packets, 3 s without packets (the timestamp runs on), 100 more.
    arrivals = stream(100) + stream(100, first=250)
    _, played, trace = simulate(arrivals, 1000 + 20 * 360)
    assert played == list(range(100)) + list(range(250, 350))
    assert _conceals_between(trace, 99, 250) <= 300 // FRAME_MS  # then idle, not concealment
    assert any(kind == IDLE for _now, kind, _n in trace[120:240])
    first = next(now for now, _kind, n in trace if n == 250)
    assert first - (1000 + 20 * 250 + 5) < 80  # resumes at about the playout delay


def test_the_buffer_is_bounded_when_nobody_pulls():
    jb = JitterBuffer(max_delay_ms=300)
    for n in range(500):
        jb.put(BASE_TS + 160 * n, n, 1000 + 20 * n, 160)
    assert jb.buffered_ms() <= 300 + 2 * JitterBuffer.ADJUST_MS
    assert jb.overflow > 0
    kind, payload, _ = jb.get(1000 + 20 * 500)
    assert kind in (FRAME, SPLICE) and payload == 500 - len(jb._frames) - 1


def test_put_results():
    jb = JitterBuffer()
    assert jb.put(100, b"x" * 160, 0) == jitter.PUT_OK
    assert jb.put(100, b"x" * 160, 1) == jitter.PUT_DUPLICATE
    assert jb.put(260, b"", 2) == jitter.PUT_EMPTY
    assert jb.put(100 + 8000 * 100, b"x" * 160, 20) == jitter.PUT_HELD
    assert jb.get(200)[0] == FRAME
    assert jb.put(100, b"x" * 160, 201) == jitter.PUT_LATE


def test_playout_delay_is_centred_on_the_target_whatever_the_tick_phase():
    # The pump pulls every 20 ms at some phase to the arrivals: the buffer starts at the tick
    # nearest its target, so the delay is within half a frame of it (on average the target),
    # not up to a whole frame above it.
    delays = []
    for phase in range(FRAME_MS):
        jb = JitterBuffer(min_delay_ms=20)
        simulate(stream(100), 2999, jb, pull_phase_ms=phase)
        delays.append(jb.delay_ms(3000 + phase))  # at the next pull, before it plays
    assert min(delays) >= 10 and max(delays) < 30, delays
    assert abs(sum(delays) / len(delays) - 20) <= 1, delays
    # The same when the first two packets are handed over together (RTP source probation).
    for phase in range(FRAME_MS):
        jb = JitterBuffer(min_delay_ms=20)
        first = stream(2)
        together = [(first[1][0], ts, n) for _, ts, n in first]
        simulate(together + stream(98, first=2), 2999, jb, pull_phase_ms=phase)
        assert 10 <= jb.delay_ms(3000 + phase) < 30, (phase, jb.delay_ms(3000 + phase))
