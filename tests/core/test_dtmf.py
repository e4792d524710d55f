"""DTMF: RFC 4733 streams (baresip capture and tables), SIP INFO, in-band detection, merging."""

import struct

from firmware.core import dtmf, g711, tones, wav
from firmware.core.dtmf import DtmfDetector, DtmfError, Rfc4733Receiver, TelephoneEvent
from firmware.core.rtp import RtpPacket
from tests.core.support import raises, read_data

SPEECH = ("speech_en", "speech_en_f", "speech_de", "speech_digits")


def baresip_packets():
    """(arrival_us, RtpPacket) of the captured door -> flat stream while it sent '5' and '#'."""
    data = read_data("media/baresip/rtp_dtmf_5_hash.seq")
    out = []
    i = 0
    while i < len(data):
        us, n = struct.unpack_from("!IH", data, i)
        out.append((us, RtpPacket.parse(data[i + 6 : i + 6 + n])))
        i += 6 + n
    return out


def ev(ts, code, end=False, duration=160):
    return (ts, TelephoneEvent(code, end, 10, duration).serialize())


def test_telephone_event_payload():
    assert TelephoneEvent.parse(b"\x05\x0a\x00\xa0") == TelephoneEvent(5, False, 10, 160)
    assert TelephoneEvent.parse(b"\x0b\x8a\x05\xa0") == TelephoneEvent(11, True, 10, 1440)
    assert TelephoneEvent(11, True, 10, 1440).serialize() == b"\x0b\x8a\x05\xa0"
    assert TelephoneEvent(11).digit == "#" and TelephoneEvent(16).digit is None
    assert raises(DtmfError, TelephoneEvent.parse, b"\x05\x0a\x00").reason == "truncated event"
    raises(ValueError, TelephoneEvent(5, False, 64, 0).serialize)
    raises(ValueError, TelephoneEvent(5, False, 10, 1 << 16).serialize)


def test_baresip_stream():
    packets = baresip_packets()
    events = [p for _us, p in packets if p.payload_type == 101]
    assert len(events) == 24 and events[0].marker and events[12].marker
    rx = Rfc4733Receiver()
    digits = [rx.receive(p.timestamp, p.payload) for p in events]
    assert [d for d in digits if d] == ["5", "#"]
    assert digits[0] == "5" and digits[12] == "#"  # reported at the first packet of each


def test_rfc4733_streams():
    # (name, packets as (timestamp, payload), digits expected)
    normal = [ev(1000, 5, False, d) for d in (160, 320, 480)] + [ev(1000, 5, True, 640)] * 3
    table = [
        ("normal", normal, "5"),
        ("start lost", normal[2:], "5"),
        ("only the end packets", normal[3:], "5"),
        ("all retransmitted", normal + normal, "5"),
        ("ends lost, next event", normal[:3] + [ev(2000, 6)], "56"),
        ("same key twice", normal + [ev(5000, 5), ev(5000, 5, True, 800)], "55"),
        ("same key twice, first end lost", normal[:3] + [ev(2000, 5)], "55"),
        ("stray packet of an older event", normal + [ev(3000, 6), ev(1000, 5, True, 640)], "56"),
        (
            "long event in segments",
            [ev(0, 1, False, 0xFFFF), ev(0xFFFF, 1, False, 160), ev(0xFFFF, 1, True, 8000)],
            "1",
        ),
        ("timestamp wrap", [ev(0xFFFFFF00, 7), ev(0x100, 8), ev(0xFFFFFF00, 7, True)], "78"),
        ("not a digit (flash)", [ev(1000, 16), ev(1000, 16, True)], ""),
        ("far older timeline is new", normal + [ev(1000 - 8000 * 60, 9)], "59"),
    ]
    for name, packets, digits in table:
        rx = Rfc4733Receiver()
        got = [rx.receive(ts, payload) for ts, payload in packets]
        assert "".join(d for d in got if d) == digits, name


def test_rfc4733_sender_schedule():
    tx = dtmf.Rfc4733Sender(duration_ms=100, gap_ms=60)
    tx.queue("5#")
    assert tx.busy
    ts = 8000
    ticks = []
    busy = []
    for _ in range(30):
        ticks.append(tx.tick(ts, 160))
        busy.append(tx.busy)
        ts += 160
    # busy through both digits and the gap between them, idle from the last end packet on
    assert busy == [True] * 16 + [False] * 14
    # '5': five packets of growing duration (the fifth ends it), the end sent three times in all
    first = [TelephoneEvent.parse(t[0][0]) for t in ticks[:7]]
    assert [e.duration for e in first] == [160, 320, 480, 640, 800, 800, 800]
    assert [e.end for e in first] == [False] * 4 + [True] * 3
    assert {e.event for e in first} == {5}
    assert [t[0][1] for t in ticks[:7]] == [True] + [False] * 6  # marker on the first only
    assert {t[0][2] for t in ticks[:7]} == {8000}  # the event's start timestamp throughout
    assert ticks[7:10] == [None, None, None]  # 60 ms of audio between the digits
    second = [TelephoneEvent.parse(t[0][0]) for t in ticks[10:17]]
    assert (
        {e.event for e in second} == {11} and ticks[10][0][1] and ticks[10][0][2] == 8000 + 160 * 10
    )
    assert ticks[17:] == [None] * 13 and not tx.busy
    raises(ValueError, tx.queue, "5x")
    assert not tx.busy  # nothing of a bad string was queued


def test_sender_and_receiver_agree_over_many_digits():
    tx = dtmf.Rfc4733Sender(duration_ms=60, gap_ms=40)
    rx = Rfc4733Receiver()
    tx.queue(dtmf.DIGITS)
    got = []
    ts = 0xFFFF0000  # crosses the timestamp wrap on the way
    for _ in range(200):
        for payload, _marker, timestamp in tx.tick(ts, 160) or []:
            digit = rx.receive(timestamp, payload)
            if digit:
                got.append(digit)
        ts = (ts + 160) & 0xFFFFFFFF
    assert "".join(got) == dtmf.DIGITS


def test_sip_info_bodies():
    table = [
        ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n", ("5", 160)),
        ("application/dtmf-relay", b"Signal= *\r\nDuration= 250", ("*", 250)),
        ("Application/DTMF-Relay; charset=utf-8", b"signal=#", ("#", None)),
        ("application/dtmf-relay", b"Signal=11\nDuration=100\n", ("#", 100)),
        ("application/dtmf-relay", "Signal=a\r\n", ("A", None)),
        ("application/dtmf", b"7", ("7", None)),
        ("application/dtmf", b" d\r\n", ("D", None)),
        ("application/dtmf", b"Signal=0\r\nDuration=80", ("0", 80)),
    ]
    for content_type, body, want in table:
        assert dtmf.parse_info(content_type, body) == want, body
    errors = [
        ("text/plain", b"Signal=5", "unsupported content type"),
        ("application/dtmf-relay", b"Duration=160", "no signal"),
        ("application/dtmf-relay", b"Signal=55", "bad signal"),
        ("application/dtmf-relay", b"Signal=16", "bad signal"),
        ("application/dtmf-relay", b"Signal=5\r\nDuration=-3", "bad duration"),
        ("application/dtmf-relay", b"Signal=\xff", "body is not text"),
        ("application/dtmf", b"", "bad signal"),
    ]
    for content_type, body, reason in errors:
        assert raises(DtmfError, dtmf.parse_info, content_type, body).reason == reason, body


def tone_train(digits, on_ms=40, off_ms=40, level_dbm0=-20, lead_samples=0):
    """Each digit's two tones at level_dbm0 for on_ms, then off_ms of silence."""
    out = [bytes(2 * lead_samples)]
    for digit in digits:
        low, high = dtmf._keypad_tones(digit)
        out.append(tones.render([(low, level_dbm0), (high, level_dbm0)], 0, on_ms * 8))
        out.append(bytes(off_ms * 16))
    return b"".join(out)


def detect(pcm, codec="PCMU", detector=None):
    """Digits the detector finds in pcm after a trip through G.711, fed in 20 ms frames."""
    pcm = g711.decode(codec, g711.encode(codec, pcm))
    detector = detector or DtmfDetector()
    found = []
    for i in range(0, len(pcm), 320):
        found.extend(detector.feed(pcm[i : i + 320]))
    return "".join(found)


def test_inband_detects_every_digit_at_minus_20_dbm0_in_40_ms():
    for codec, lead in (("PCMU", 0), ("PCMA", 37), ("PCMU", 80), ("PCMA", 123)):
        assert detect(tone_train(dtmf.DIGITS, lead_samples=lead), codec) == dtmf.DIGITS, (
            codec,
            lead,
        )


def test_inband_level_twist_and_frequency_limits():
    assert detect(tone_train("159#", level_dbm0=-28)) == "159#"
    assert detect(tone_train("159#", level_dbm0=-40)) == ""
    assert detect(tone_train("1", on_ms=200)) == "1"  # a long press is one digit
    assert detect(tone_train("11", on_ms=60, off_ms=60)) == "11"  # two presses

    def pair(digit, low_db, high_db, shift=1.0):
        low, high = dtmf._keypad_tones(digit)
        return tones.render([(low * shift, low_db), (high * shift, high_db)], 0, 400) + bytes(800)

    assert detect(pair("8", -15, -22)) == "8"  # 7 dB normal twist
    assert detect(pair("8", -22, -19)) == "8"  # 3 dB reverse twist
    assert detect(pair("8", -15, -30)) == ""  # 15 dB: not DTMF
    assert detect(pair("8", -30, -20)) == ""
    assert detect(pair("6", -20, -20, 1.01)) == "6"  # 1 % off frequency
    assert detect(pair("6", -20, -20, 1.05)) == ""  # 5 % off: not DTMF
    low_only = tones.render([(770, -10)], 0, 800)
    assert detect(low_only) == ""


def test_inband_rejects_speech():
    for name in SPEECH:
        pcm = wav.read_pcm8k(read_data("media/%s.wav" % name))
        assert detect(pcm) == "", name
        assert detect(pcm, "PCMA") == "", name


def test_inband_sender_is_heard_by_the_detector():
    tx = dtmf.InbandSender(duration_ms=80, gap_ms=60)
    tx.queue("0123456789*#ABCD")
    frames = []
    while tx.busy:
        frames.append(tx.tick(bytes(320)))
    assert len(frames) == 16 * 7  # 140 ms per digit
    assert detect(b"".join(frames) + bytes(640), "PCMA") == dtmf.DIGITS
    assert tx.tick(b"\x01\x00" * 160) == b"\x01\x00" * 160  # idle: the audio passes
    raises(ValueError, tx.queue, "E")


def test_merger_keeps_one_stream():
    m = dtmf.DtmfMerger(window_ms=1000)
    # (digit, source, now_ms, new?)
    table = [
        ("5", "rfc4733", 0, True),
        ("5", "inband", 120, False),  # the same press, heard in the audio
        ("5", "info", 300, False),  # ... and in an INFO
        ("5", "rfc4733", 600, True),  # the key pressed again
        ("5", "inband", 700, False),
        ("6", "inband", 900, True),  # a press only heard in-band
        ("6", "rfc4733", 2500, True),  # too late to be the same press
        ("7", "rfc4733", 3000, True),
        ("8", "inband", 3100, True),  # a different digit is never merged
    ]
    for digit, source, now, new in table:
        assert m.accept(digit, source, now) == new, (digit, source, now)
